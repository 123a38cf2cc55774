"""The count semantics of docs/ir-format.md ("Count semantics"), in Python ints, one sample at a
time: what the per-step run must reach at equilibrium / after the settle phase. Built on the
scalar reference's synapse code only (nothing from hwsnn.sim)."""

from scalar_reference import _step_maxpool, apply_synapse, broadcast, out_shapes, source_total, topo_order


def _clip(v, lo, hi):
    return max(lo, min(hi, v))


def closed_forms(graph, x, b):
    """{"S": {neuron: flat}, "V": {neuron or readout: flat}} for sample `b` of inputs `x`."""
    order, nodes = topo_order(graph), graph.nodes
    inputs = {n: [e for e in graph.edges if e.dst == n] for n in nodes}
    shapes = out_shapes(graph, order, inputs)
    tot, hor, S, V = {}, {}, {}, {}  # tot: sum of all outputs; hor: the Horner value

    def summed(n, which):
        out = [0] * len(broadcast(0, shapes[n]))
        for e in inputs[n]:
            out = [a + c for a, c in zip(out, which[e.src])]
        return out

    for n in order:
        node = nodes[n]
        kind = node.type
        if kind == "Source":
            q = [int(v) for v in x[n][b].reshape(-1).tolist()]
            tot[n], hor[n] = [source_total(node, v) for v in q], q
            continue
        if node.ROLE == "synapse":
            src = inputs[n][0].src
            tot[n] = apply_synapse(node, tot[src], shapes[src])[0]
            hor[n] = apply_synapse(node, hor[src], shapes[src])[0]
            continue
        if kind == "Readout":
            V[n] = summed(n, hor if node.horner else tot)
            continue
        if kind == "MaxPool2d":  # the window maxima of the input's totals, reached in one step
            st = {"V": [0] * len(tot[inputs[n][0].src]), "S": [0] * len(broadcast(0, shapes[n]))}
            _step_maxpool(node, st, tot[inputs[n][0].src])
            V[n], S[n], tot[n], hor[n] = st["V"], st["S"], st["S"], st["S"]
            continue
        th = broadcast(node.theta, shapes[n])
        if kind == "STBIF":
            u = [z + b_ + v0 for z, b_, v0 in zip(summed(n, tot), broadcast(node.bias, shapes[n]),
                                                 broadcast(node.v0, shapes[n]))]
            s = [_clip(ui // t, node.s_min, node.s_max) for ui, t in zip(u, th)]
            V[n] = [ui - si * t for ui, si, t in zip(u, s, th)]
        elif kind == "ILIF":
            top = 2 ** node.T
            u = [h + b_ for h, b_ in zip(summed(n, hor), broadcast(node.bias, shapes[n]))]
            s = [_clip(ui * top // t, 0, top - 1) for ui, t in zip(u, th)]
            V[n] = [ui * top - si * t for ui, si, t in zip(u, s, th)]
        elif kind == "CaLIF":
            u = [z - node.T * lk for z, lk in zip(summed(n, tot), broadcast(node.leak, shapes[n]))]
            s = [(2 * ui + t) // (2 * t) for ui, t in zip(u, th)]  # round half up
            if node.gate:
                s = [max(0, si) for si in s]
            if node.s_max > 0:
                s = [min(node.s_max, si) for si in s]
            V[n] = [ui - si * t for ui, si, t in zip(u, s, th)]
        else:
            raise TypeError(f"{n}: no exact closed form for {kind}")
        S[n] = s
        tot[n] = [bin(si).count("1") for si in s] if kind == "ILIF" else s
        hor[n] = s
    return {"S": S, "V": V}
