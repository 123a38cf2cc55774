"""Seconds per image: golden simulator vs. the Lava back end, side by side.

The bundled digits network (hwsnn.examples.load_digits_ir) at its equilibrium step count, or a
random conv ST-BIF net if that is not available. Lava runs a whole batch in one Lava run
(batch axis inside the process models); one image per run is shown too, since that is what a
per-sample mapping would cost. Every Lava run is checked bit-exact against golden.

    .venv/bin/python benchmarks/lava_vs_golden.py [--images 100] [--repeat 3]
"""

import argparse
import time

import numpy as np
import torch


def _network(images):
    try:
        from hwsnn.examples import load_digits_ir
    except ImportError:
        import os
        import sys
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "mappings", "lava"))
        from lava_nets import make
        graph, _, steps = make("STBIF-conv", seed=0)
        x = np.random.default_rng(0).integers(-30, 60, (images, *graph.nodes["in"].shape))
        return "random conv ST-BIF net", graph, x, steps
    graph, x, _, steps = load_digits_ir(n_test=images)
    return "digits CNN", graph, x, steps


def _best(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    from hwsnn import backends, sim
    from hwsnn.mappings import lava

    name, graph, x, steps = _network(args.images)
    n = len(x)
    g1 = graph.with_delays(1)  # the delays Lava runs
    net = sim.Network(g1)
    t_gold, gold = _best(lambda: sim.run(net, x, steps), args.repeat)
    t_lava, tr = _best(lambda: lava.run(graph, x, steps), args.repeat)
    t_one, tr1 = _best(lambda: lava.run(graph, x[:1], steps), args.repeat)
    c = backends.compare(gold, tr, "lava")
    c1 = backends.compare(sim.run(net, x[:1], steps), tr1, "lava")
    if c.mismatches or c1.mismatches:
        raise SystemExit(f"lava differs from golden: {c.first or c1.first}")
    print(f"{name}: {n} images x {steps} steps (delays 1), {c.compared_values} values compared, "
          f"0 mismatches; best of {args.repeat}")
    print(f"golden (batch of {n}, per-step V/S/y recorded): {t_gold / n * 1e3:9.3f} ms/image")
    print(f"lava   (batch of {n} in one run):             {t_lava / n * 1e3:9.3f} ms/image  "
          f"ratio lava/golden {t_lava / t_gold:7.1f}x")
    print(f"lava   (one image per run):                  {t_one * 1e3:9.3f} ms/image  "
          f"ratio lava/golden {t_one * n / t_gold:7.1f}x")


if __name__ == "__main__":
    main()
