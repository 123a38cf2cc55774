"""Random CUBA-LIF networks on Lava's OWN LIF/Dense/Conv (Loihi-native) vs. the golden run:
values compared, mismatches, and seconds per run side by side (golden vs. Lava, ratio).

The networks of tests/mappings/lava/test_lava_native.py: per case 12 random networks (depths
1-4, 3 seeds each) on one shared random Source, `--steps` steps, `--batch` samples.

    .venv/bin/python benchmarks/lava_native_cuba.py [--steps 16] [--batch 2] [--sources 2]
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))


def _case(family, big, source, steps, batch):
    from cubanets import random_cuba_graph, random_cuba_inputs, random_source, union

    src = random_source(np.random.default_rng([source, int(big), len(family)]), family)
    graphs = [random_cuba_graph([s, d, int(big), len(family)], family, d, big=big, source=src)
              for d in (1, 2, 3, 4) for s in range(3)]
    g = union(graphs)
    return g, random_cuba_inputs(graphs[0], batch, source)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--sources", type=int, default=2, help="random Sources per case")
    a = ap.parse_args()
    from hwsnn import backends, sim
    from hwsnn.mappings import lava

    print(f"{'case':<12} {'src':>3} {'neurons':>7} {'values':>9} {'mism.':>5} "
          f"{'golden s':>8} {'lava s':>7} {'lava/golden':>11}")
    total = bad = 0
    for family in ("dense", "conv"):
        for big in (False, True):
            for source in range(a.sources):
                g, x = _case(family, big, source, a.steps, a.batch)
                t0 = time.perf_counter()
                gold = sim.run(g.with_delays(1), x, a.steps)
                tg = time.perf_counter() - t0
                t0 = time.perf_counter()
                tr = lava.run(g, x, a.steps)
                tl = time.perf_counter() - t0
                c = backends.compare(gold, tr, "lava")
                neurons = sum(int(np.prod(g.nodes[n].shape)) for n in g.neurons)
                total, bad = total + c.compared_values, bad + c.mismatches
                name = f"{family}-{'wrap' if big else 'int24'}"
                print(f"{name:<12} {source:>3} {neurons:>7} {c.compared_values:>9} "
                      f"{c.mismatches:>5} {tg:>8.3f} {tl:>7.1f} {tl / tg:>11.0f}")
    print(f"total: {total} values (u, v, y of every neuron, step and sample), {bad} mismatches")


if __name__ == "__main__":
    main()
