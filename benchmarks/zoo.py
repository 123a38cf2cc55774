"""torchvision's classic CNNs through hwsnn, as a newcomer runs them.

Each model: 3x32x32, weights=None, num_classes=10 (googlenet: aux_logits=False,
init_weights=True), calibrated on 8 random inputs 0..255 at scale 1/255, compiled at w_bits=8.
Columns: convert+compile time, peak RSS of that process (imports included), IR node count,
whether the golden per-step run equals the count semantics on 8 random inputs (every S and the
logits), Lava (1 input) mismatches against golden at every step, RTL lowering time and its
ratio to the compile time (the issue's bar: at most 1), RTL on Verilator (1 input) mismatches
and simulated cycles. Every model runs in its own process (its own peak RSS; a crash or a
timeout is one cell); a stage that fails or runs past --stage-timeout is a short error cell and
the next stage still runs.

    .venv/bin/python benchmarks/zoo.py                       # all eleven, markdown table
    .venv/bin/python benchmarks/zoo.py --models resnet18 --json zoo.json --skip-rtl
    .venv/bin/python benchmarks/zoo.py --merge lava.json rtl.json   # one table from several runs
"""

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time

MODELS = ["resnet18", "resnet50", "vgg11_bn", "vgg16_bn", "mobilenet_v2", "densenet121",
          "googlenet", "squeezenet1_1", "shufflenet_v2_x0_5", "mnasnet0_5", "regnet_x_400mf"]
COLUMNS = [("model", "model"), ("compile_s", "convert+compile s"), ("rss_mb", "peak RSS MB"),
           ("nodes", "IR nodes"), ("count_eq_run", "per-step == count (8)"),
           ("lava", "Lava mismatches (1)"), ("lower_s", "RTL lower s"),
           ("lower_ratio", "lower / compile"), ("rtl", "RTL mismatches (1, Verilator)"),
           ("cycles", "RTL cycles")]


def _short(exc):
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:90]}"


class StageTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise StageTimeout(f"stopped after {STAGE_LIMIT[0]} s")


STAGE_LIMIT = [0]


def _stage(row, key, fn, limit=True):
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(STAGE_LIMIT[0] if limit else 0)
    try:
        fn()
    except Exception as exc:  # a stage that fails is a cell, never the end of the run
        row[key] = _short(exc)
    finally:
        signal.alarm(0)


def one(name, skip_lava=False, skip_rtl=False, lava_max_nodes=None, skip_rtl_run=False, skip_count=False):
    """The row of one model (run in a child process)."""
    import numpy as np
    import torch

    from hwsnn import backends, sim
    from hwsnn._torchvision import import_torchvision
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert
    from hwsnn.energy import plan_steps

    torch.set_num_threads(1)
    row = {"model": name}
    tv = import_torchvision()
    torch.manual_seed(0)
    kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(tv.models, name)(weights=None, num_classes=10, **kw).eval()
    calib = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
    t = time.perf_counter()
    try:
        qann = convert(model, (3, 32, 32), levels=8, calib=calib)
        graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)
    except Exception as exc:
        row["compile_s"] = _short(exc)
        return row
    row["compile_s"] = round(time.perf_counter() - t, 2)
    row["rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    row["nodes"] = len(graph.nodes)
    del model
    rng = np.random.default_rng(0)

    def count_vs_run():
        x = rng.integers(0, 256, (8, 3, 32, 32))
        want = sim.count(graph, x)
        steps = plan_steps(graph, x).steps
        trace = sim.run(graph, x, steps)
        same = bool(trace.settled.all()) and np.array_equal(trace.output, want["output"]) and all(
            np.array_equal(trace.S[n][-1], want["S"][n]) for n in want["S"])
        row["count_eq_run"] = f"{'yes' if same else 'NO'} ({steps} steps)"
    if skip_count:
        row["count_eq_run"] = "skipped"
    else:
        _stage(row, "count_eq_run", count_vs_run, limit=False)  # the oracle's own check: no limit

    x1 = rng.integers(0, 256, (1, 3, 32, 32))
    steps1 = None

    def lava():
        nonlocal steps1
        if skip_lava:
            row["lava"] = "skipped"
            return
        if lava_max_nodes and len(graph.nodes) > lava_max_nodes:
            row["lava"] = f"not run: {len(graph.nodes)} processes > {lava_max_nodes}"
            return
        steps1 = plan_steps(backends.stated_graph("lava", graph), x1).steps
        t = time.perf_counter()
        c = backends.verify(graph, x1, steps1, backends=["lava"])["lava"]
        row["lava"] = f"{c.mismatches} of {c.compared_values:,}"
        row["lava_verify_s"] = round(time.perf_counter() - t, 1)  # golden + Lava, JSON only
    _stage(row, "lava", lava)

    if skip_rtl:
        row["lower_s"] = row["rtl"] = "skipped"
        return row
    from hwsnn.mappings import rtl
    net = None

    def lower():
        nonlocal net
        t = time.perf_counter()
        net = rtl.lower(graph, lanes=16)
        row["lower_s"] = round(time.perf_counter() - t, 2)
        row["lower_ratio"] = round(row["lower_s"] / row["compile_s"], 2)
    _stage(row, "lower_s", lower)

    def run_rtl():
        if skip_rtl_run:
            row["rtl"] = "skipped"
            return
        if net is None:
            row["rtl"] = "no lowering"
            return
        steps = steps1 or plan_steps(backends.stated_graph("rtl", graph), x1).steps
        golden = sim.run(net.graph, x1, steps)
        trace = rtl.run_lowered(net, x1, steps, sim="verilator")
        c = backends.compare(golden, trace, "rtl")
        row["rtl"] = f"{c.mismatches} of {c.compared_values:,}"
        row["cycles"] = int(trace.rtl["cycles"])
        row["rtl_steps"] = steps
        row["rtl_seconds"] = {k: round(float(trace.rtl[k]), 1) for k in  # emit: Amaranth+yosys, compile: Verilator
                              ("emit_seconds", "compile_seconds", "sim_seconds") if k in trace.rtl}
    _stage(row, "rtl", run_rtl)
    return row


def _cell(row, key):
    value = row.get(key, "")
    if key == "cycles" and isinstance(value, int):
        steps = row.get("rtl_steps")
        return f"{value:,}" + (f" ({steps} steps)" if steps else "")
    return str(value)


def table(rows):
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, k) for k, _ in COLUMNS) + " |")
    return "\n".join(lines)


def merge(paths, order):
    """Rows of several --json runs, one per model (in `order`): stages run in separate
    invocations (say --skip-rtl, then --skip-lava) fill each other's cells."""
    rows = {}
    for path in paths:
        with open(path) as fh:
            for r in json.load(fh):
                row = rows.setdefault(r["model"], {})
                row.update({k: v for k, v in r.items() if v != "skipped" or k not in row})
    return [rows[m] for m in order if m in rows] + [r for m, r in rows.items() if m not in order]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--json", help="also write the rows to this JSON file")
    p.add_argument("--skip-lava", action="store_true")
    p.add_argument("--skip-rtl", action="store_true")
    p.add_argument("--skip-rtl-run", action="store_true", help="lower to the RTL, do not simulate")
    p.add_argument("--skip-count", action="store_true",
                   help="skip the per-step == count check (an RTL-only rerun; --merge keeps an earlier run's cell)")
    p.add_argument("--lava-max-nodes", type=int, default=0,
                   help="skip Lava for graphs of more IR nodes (0: no cap; Lava runs a "
                        "graph on a few grouped processes)")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per model")
    p.add_argument("--stage-timeout", type=int, default=900,
                   help="seconds per Lava / RTL lowering / RTL run stage")
    p.add_argument("--merge", nargs="+", metavar="JSON",
                   help="print the table of rows from earlier --json runs (a later file's cell "
                        "replaces an earlier one unless it says 'skipped'), run nothing")
    p.add_argument("--one", help=argparse.SUPPRESS)
    a = p.parse_args()
    STAGE_LIMIT[0] = a.stage_timeout
    if a.merge:
        print(table(merge(a.merge, a.models.split(","))))
        return
    if a.one:  # child: one model, its row as JSON on the last line
        row = one(a.one, a.skip_lava, a.skip_rtl, a.lava_max_nodes, a.skip_rtl_run, a.skip_count)
        print(json.dumps(row))
        return
    rows = []
    for name in a.models.split(","):
        cmd = [sys.executable, __file__, "--one", name, "--lava-max-nodes", str(a.lava_max_nodes),
               "--stage-timeout", str(a.stage_timeout)]
        cmd += ["--skip-lava"] * a.skip_lava + ["--skip-rtl"] * a.skip_rtl + ["--skip-rtl-run"] * a.skip_rtl_run + ["--skip-count"] * a.skip_count
        t = time.perf_counter()
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
            last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
            row = json.loads(last) if last.startswith("{") else {
                "model": name, "compile_s": f"crashed (exit {out.returncode}): "
                                           f"{(out.stderr.strip().splitlines() or [''])[-1][:90]}"}
        except subprocess.TimeoutExpired:
            row = {"model": name, "compile_s": f"timeout after {a.timeout} s"}
        row["wall_s"] = round(time.perf_counter() - t, 1)
        rows.append(row)
        print(f"{name}: {row}", file=sys.stderr, flush=True)
    print(table(rows))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(rows, fh, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
