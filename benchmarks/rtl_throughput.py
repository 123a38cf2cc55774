"""RTL throughput: synaptic operations per cycle per lane in steady state, from the RTL
simulation's own cycle counters, and SOP/s with nextpnr's Fmax of the same core.

For lanes in (1, 2, 4, 8): a 64 -> 32 ST-BIF layer (the shape of the synthesized reference core) (+ 10 readouts) fed by a rate-coded input
(input i spikes in q_i of the steps, so the load differs from step to step), run in RTL simulation (Icarus; SIM=verilator to switch). The hidden
core's counters give SOPs and accumulate cycles; SOPs / (acc cycles x lanes) is the per-lane
efficiency (1.0 = one SOP per cycle per lane) including the few fixed cycles of each step
(pipeline fill and drain, the bias row); "steady" is the slope of SOPs over accumulate cycles
across steps of different load, i.e. the rate once events stream. Fmax: iCE40 UP5K place and route of the reference core
(`hwsnn.rtl.default_core`, 1/2/4 lanes), read from build/synth/table.json when present
(written by `python benchmarks/rtl_throughput.py --synth`).

    python benchmarks/rtl_throughput.py [--steps 20] [--synth]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from hwsnn import backends, ir, sim
from hwsnn.mappings.rtl import run

torch.set_num_threads(1)
TABLE = Path("build/synth/table.json")


def busy_net(seed=0, n_in=64, n=32, steps=20):
    rng = np.random.default_rng(seed)
    nodes = {"in": ir.Source((n_in,), R=steps, x_bits=8),
             "fc": ir.Dense(rng.integers(-8, 9, (n, n_in))),
             "h": ir.STBIF((n,), theta=16, v0=8, s_min=0, s_max=15, v_bits=20),
             "fo": ir.Dense(rng.integers(-4, 5, (10, n))), "out": ir.Readout((10,))}
    edges = [ir.Edge("in", "fc"), ir.Edge("fc", "h"), ir.Edge("h", "fo"), ir.Edge("fo", "out")]
    return ir.Graph(nodes, edges, name="busy")


def fmax_table(synth):
    if synth:
        from hwsnn.rtl import default_core
        from hwsnn.rtl._synth import synth_core
        rows = [synth_core(default_core(lanes), "ice40-up5k").to_dict() for lanes in (1, 2, 4)]
        TABLE.parent.mkdir(parents=True, exist_ok=True)
        TABLE.write_text(json.dumps(rows, indent=1))
    if not TABLE.exists():
        return {}
    out = {}
    for r in json.loads(TABLE.read_text()):
        if r.get("target") == "ice40-up5k" and r.get("fmax_mhz"):
            out[int(r["design"].split("(")[1].split()[0])] = r["fmax_mhz"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--synth", action="store_true", help="run yosys + nextpnr for the Fmax column")
    args = ap.parse_args(argv)
    graph = busy_net(steps=args.steps)
    # rate code over the window: input i spikes q_i of the steps, so the load varies per step
    x = np.random.default_rng(1).integers(args.steps // 4, args.steps + 1, (2, 64))
    fmax = fmax_table(args.synth)
    print(f"{'lanes':>5} {'SOPs':>8} {'acc cycles':>10} {'SOP/cycle':>9} {'SOP/cycle/lane':>14} "
          f"{'steady/lane':>11} {'cycles/step':>11} {'Fmax MHz':>8} {'MSOP/s':>8}  exact")
    base = None
    for lanes in (1, 2, 4, 8):
        trace = run(graph, x, args.steps, lanes=lanes)
        exact = backends.compare(sim.run(trace.graph, x, args.steps), trace, "rtl").mismatches == 0
        core = trace.rtl["cores"][0]
        per_cycle = core["sops"] / core["acc_cycles"]
        # steady state: slope of SOPs over accumulate cycles across steps with different loads
        # (the intercept is the fixed per-step cost: bias row, pipeline fill and drain)
        sops = np.asarray(core["sops_per_step"]).ravel()
        acc = np.asarray(core["acc_cycles_per_step"]).ravel()
        busy = sops > 0
        steady = np.polyfit(acc[busy], sops[busy], 1)[0] / lanes if busy.sum() > 2 else float("nan")
        base = base or per_cycle
        f = fmax.get(lanes)
        msops = f"{per_cycle * f:8.1f}" if f else f"{'-':>8}"
        print(f"{lanes:>5} {core['sops']:>8} {core['acc_cycles']:>10} {per_cycle:>9.2f} "
              f"{per_cycle / lanes:>14.3f} {steady:>11.3f} {trace.rtl['cycles_per_step']:>11.1f} "
              f"{f if f else '-':>8} {msops}  {exact}   ({per_cycle / base:.2f}x lanes=1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
