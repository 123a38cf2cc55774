"""Golden simulator speed, side by side with plain float PyTorch on the same network and batch.

Per-step semantics vs. a float `nn.Module` forward (conv/linear + ReLU) repeated T times;
count semantics in images per second. Prints a table and the ratios.

    .venv/bin/python benchmarks/sim_speed.py [--batch 360] [--steps 32] [--threads 2]
"""

import argparse
import time

import numpy as np
import torch
from torch import nn

from hwsnn import ir, sim


def digits_like(rng):
    """An IR with the shapes of the bundled digits CNN, random integer weights."""
    def w(*shape):
        return rng.integers(-20, 21, shape)
    nodes = {
        "in": ir.Source((1, 8, 8), x_bits=6),
        "c1": ir.Conv2d(w(16, 1, 3, 3), padding=1), "n1": ir.STBIF((16, 8, 8), theta=64, v0=32, s_max=8, v_bits=20),
        "p1": ir.SumPool2d(2, 2),
        "c2": ir.Conv2d(w(32, 16, 3, 3), padding=1), "n2": ir.STBIF((32, 4, 4), theta=256, v0=128, s_max=8, v_bits=20),
        "p2": ir.SumPool2d(2, 2), "f": ir.Flatten(),
        "d1": ir.Dense(w(64, 128)), "n3": ir.STBIF((64,), theta=256, v0=128, s_max=8, v_bits=20),
        "d2": ir.Dense(w(10, 64)), "out": ir.Readout((10,)),
    }
    chain = ["in", "c1", "n1", "p1", "c2", "n2", "p2", "f", "d1", "n3", "d2", "out"]
    return ir.Graph(nodes, [ir.Edge(a, b) for a, b in zip(chain, chain[1:])], name="digits-like")


def torch_twin(graph):
    n = graph.nodes
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)
    m = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                      nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
                      nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    with torch.no_grad():
        m[0].weight.copy_(f(n["c1"].W)); m[3].weight.copy_(f(n["c2"].W))
        m[7].weight.copy_(f(n["d1"].W)); m[9].weight.copy_(f(n["d2"].W))
    return m.eval()


def best_of(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=360)
    ap.add_argument("--steps", type=int, default=32,
                    help="time steps; the network settles after about 9, and the golden "
                         "simulator skips the synapses of layers that did not spike")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    graph = digits_like(rng)
    x = rng.integers(0, 17, (args.batch, 1, 8, 8))
    net = sim.Network(graph)
    model = torch_twin(graph)
    xf = torch.as_tensor(x, dtype=torch.float32)

    def float_T():
        with torch.no_grad():
            for _ in range(args.steps):
                model(xf)

    t_float = best_of(float_T)
    t_step = best_of(lambda: sim.run(net, x, args.steps, record=False))
    t_step_rec = best_of(lambda: sim.run(net, x, args.steps, record=True), repeat=1)
    t_count = best_of(lambda: sim.count(net, x))
    t_fwd = best_of(lambda: float_T.__wrapped__() if False else model(xf))
    print(f"network: digits-like CNN, batch {args.batch}, T = {args.steps}, torch threads {args.threads}")
    print(f"{'what':44s} {'seconds':>9s} {'ratio':>8s}")
    print(f"{'float PyTorch forward x T':44s} {t_float:9.4f} {1.0:8.2f}")
    print(f"{'golden per-step, record=False':44s} {t_step:9.4f} {t_step / t_float:8.2f}")
    print(f"{'golden per-step, record=True (V, S, y)':44s} {t_step_rec:9.4f} {t_step_rec / t_float:8.2f}")
    print(f"{'golden count semantics (one pass)':44s} {t_count:9.4f} {t_count / t_fwd:8.2f} (vs one float forward)")
    print(f"count semantics: {args.batch / t_count:,.0f} images/s; per-step: "
          f"{args.batch / t_step:,.0f} images/s at T = {args.steps}")


if __name__ == "__main__":
    main()
