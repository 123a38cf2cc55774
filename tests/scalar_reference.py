"""A deliberately naive reference for the per-step semantics: Python ints, one sample, one
neuron at a time, written from DESIGN.md's equations (not from hwsnn.sim's code)."""

import itertools

import numpy as np

from hwsnn import ir


def _syn(node, x):
    """Apply a synapse to a numpy object array of Python ints."""
    if isinstance(node, ir.Dense):
        out = np.empty(node.W.shape[0], dtype=object)
        for o in range(node.W.shape[0]):
            out[o] = sum(int(node.W[o, i]) * x[i] for i in range(node.W.shape[1]))
        return out
    if isinstance(node, ir.Conv2d):
        cout, cin_g, kh, kw = node.W.shape
        (sh, sw), (ph, pw), g = node.stride, node.padding, node.groups
        C, H, W = x.shape
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        out = np.zeros((cout, Ho, Wo), dtype=object)
        for o, i, j in itertools.product(range(cout), range(Ho), range(Wo)):
            grp = o // (cout // g)
            acc = 0
            for c, a, b in itertools.product(range(cin_g), range(kh), range(kw)):
                r, s = i * sh - ph + a, j * sw - pw + b
                if 0 <= r < H and 0 <= s < W:
                    acc += int(node.W[o, c, a, b]) * x[grp * cin_g + c, r, s]
            out[o, i, j] = acc
        return out
    if isinstance(node, ir.SumPool2d):
        (kh, kw), (sh, sw) = node.kernel, node.stride
        C, H, W = x.shape
        Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
        out = np.zeros((C, Ho, Wo), dtype=object)
        for c, i, j in itertools.product(range(C), range(Ho), range(Wo)):
            out[c, i, j] = sum(x[c, i * sh + a, j * sw + b] for a in range(kh) for b in range(kw))
        return out
    if isinstance(node, ir.Scale):
        w = np.broadcast_to(node.w, x.shape)
        return np.vectorize(lambda a, b: int(a) * b, otypes=[object])(w, x)
    if isinstance(node, ir.Flatten):
        return x.reshape(-1)
    raise TypeError(node)


def _release(q, t, R):
    return (t + 1) * q // R - t * q // R if t < R else 0


def reference_run(graph, x, steps):
    """Per-step V, S, y of one sample for STBIF / IF / Readout(plain) graphs with one Source
    (analog encoding). Returns {(node, var): list over steps of flat lists of ints}."""
    order = graph.topo_order()
    src = graph.sources[0]
    q = [int(v) for v in np.asarray(x).reshape(-1)]
    shape = graph.nodes[src].shape
    state = {}
    for n in order:
        node = graph.nodes[n]
        if node.ROLE in ("neuron", "readout"):
            size = int(np.prod(node.shape))
            v0 = np.broadcast_to(getattr(node, "v0", 0), node.shape).reshape(-1)
            state[n] = {"V": [int(v) for v in v0], "S": [0] * size}
    out = {}
    prev = {}
    for t in range(steps):
        now, syn = {}, {}
        for n in order:
            node = graph.nodes[n]
            if node.ROLE == "source":
                R = node.R
                now[n] = np.array([_release(v, t, R) for v in q], dtype=object).reshape(shape)
            elif node.ROLE == "synapse":
                e = graph.inputs_of(n)[0]
                xin = syn[e.src] if e.src in syn else (prev if e.delay else now).get(e.src)
                syn[n] = _syn(node, xin if xin is not None else
                              np.zeros(graph.nodes[e.src].shape, dtype=object))
            else:
                size = int(np.prod(node.shape))
                I = [0] * size
                for e in graph.inputs_of(n):
                    flat = syn[e.src].reshape(-1)
                    I = [a + int(b) for a, b in zip(I, flat)]
                st = state[n]
                if node.ROLE == "readout":
                    st["V"] = [v + i for v, i in zip(st["V"], I)]
                    out.setdefault((n, "V"), []).append(list(st["V"]))
                    continue
                theta = np.broadcast_to(node.theta, node.shape).reshape(-1)
                bias = np.broadcast_to(node.bias, node.shape).reshape(-1)
                ys = []
                for k in range(size):
                    v = st["V"][k] + I[k] + _release(int(bias[k]), t, node.bias_R)
                    s, th = st["S"][k], int(theta[k])
                    if isinstance(node, ir.STBIF):
                        y = 1 if (v >= th and s < node.s_max) else (-1 if (v < 0 and s > node.s_min) else 0)
                    else:  # IF
                        y = 1 if v >= th and (node.s_max == 0 or s < node.s_max) else 0
                    st["V"][k], st["S"][k] = v - y * th, s + y
                    ys.append(y)
                now[n] = np.array(ys, dtype=object).reshape(node.shape)
                for var, val in (("V", st["V"]), ("S", st["S"]), ("y", ys)):
                    out.setdefault((n, var), []).append(list(val))
        prev = now
    return out
