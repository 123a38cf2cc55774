"""Random small IR networks of every neuron kind, for the Lava back-end tests."""

import numpy as np

from hwsnn.ir import (IF, ILIF, STBIF, CaLIF, Conv2d, Dense, Edge, Flatten, Graph, Readout, Scale,
                      Source, SumPool2d)

__all__ = ["NETS", "make"]


def _w(rng, shape, lo=-4, hi=5):
    return rng.integers(lo, hi, shape)


def _neuron(kind, rng, shape, theta_lo=6, theta_hi=20):
    theta = rng.integers(theta_lo, theta_hi, (shape[0],) + (1,) * (len(shape) - 1))
    if kind == "STBIF":
        return STBIF(shape, theta=theta, v0=theta // 2, bias=rng.integers(-8, 9, shape), bias_R=3,
                     s_min=-2, s_max=5)
    if kind == "IF":
        return IF(shape, theta=theta, v0=theta // 2, bias=rng.integers(-8, 9, shape), bias_R=2,
                  s_max=4)
    if kind == "CaLIF":
        return CaLIF(shape, theta=theta, leak=rng.integers(-2, 3, shape), T=6, s_max=6)
    raise ValueError(kind)


def dense(kind, rng):
    """Source -> Dense -> neuron -> Dense -> neuron -> Dense -> Readout."""
    src = Source((7,), encoding="rate" if kind == "CaLIF" else "analog", R=3, T=6, x_bits=8)
    nodes = {"in": src, "fc1": Dense(_w(rng, (9, 7))), "n1": _neuron(kind, rng, (9,)),
             "fc2": Dense(_w(rng, (6, 9))), "n2": _neuron(kind, rng, (6,)),
             "fc3": Dense(_w(rng, (4, 6))), "out": Readout((4,))}
    chain = ["in", "fc1", "n1", "fc2", "n2", "fc3", "out"]
    return Graph(nodes, [Edge(a, b) for a, b in zip(chain, chain[1:])], f"dense-{kind}")


def conv(kind, rng):
    """Conv -> neuron -> SumPool -> neuron (residual Scale shortcut) -> Flatten -> Dense -> Readout."""
    src = Source((2, 6, 6), encoding="rate" if kind == "CaLIF" else "analog", R=2, T=6, x_bits=8)
    n2 = _neuron(kind, rng, (3, 3, 3))
    if kind == "CaLIF":  # pooling layer without the calcium gate
        n2 = CaLIF((3, 3, 3), theta=n2.theta, leak=0, T=6, s_max=0, gate=False)
    nodes = {"in": src, "c1": Conv2d(_w(rng, (3, 2, 3, 3)), padding=1),
             "n1": _neuron(kind, rng, (3, 6, 6)), "pool": SumPool2d(2, 2), "n2": n2,
             "c2": Conv2d(_w(rng, (3, 1, 3, 3)), padding=1, groups=3), "n3": _neuron(kind, rng, (3, 3, 3)),
             "skip": Scale(np.array([1, 2, -1]).reshape(3, 1, 1)), "flat": Flatten(),
             "fc": Dense(_w(rng, (4, 27))), "out": Readout((4,))}
    edges = [Edge("in", "c1"), Edge("c1", "n1"), Edge("n1", "pool"), Edge("pool", "n2"),
             Edge("n2", "c2"), Edge("c2", "n3"), Edge("n2", "skip"), Edge("skip", "n3"),
             Edge("n3", "flat"), Edge("flat", "fc"), Edge("fc", "out")]
    return Graph(nodes, edges, f"conv-{kind}")


def ilif(rng, conv_net=False):
    """bits Source -> (Conv | Dense) -> ILIF -> Dense -> ILIF -> Dense -> horner Readout."""
    T = 4
    if conv_net:
        src = Source((1, 5, 5), encoding="bits", T=T, x_bits=8)
        first = [("c1", Conv2d(_w(rng, (2, 1, 3, 3)), stride=2)), ("n1", None), ("flat", Flatten())]
        n1_shape, flat = (2, 2, 2), 8
    else:
        src = Source((6,), encoding="bits", T=T, x_bits=8)
        first = [("fc1", Dense(_w(rng, (8, 6)))), ("n1", None)]
        n1_shape, flat = (8,), 8
    theta1 = rng.integers(8, 40, (n1_shape[0],) + (1,) * (len(n1_shape) - 1))
    nodes = {"in": src}
    for name, node in first:
        nodes[name] = node if node is not None else ILIF(n1_shape, theta=theta1, T=T,
                                                          bias=rng.integers(-20, 21, n1_shape))
    nodes.update({"fc2": Dense(_w(rng, (5, flat))), "n2": ILIF((5,), theta=rng.integers(8, 40, 5), T=T),
                  "fc3": Dense(_w(rng, (3, 5))), "out": Readout((3,), horner=True)})
    chain = list(nodes)
    return Graph(nodes, [Edge(a, b) for a, b in zip(chain, chain[1:])],
                 "ilif-conv" if conv_net else "ilif-dense")


def make(name, seed=0):
    """(graph, x, steps) for a named network."""
    rng = np.random.default_rng(seed)
    kind, shape = name.split("-")
    if kind == "ILIF":
        g = ilif(rng, conv_net=shape == "conv")
        src = g.nodes["in"]
        x = rng.integers(0, 2 ** src.T, (3, *src.shape))
        return g, x, 4 * src.T + 3
    g = (dense if shape == "dense" else conv)(kind, rng)
    src = g.nodes["in"]
    if kind == "CaLIF":
        return g, rng.integers(0, src.T + 1, (3, *src.shape)), src.T
    return g, rng.integers(-30, 60, (3, *src.shape)), 14


NETS = [f"{k}-{s}" for k in ("STBIF", "IF", "ILIF", "CaLIF") for s in ("dense", "conv")]
