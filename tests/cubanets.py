"""Random CUBA-LIF networks (Loihi's neuron): dense and conv, 1-4 layers, random decays, biases,
thresholds, weight exponents and Loihi weights of one sign or mixed signs (even).

Every edge that leaves a Source or neuron has delay 1 (Loihi). The weights are scaled so that
every CUBALIF input stays inside int24 (docs/ir-format.md); `big=True` lets inputs reach the
range where u wraps and v saturates.
"""

import numpy as np

from hwsnn import ir

__all__ = ["random_cuba_graph", "random_cuba_inputs", "random_source", "union", "FAMILIES"]

FAMILIES = ("dense", "conv")
I_MAX = (1 << 23) - 1


def _decay(rng):
    return int(rng.choice([0, 4095, int(rng.integers(0, 4096)), int(rng.integers(0, 600))]))


def _weights(rng, shape, mode):
    if mode == "mixed":
        return 2 * rng.integers(-128, 128, shape)
    w = rng.integers(0, 256, shape)
    return w if mode == "exc" else -w


def _neuron(rng, shape, big):
    per_neuron = rng.random() < 0.5
    bshape = shape if per_neuron else ()
    wide = rng.random() >= 0.7
    mant = rng.integers(-4096, 4096, bshape) if wide else rng.integers(-300, 300, bshape)
    vth = int(rng.choice([0, int(rng.integers(1, 200)), int(rng.integers(1, 5000)),
                          (1 << 17) - 1 if big else int(rng.integers(1, 50))]))
    return ir.CUBALIF(tuple(shape), vth=vth, du=_decay(rng), dv=_decay(rng),
                      bias_mant=mant, bias_exp=rng.integers(0, 8, bshape) if rng.random() < 0.5
                      else int(rng.integers(0, 4)), s_bits=24)


def _w_exp(rng, W, in_bound, big):
    """A weight exponent that keeps the input in int24 (its worst case: sum |W| * in_bound)."""
    worst = int(np.abs(W).reshape(W.shape[0], -1).sum(axis=1).max(initial=0)) * in_bound
    hi = 7
    while hi > -8 and worst * 2.0 ** hi > I_MAX:
        hi -= 1
    lo = -8 if big else max(-8, hi - 6)
    return int(rng.integers(lo, hi + 1)) if not big else hi


def random_source(rng, family):
    analog = rng.random() < 0.5
    x_bits = int(rng.integers(2, 7))
    if family == "dense":
        shape = (int(rng.integers(2, 12)),)
    else:
        shape = (int(rng.integers(1, 3)), int(rng.integers(3, 7)), int(rng.integers(3, 7)))
    return ir.Source(shape, encoding="analog" if analog else "rate", R=int(rng.integers(1, 4)),
                     T=0 if analog else int(rng.integers(1, 6)), x_bits=x_bits if analog else 4)


def random_cuba_graph(seed, family="dense", depth=2, big=False, source=None):
    """A CUBALIF graph: Source -> (Dense | Conv2d) -> CUBALIF, `depth` times (conv nets end with a
    Flatten -> Dense layer when depth > 1). `source`: the Source node to use (else random)."""
    rng = np.random.default_rng(seed)
    src = source or random_source(rng, family)
    shape, analog, x_bits = src.shape, src.encoding == "analog", src.x_bits
    nodes, edges = {"in": src}, []
    prev, bound = "in", (1 << (x_bits - 1)) if analog else 1
    for i in range(depth):
        mode = str(rng.choice(["mixed", "mixed", "exc", "inh"]))
        conv = family == "conv" and (i < depth - 1 or depth == 1) and len(shape) == 3
        if conv:
            cin = shape[0]
            cout, k = int(rng.integers(1, 4)), int(rng.integers(1, 4))
            pad, stride = int(rng.integers(0, k)), int(rng.integers(1, 3))
            k = min(k, shape[1] + 2 * pad, shape[2] + 2 * pad)
            W = _weights(rng, (cout, cin, k, k), mode)
            syn = ir.Conv2d(W, stride=stride, padding=pad, w_bits=9,
                            w_exp=_w_exp(rng, W, bound, big))
            out = ir.out_shape("c", syn, shape)
        else:
            if len(shape) == 3:
                nodes[f"f{i}"] = ir.Flatten()
                edges.append(ir.Edge(prev, f"f{i}", 1))
                prev, shape = f"f{i}", (int(np.prod(shape)),)
            n_out = int(rng.integers(1, 12))
            W = _weights(rng, (n_out, shape[0]), mode)
            syn = ir.Dense(W, w_bits=9, w_exp=_w_exp(rng, W, bound, big))
            out = (n_out,)
        nodes[f"s{i}"] = syn
        edges.append(ir.Edge(prev, f"s{i}", 0 if prev.startswith("f") else 1))
        nodes[f"n{i}"] = _neuron(rng, out, big)
        edges.append(ir.Edge(f"s{i}", f"n{i}"))
        prev, shape, bound = f"n{i}", out, 1
    return ir.Graph(nodes, edges, f"cuba-{family}-{depth}")


def random_cuba_inputs(graph, batch, seed):
    rng = np.random.default_rng([seed, 99] if np.isscalar(seed) else [*seed, 99])
    src = graph.nodes["in"]
    if src.encoding == "rate":
        return rng.integers(0, src.T + 1, (batch, *src.shape))
    lo, hi = ir.int_range(src.x_bits)
    return rng.integers(lo, hi + 1, (batch, *src.shape))


def union(graphs):
    """One graph holding `graphs` side by side, all fed by the first one's Source "in" (node
    names prefixed g0., g1., ...; the graphs must share that Source): one Lava run checks them
    all, and Lava runs one connected network."""
    nodes, edges = {"in": graphs[0].nodes["in"]}, []
    name = lambda i, n: n if n == "in" else f"g{i}.{n}"  # noqa: E731
    for i, g in enumerate(graphs):
        nodes.update({name(i, n): node for n, node in g.nodes.items()})
        edges += [ir.Edge(name(i, e.src), name(i, e.dst), e.delay) for e in g.edges]
    return ir.Graph(nodes, edges, "cuba-union")
