"""Random IR graphs with MaxPool2d nodes (exact max pooling), shared by the simulator, Lava
and RTL tests."""

import numpy as np

from hwsnn import ir

__all__ = ["pool_params", "maxpool_graph", "inputs"]


def pool_params(rng, h, w):
    """Random (kernel, stride, padding, ceil_mode) that torch accepts on an h x w map."""
    while True:
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        if h + 2 * p[0] >= k[0] and w + 2 * p[1] >= k[1]:
            return k, s, p, bool(rng.integers(0, 2))


def maxpool_graph(seed, delays=(0, 1), analog=False, small=False, exact=False):
    """Source -> [Conv2d -> STBIF (or IF)] -> MaxPool2d [-> MaxPool2d] -> Flatten -> Dense ->
    STBIF -> Dense -> Readout, random sizes, pool windows and delays."""
    rng = np.random.default_rng(seed)
    C, H, W = int(rng.integers(1, 3)), int(rng.integers(2, 7)), int(rng.integers(2, 7))
    d = lambda: int(rng.choice(delays))  # noqa: E731
    nodes = {"in": ir.Source((C, H, W), "analog", R=int(rng.integers(1, 4)), x_bits=6)}
    edges = []
    src, shape = "in", (C, H, W)
    if not analog:
        co = int(rng.integers(1, 4))
        nodes["conv"] = ir.Conv2d(rng.integers(-3, 4, (co, C, 3, 3)), padding=1)
        theta = int(rng.integers(2, 9))
        kw = dict(theta=theta, v0=theta // 2, bias=int(rng.integers(-theta, theta + 1)),
                  v_bits=16)
        nodes["n1"] = (ir.STBIF((co, H, W), s_max=int(rng.integers(1, 8)), s_bits=8, **kw)
                       if exact or rng.integers(0, 4) else ir.IF((co, H, W), s_max=0, s_bits=16, **kw))
        edges += [ir.Edge("in", "conv", d()), ir.Edge("conv", "n1")]
        src, shape = "n1", (co, H, W)
    for k in range(int(rng.integers(1, 3))):
        kern, stride, pad, ceil = pool_params(rng, *shape[1:])
        out = ir.pool_out_shape(shape, kern, stride, pad, ceil)
        name = f"mp{k}"
        nodes[name] = ir.MaxPool2d(out, shape, kern, stride, pad, ceil,
                                   s_bits=int(rng.integers(4, 6)) if small else 16)
        edges.append(ir.Edge(src, name, d()))
        src, shape = name, out
        if min(shape[1:]) < 2:
            break
    n = int(np.prod(shape))
    m = int(rng.integers(1, 5))
    nodes |= {"flat": ir.Flatten(), "fc": ir.Dense(rng.integers(-3, 4, (m, n))),
              "n2": ir.STBIF((m,), theta=4, v0=2, s_max=6, s_bits=8, v_bits=16),
              "fc2": ir.Dense(rng.integers(-3, 4, (3, m))), "out": ir.Readout((3,))}
    edges += [ir.Edge(src, "flat", d()), ir.Edge("flat", "fc"), ir.Edge("fc", "n2"),
              ir.Edge("n2", "fc2", d()), ir.Edge("fc2", "out")]
    return ir.Graph(nodes, edges, "maxpool")


def inputs(graph, seed, batch=2):
    return np.random.default_rng([seed, 1]).integers(0, 17, (batch, *graph.nodes["in"].shape))
