"""Lava run time: one Lava process per IR node vs. the grouped mapping, side by side.

torchvision models built as benchmarks/zoo.py builds them (3x32x32, weights=None,
num_classes=10, calibrated on 8 random inputs, w_bits=8), 1 input, the steps
`hwsnn.energy.plan_steps` finds for Lava's delays (or --steps). Each Lava run is compared with
one golden run at every step (V, S, y of every node); a mismatch stops the benchmark.

    .venv/bin/python benchmarks/lava_grouped.py --models googlenet,shufflenet_v2_x0_5
    .venv/bin/python benchmarks/lava_grouped.py --models densenet121 --groups 2,4,8 --steps 24
"""

import argparse
import time

import numpy as np


def build(name):
    import torch

    from hwsnn._torchvision import import_torchvision
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert

    tv = import_torchvision()
    torch.manual_seed(0)
    kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
    model = getattr(tv.models, name)(weights=None, num_classes=10, **kw).eval()
    calib = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
    qann = convert(model, (3, 32, 32), levels=8, calib=calib)
    return compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,googlenet,shufflenet_v2_x0_5")
    ap.add_argument("--groups", default="4,0", help="process counts to run; 0 = one per IR node")
    ap.add_argument("--steps", type=int, help="default: plan_steps on Lava's delays")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from hwsnn import backends, sim
    from hwsnn.energy import plan_steps
    from hwsnn.mappings import lava

    print("| model | IR nodes | steps | values | golden s | " +
          " | ".join(f"Lava s ({g or 'per node'})" for g in args.groups.split(",")) + " |")
    print("|---|---|---|---|---|" + "---|" * len(args.groups.split(",")))
    for name in args.models.split(","):
        graph = build(name)
        x = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32))
        g1 = backends.stated_graph("lava", graph)
        steps = args.steps or plan_steps(g1, x).steps
        t = time.perf_counter()
        golden = sim.run(g1, x, steps)
        cells = [f"{time.perf_counter() - t:.1f}"]
        for groups in (int(g) for g in args.groups.split(",")):
            t = time.perf_counter()
            trace = lava.run(graph, x, steps, groups=groups)
            cells.append(f"{time.perf_counter() - t:.1f}")
            c = backends.compare(golden, trace, "lava")
            if c.mismatches or not c.compared_values:
                raise SystemExit(f"{name}, groups={groups}: {c.mismatches} mismatches, first {c.first}")
        print(f"| {name} | {len(graph.nodes)} | {steps} | {c.compared_values:,} | "
              + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
