"""RTL simulation speed: the per-cycle cocotb bench against the fast path (generated testbench
wrapper, no Python per cycle), side by side on the same images, Icarus and Verilator.

    python benchmarks/rtl_speed.py [--images N] [--fast-images M] [--sims icarus,verilator]
                                   [--lanes 16] [--fast-lanes 1,4]

For each simulator: the per-cycle bench on N digits test images, the fast path on the same N
images and on M images; simulated cycles per second (simulation wall time only, the build
excluded and reported apart) and images per second, and the fast/per-cycle ratio. Then, on
Verilator only, the fast path on M images at each of `--fast-lanes`: fewer lanes make each
cycle cheaper to simulate but need more cycles per image, so cycles/s and images/s move
apart. Every run is checked against golden (0 mismatches, else the script exits 1). Set
HWSNN_BUILD to keep the builds elsewhere. No timing is asserted anywhere.
"""

import argparse
import sys
import time

from hwsnn import backends, sim
from hwsnn.examples import load_digits_ir
from hwsnn.mappings.rtl import run


def measure(graph, x, steps, simulator, fast, lanes):
    t0 = time.time()
    run(graph, x[:1], 2, sim=simulator, fast=fast, lanes=lanes)  # build (cached by the design hash)
    build_s = time.time() - t0
    t0 = time.time()
    trace = run(graph, x, steps, sim=simulator, fast=fast, lanes=lanes)
    wall = time.time() - t0
    cmp = backends.compare(sim.run(trace.graph, x, steps), trace, "rtl")
    sim_s = trace.rtl.get("sim_seconds", wall)
    return {"lanes": lanes, "build_s": build_s, "images": len(x), "cycles": trace.rtl["cycles"], "wall_s": wall, "sim_s": sim_s,
            "cycles_per_s": trace.rtl["cycles"] / sim_s, "images_per_s": len(x) / wall,
            "mismatches": cmp.mismatches, "compared": cmp.compared_values}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=2, help="images for the side-by-side runs")
    ap.add_argument("--fast-images", type=int, default=20, help="images for the fast path alone")
    ap.add_argument("--sims", default="icarus,verilator")
    ap.add_argument("--lanes", type=int, default=16, help="lanes per core of the side-by-side runs")
    ap.add_argument("--fast-lanes", default="1,4", help="more lane settings, fast path, Verilator")
    args = ap.parse_args(argv)
    graph, x, _, steps = load_digits_ir(max(args.images, args.fast_images))
    steps += 4
    rows, bad = [], False
    for simulator in args.sims.split(","):
        per_cycle = measure(graph, x[:args.images], steps, simulator, False, args.lanes)
        fast_same = measure(graph, x[:args.images], steps, simulator, True, args.lanes)
        fast_more = measure(graph, x[:args.fast_images], steps, simulator, True, args.lanes)
        runs = [("per-cycle", per_cycle), ("fast", fast_same), ("fast", fast_more)]
        if simulator == "verilator":
            runs += [("fast", measure(graph, x[:args.fast_images], steps, simulator, True, int(n)))
                     for n in args.fast_lanes.split(",") if n.strip()]
        for name, r in runs:
            rows.append((simulator, name, r))
            bad |= r["mismatches"] != 0
        print(f"{simulator}: fast / per-cycle = {fast_same['cycles_per_s'] / per_cycle['cycles_per_s']:.1f}x "
              f"cycles/s on the same {args.images} images", flush=True)
    print("| simulator | path | lanes | images | cycles | build s | sim s | cycles/s | images/s | mismatches |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for simulator, name, r in rows:
        print(f"| {simulator} | {name} | {r['lanes']} | {r['images']} | {r['cycles']} | {r['build_s']:.1f} | "
              f"{r['sim_s']:.1f} | {r['cycles_per_s']:.0f} | {r['images_per_s']:.3f} | {r['mismatches']} |")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
