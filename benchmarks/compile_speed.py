"""Convert + compile time and peak memory of torchvision models (random weights, weights=None).

Each model runs in a fresh subprocess: build the model (not timed), then `hwsnn.convert.convert`
(trace, fuse BN, Q-ReLUs, calibration on a batch of 2 random images; `share_weights=True`: layers
without BN keep the model's tensors) and every pass of
`hwsnn.compile.compile_qann`, each timed (wall and CPU). Peak memory is the child's ru_maxrss:
the whole process (Python, torch, torchvision, the float model, the QANN, the IR). The goal
(issue 10): VGG-16-BN and ResNet-50 at 3x224x224 under 10 s each, peak RSS under 3x the float
weights. Peer, side by side on the same IR in the same process: the range analysis before the
merge (benchmarks/_old_ranges.py, full-resolution conv2d per layer) against the new one.

    .venv/bin/python benchmarks/compile_speed.py [--models vgg16_bn-224,resnet50-224,...] [--json]
                                                 [--peer 22d3256]   # and the old path, side by side
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

MAIN = ["vgg16_bn-224", "resnet50-224"]
SMALL = ["resnet18-224", "resnet18-32", "vgg16-32"]
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg16_32():
    """The VGG-16-shaped 3x32x32 network the former benchmarks/compile_vgg16.py timed (13 conv + BN,
    5 max pools, 3 FC layers of 4096, 10 classes; 33.6 M parameters)."""
    from torch import nn
    layers, c = [], 3
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512, 4096), nn.ReLU(), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 10))


def _build(key):
    arch, size = key.rsplit("-", 1)
    if arch == "vgg16":
        return _vgg16_32(), (3, int(size), int(size))
    from hwsnn._torchvision import import_torchvision
    tv = import_torchvision()
    return getattr(tv.models, arch)(weights=None), (3, int(size), int(size))


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _timed(fn, *args):
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t, time.process_time() - c


def child(key, threads, calib):
    import torch

    import hwsnn.compile  # noqa: F401  (imports are part of the baseline, not of the timing)
    from hwsnn.compile import PASSES, Options, bounds
    from hwsnn.compile._state import Lowering
    from hwsnn.convert import convert

    sys.path.insert(0, str(Path(__file__).parent))
    import _old_ranges

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    rss_imports = _rss_mb()
    model, shape = _build(key)
    model.eval()
    weights_mb = sum(p.numel() * p.element_size() for p in model.parameters()) / 1e6
    rss_model = _rss_mb()
    x = torch.rand(calib, *shape)
    qann, wall, cpu = _timed(lambda: convert(model, shape, levels=8, calib=x, share_weights=True))
    passes = {"convert": (wall, cpu)}
    st = Lowering(qann, Options(input_scale=1 / 255, input_range=(0, 255), w_bits=8))
    for name, fn in PASSES:
        st, wall, cpu = _timed(fn, st)
        st.log.append(name)
        passes[name] = (wall, cpu)
    peak = _rss_mb()
    g = st.graph
    _, new_wall, new_cpu = _timed(bounds, g, (0, 255))
    old, old_wall, old_cpu = _timed(_old_ranges.bounds, g, (0, 255))
    new_v = {n: r["V"] for n, r in bounds(g, (0, 255))[1].items()}
    wider = sum(new_v[n][0] < lo or new_v[n][1] > hi for n, (lo, hi) in old[1].items())
    bits_more = max(0, max(_bits(*new_v[n]) - _bits(*old[1][n]) for n in old[1]))
    return {"model": key, "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
            "weights_mb": weights_mb, "ir_nodes": len(g.nodes), "passes": passes,
            "rss_imports_mb": rss_imports, "rss_model_mb": rss_model, "peak_rss_mb": peak,
            "ranges_new_s": new_wall, "ranges_old_s": old_wall, "ranges_new_cpu": new_cpu,
            "ranges_old_cpu": old_cpu, "ranges_wider_layers": wider, "v_bits_more_max": bits_more,
            "threads": threads, "calib": calib}


def child_peer(key, threads, calib):
    """The same convert + compile with the hwsnn of an older commit (PYTHONPATH, see --peer)."""
    import torch

    import hwsnn
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, shape = _build(key)
    model.eval()
    x = torch.rand(calib, *shape)
    qann, c_wall, _ = _timed(lambda: convert(model, shape, levels=8, calib=x))
    _, p_wall, _ = _timed(lambda: compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8))
    return {"model": key, "hwsnn": str(Path(hwsnn.__file__).parent), "convert_s": c_wall,
            "compile_s": p_wall, "peak_rss_mb": _rss_mb()}


def _bits(lo, hi):
    from hwsnn import ir
    return ir.bits_for(lo, hi)


def run_child(key, threads, calib, peer=None):
    import os
    env = dict(os.environ)
    if peer:
        env["PYTHONPATH"] = peer + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, "--child", key, "--threads", str(threads),
                          "--calib", str(calib)] + (["--peer-child"] if peer else []),
                         capture_output=True, text=True, env=env)
    if out.returncode:
        return {"model": key, "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows):
    lines = ["| model | params | fp32 weights | convert | compile passes | total (CPU) | peak RSS | "
             "limit 3x weights | RSS / limit | ranges new vs old |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error']} |")
            continue
        p = r["passes"]
        conv = p["convert"][0]
        comp = sum(v[0] for k, v in p.items() if k != "convert")
        cpu = sum(v[1] for v in p.values())
        top = sorted(((v[0], k) for k, v in p.items() if k != "convert"), reverse=True)[:3]
        detail = ", ".join(f"{k} {t:.2f}" for t, k in top)
        limit = 3 * r["weights_mb"]
        lines.append(
            f"| {r['model']} | {r['params_m']:.1f} M | {r['weights_mb']:.0f} MB | {conv:.2f} s | "
            f"{comp:.2f} s ({detail}) | **{conv + comp:.2f} s** ({cpu:.2f} s) | "
            f"{r['peak_rss_mb']:.0f} MB (model built: {r['rss_model_mb']:.0f}) | {limit:.0f} MB | "
            f"{r['peak_rss_mb'] / limit:.2f} | {r['ranges_new_s']:.2f} s vs {r['ranges_old_s']:.2f} s "
            f"(**{r['ranges_old_s'] / max(r['ranges_new_s'], 1e-9):.0f}x**) |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MAIN + SMALL))
    ap.add_argument("--threads", type=int, default=1, help="torch threads in each child")
    ap.add_argument("--calib", type=int, default=2, help="calibration batch size")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--peer", metavar="REV", help="also run convert + compile with hwsnn/ of this "
                    "git revision (e.g. 22d3256, before issue 10), side by side")
    ap.add_argument("--peer-models", default="vgg16_bn-224,vgg16-32",
                    help="models the peer runs (the old converter cannot do every model)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--peer-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        fn = child_peer if a.peer_child else child
        print(json.dumps(fn(a.child, a.threads, a.calib)))
        return
    rows, peers = [], []
    for key in a.models.split(","):
        rows.append(run_child(key, a.threads, a.calib))
        print(f"{key}: done", file=sys.stderr, flush=True)
    if a.peer:
        peers = _run_peer(a)
    if a.json:
        print(json.dumps({"rows": rows, "peer": peers}, indent=1))
        return
    print(f"convert + compile, torch threads {a.threads}, calibration batch {a.calib}, "
          f"times wall (CPU in brackets); load average {', '.join(f'{v:.1f}' for v in _load())}")
    print(table(rows))
    if peers:
        print(_peer_table(rows, peers, a.peer))
    for r in rows:
        if "error" not in r:
            print(f"{r['model']}: per pass " + ", ".join(f"{k} {w:.2f}/{c:.2f} s" for k, (w, c) in r["passes"].items())
                  + f"; RSS after imports {r['rss_imports_mb']:.0f} MB; IR nodes {r['ir_nodes']}; "
                  f"layers whose new bound is wider than the old {r['ranges_wider_layers']}, "
                  f"v_bits over the old bound's at most +{r['v_bits_more_max']}")


def _run_peer(a):
    """Extract hwsnn/ at revision a.peer (git archive, read-only on the repository) and run
    the peer models with it in fresh subprocesses."""
    import tempfile
    root = Path(__file__).resolve().parent.parent
    out, tmp = [], tempfile.mkdtemp(prefix="hwsnn-peer-")
    tar = subprocess.run(["git", "-C", str(root), "archive", a.peer, "hwsnn"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", tmp], input=tar.stdout, check=True)
    for key in a.peer_models.split(","):
        out.append(run_child(key, a.threads, a.calib, peer=tmp))
        print(f"{key} (peer {a.peer}): done", file=sys.stderr, flush=True)
    return out


def _peer_table(rows, peers, rev):
    new = {r["model"]: r for r in rows if "error" not in r}
    lines = [f"| model | hwsnn {rev}: convert + compile | peak RSS | this tree | peak RSS | "
             "speed-up | memory ratio |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for p in peers:
        if "error" in p or p["model"] not in new:
            lines.append(f"| {p['model']} | error: {p.get('error', 'not run here')} |")
            continue
        r = new[p["model"]]
        t_old = p["convert_s"] + p["compile_s"]
        t_new = sum(v[0] for v in r["passes"].values())
        lines.append(f"| {p['model']} | {t_old:.2f} s | {p['peak_rss_mb']:.0f} MB | {t_new:.2f} s | "
                     f"{r['peak_rss_mb']:.0f} MB | **{t_old / t_new:.1f}x** | "
                     f"{p['peak_rss_mb'] / r['peak_rss_mb']:.1f}x less |")
    return "\n".join(lines)


def _load():
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


if __name__ == "__main__":
    main()
