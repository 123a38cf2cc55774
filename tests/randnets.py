"""Random integer networks for property tests (shared by tests of every executor)."""

import numpy as np

from hwsnn import ir


def random_stbif_net(seed, kind="dense", depth=2, levels=4, delays=(0,), neuron="STBIF",
                     residual=False, bias=True):
    """A random chain (optionally with one residual block) of ST-BIF (or IF) layers."""
    rng = np.random.default_rng(seed)
    nodes, edges = {}, []

    def delay():
        return int(rng.choice(delays))

    def neuron_node(shape):
        theta = int(rng.integers(1, 6)) * 2
        b = rng.integers(-theta, theta + 1, shape[:1] + (1,) * (len(shape) - 1)) if bias else 0
        if neuron == "IF":
            return ir.IF(shape, theta=theta, v0=theta // 2, bias=b, bias_R=int(rng.integers(1, 4)),
                         s_max=levels, v_bits=20)
        return ir.STBIF(shape, theta=theta, v0=theta // 2, bias=b, bias_R=int(rng.integers(1, 4)),
                        s_min=0, s_max=levels, v_bits=20, s_bits=8)

    if kind == "dense":
        width = int(rng.integers(3, 7))
        shape = (width,)
    else:
        shape = (int(rng.integers(1, 3)), 5, 5)
    nodes["in"] = ir.Source(shape, R=int(rng.integers(1, 4)), x_bits=6)
    prev, prev_shape = "in", shape
    for layer in range(depth):
        name = f"l{layer}"
        if kind == "dense":
            out = (int(rng.integers(2, 7)),)
            nodes[f"{name}.w"] = ir.Dense(rng.integers(-4, 5, (out[0], prev_shape[0])))
        else:
            cout = int(rng.integers(1, 4))
            nodes[f"{name}.w"] = ir.Conv2d(rng.integers(-3, 4, (cout, prev_shape[0], 3, 3)), padding=1)
            out = (cout, prev_shape[1], prev_shape[2])
        edges.append(ir.Edge(prev, f"{name}.w", delay()))
        nodes[name] = neuron_node(out)
        edges.append(ir.Edge(f"{name}.w", name))
        if residual and layer > 0 and out == prev_shape:
            nodes[f"{name}.skip"] = ir.Scale(int(rng.integers(1, 3)))
            edges += [ir.Edge(prev, f"{name}.skip", delay()), ir.Edge(f"{name}.skip", name)]
        prev, prev_shape = name, out
    if kind != "dense":
        nodes["pool"] = ir.SumPool2d(2, 2)
        nodes["flat"] = ir.Flatten()
        edges += [ir.Edge(prev, "pool", delay()), ir.Edge("pool", "flat")]
        prev_shape = (prev_shape[0] * ((prev_shape[1] - 2) // 2 + 1) ** 2,)
        prev = "flat"
        nodes["fc"] = ir.Dense(rng.integers(-4, 5, (3, prev_shape[0])))
        edges.append(ir.Edge(prev, "fc"))
    else:
        nodes["fc"] = ir.Dense(rng.integers(-4, 5, (3, prev_shape[0])))
        edges.append(ir.Edge(prev, "fc", delay()))
    nodes["out"] = ir.Readout((3,))
    edges.append(ir.Edge("fc", "out"))
    graph = ir.Graph(nodes, edges, name=f"random-{kind}-{seed}")
    ir.verify(graph)
    return graph


def random_input(graph, batch, seed, lo=0, hi=16):
    rng = np.random.default_rng(seed)
    src = graph.nodes[graph.sources[0]]
    return rng.integers(lo, hi + 1, (batch, *src.shape))
