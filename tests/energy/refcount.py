"""Independent reference for event counts: plain Python loops over per-step spikes and weights.

Shares no code with hwsnn.energy: a spike's reach is propagated through each synapse node by
explicit index arithmetic (no sparse matrices, no torch)."""

import numpy as np

from hwsnn import ir


def _reach_node(node, in_shape, idx):
    """{out_flat_index: weight} reached by a unit input at flat index `idx` of `in_shape`."""
    out = {}
    if isinstance(node, ir.Dense):
        for o in range(node.W.shape[0]):
            if node.W[o, idx]:
                out[o] = int(node.W[o, idx])
        return out
    if isinstance(node, ir.Flatten):
        return {idx: 1}
    if isinstance(node, ir.Scale):
        w = int(np.broadcast_to(node.w, in_shape).reshape(-1)[idx])
        return {idx: w} if w else {}
    c, y, x = np.unravel_index(idx, in_shape)
    C, H, W = in_shape
    if isinstance(node, ir.SumPool2d):
        (kh, kw), (sh, sw) = node.kernel, node.stride
        Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
        for oy in range(Ho):
            for ox in range(Wo):
                if oy * sh <= y < oy * sh + kh and ox * sw <= x < ox * sw + kw:
                    out[int(np.ravel_multi_index((c, oy, ox), (C, Ho, Wo)))] = 1
        return out
    if isinstance(node, ir.Conv2d):
        cout, cin_g, kh, kw = node.W.shape
        (sh, sw), (ph, pw) = node.stride, node.padding
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        g = c // cin_g
        per = cout // node.groups
        for co in range(g * per, (g + 1) * per):
            for ky in range(kh):
                for kx in range(kw):
                    ny, nx = y + ph - ky, x + pw - kx
                    if ny % sh or nx % sw:
                        continue
                    oy, ox = ny // sh, nx // sw
                    if 0 <= oy < Ho and 0 <= ox < Wo:
                        w = int(node.W[co, c - g * cin_g, ky, kx])
                        if w:
                            k = int(np.ravel_multi_index((co, oy, ox), (cout, Ho, Wo)))
                            out[k] = out.get(k, 0) + w
        return out
    raise TypeError(node)


def paths(graph):
    """[(src, [synapse names], dst, delay)] by walking edges."""
    out = []

    def walk(src, name, syns, delay):
        for e in graph.outputs_of(name):
            node = graph.nodes[e.dst]
            if node.ROLE == "synapse":
                walk(src, e.dst, syns + [e.dst], delay + e.delay)
            elif node.ROLE in ("neuron", "readout"):
                out.append((src, syns, e.dst, delay + e.delay))

    for n, node in graph.nodes.items():
        if node.ROLE in ("source", "neuron"):
            walk(n, n, [], 0)
    return out


def fanout(graph, src, syns):
    """List: fan-out of every source neuron through the synapse path (distinct targets with a
    nonzero summed weight)."""
    shapes = ir.verify(graph)
    n = int(np.prod(shapes[src]))
    res = []
    for i in range(n):
        cur, shape = {i: 1}, shapes[src]
        for s in syns:
            nxt = {}
            for k, v in cur.items():
                for o, w in _reach_node(graph.nodes[s], shape, k).items():
                    nxt[o] = nxt.get(o, 0) + v * w
            cur, shape = {k: v for k, v in nxt.items() if v}, shapes[s]
        res.append(len(cur))
    return res


def sops_by_loops(graph, trace, emitted=None):
    """{dst: [SOPs per sample]} from per-step y: every nonzero spike y[t, b, i] costs
    |y| * fanout(i). Analog-source chains are skipped (they cost MACs)."""
    out = {}
    for src, syns, dst, _ in paths(graph):
        if graph.nodes[src].ROLE == "source":
            continue
        fo = fanout(graph, src, syns)
        y = trace.y[src].reshape(trace.steps, trace.batch, -1)
        acc = out.setdefault(dst, [0] * trace.batch)
        for t in range(trace.steps):
            for b in range(trace.batch):
                for i in np.flatnonzero(y[t, b]):
                    acc[b] += abs(int(y[t, b, i])) * fo[i]
    return out


def input_macs_by_loops(graph, x):
    """{dst: [MACs per sample]}: analog Source, R steps, each nonzero released value x fan-out."""
    out = {}
    for src, syns, dst, _ in paths(graph):
        node = graph.nodes[src]
        if node.ROLE != "source":
            continue
        fo = fanout(graph, src, syns)
        q = np.asarray(x).reshape(len(x), -1)
        acc = out.setdefault(dst, [0] * len(x))
        for b in range(len(x)):
            for i in range(q.shape[1]):
                for t in range(node.R):
                    part = ((t + 1) * int(q[b, i])) // node.R - (t * int(q[b, i])) // node.R
                    if part:
                        acc[b] += fo[i]
    return out
