"""RTL lowering time against the convert + compile time of the same model (issue 20's bar:
lowering no slower than compiling), for torchvision's classic CNNs.

Each model runs in a fresh subprocess, as `benchmarks/zoo.py` builds it: 3x32x32, weights=None,
num_classes=10 (googlenet: aux_logits=False, init_weights=True), calibrated on 8 random inputs
0..255 at scale 1/255, `convert(levels=8)` + `compile_qann(w_bits=8)` timed together (the peer),
then the first `hwsnn.mappings.rtl.lower(graph, lanes=16)` of the process timed (lazy imports
inside it included; module imports are not, for either side). Then, not part of `lower`, the
time to build every weight-memory image (`CoreConfig.weight_image` of every lane: what emission
and the simulator build read) and the words they hold. Times are wall seconds, and CPU seconds
(process time: the CPU ratio moves less with the machine's load); the load average is printed,
since the machine may be shared. `--peer REV`: the same child with the hwsnn of
an older commit (its hwsnn/, rtl/, mappings/, sim/ extracted by `git archive`, read-only on the
repository), convert + compile + lower all of that commit, right after this tree's run of the
same model: the old lowering side by side, on the same machine at the same time.

    .venv/bin/python benchmarks/lower_speed.py [--models resnet18,vgg11_bn] [--json out.json]
                                               [--peer 8f05eaf]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ["resnet18", "resnet50", "vgg11_bn", "vgg16_bn", "mobilenet_v2", "densenet121",
          "googlenet", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_x_400mf"]


def child(name):
    import numpy as np
    import torch

    from hwsnn._torchvision import import_torchvision
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert
    from hwsnn.mappings import rtl

    tv = import_torchvision()
    torch.manual_seed(0)
    kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(tv.models, name)(weights=None, num_classes=10, **kw).eval()
    calib = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32))).float() / 255
    t, c = time.perf_counter(), time.process_time()
    qann = convert(model, (3, 32, 32), levels=8, calib=calib)
    graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)
    compile_s, compile_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    net = rtl.lower(graph, lanes=16)
    lower_s, lower_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    words = sum(len(c.weight_image(lane)) for c in net.cores if hasattr(c, "weight_image")
                for lane in range(c.lanes))
    images_s = time.perf_counter() - t
    return {"model": name, "compile_s": compile_s, "lower_s": lower_s, "images_s": images_s,
            "compile_cpu": compile_cpu, "lower_cpu": lower_cpu,
            "cores": len(net.cores), "weight_words": words}


def peer_tree(rev):
    """hwsnn as of `rev` in a temporary folder laid out as the installed package (hwsnn/rtl,
    hwsnn/mappings, hwsnn/sim; before 2026-12-06 those lay at the repository root), for PYTHONPATH."""
    root, tmp = Path(__file__).resolve().parent.parent, Path(tempfile.mkdtemp(prefix="hwsnn-peer-"))
    names = subprocess.run(["git", "-C", str(root), "ls-tree", "--name-only", rev], capture_output=True,
                           text=True, check=True).stdout.split()
    old = [sub for sub in ("rtl", "mappings", "sim") if sub in names]  # the old root-level layout
    tar = subprocess.run(["git", "-C", str(root), "archive", rev, "hwsnn", *old],
                         capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=tar.stdout, check=True)
    for sub in old:
        (tmp / sub).rename(tmp / "hwsnn" / sub)
    return str(tmp)


def run_child(name, timeout, peer=None):
    env = dict(os.environ)
    if peer:
        env["PYTHONPATH"] = peer + os.pathsep + env.get("PYTHONPATH", "")
    try:
        out = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True,
                             text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"model": name, "error": f"timeout after {timeout} s"}
    if out.returncode:
        return {"model": name, "error": (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows, peers, rev):
    head = ("| model | convert+compile s | lower s | lower / compile | CPU s: compile, lower (ratio) | "
            "weight images s | cores | weight words |"
            + (f" {rev}: compile s | {rev}: lower s | {rev}: lower / compile | lower speed-up |" if peers else ""))
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | error: {r['error']} |")
            continue
        line = (f"| {r['model']} | {r['compile_s']:.2f} | {r['lower_s']:.2f} | "
                f"**{r['lower_s'] / r['compile_s']:.2f}** | {r['compile_cpu']:.2f}, {r['lower_cpu']:.2f} "
                f"({r['lower_cpu'] / r['compile_cpu']:.2f}) | {r['images_s']:.2f} | {r['cores']} | "
                f"{r['weight_words'] / 1e6:.1f} M |")
        p = peers.get(r["model"]) if peers else None
        if p and "error" in p:
            line += f" error: {p['error']} | | | |"
        elif p:
            line += (f" {p['compile_s']:.2f} | {p['lower_s']:.2f} | {p['lower_s'] / p['compile_s']:.2f} | "
                     f"{p['lower_s'] / r['lower_s']:.1f}x |")
        lines.append(line)
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--json", help="also write the rows to this JSON file")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds per model")
    ap.add_argument("--peer", metavar="REV", help="also run each model with hwsnn as of this git revision")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child)))
        return
    rows, peers, tree = [], {}, peer_tree(a.peer) if a.peer else None
    for name in a.models.split(","):
        rows.append(run_child(name, a.timeout))
        print(f"{name}: {rows[-1]}", file=sys.stderr, flush=True)
        if tree:
            peers[name] = run_child(name, a.timeout, peer=tree)
            print(f"{name} ({a.peer}): {peers[name]}", file=sys.stderr, flush=True)
    print(f"load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print(table(rows, peers, a.peer))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump({"rows": rows, "peer": a.peer, "peer_rows": peers}, fh, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
