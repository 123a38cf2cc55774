"""A deliberately naive reference of the per-step semantics, written from docs/ir-format.md
("Node types", "Timing and order", "Ca-LIF settle phase"): Python ints in plain loops, one
sample and one neuron at a time. It imports nothing from hwsnn.sim; it reads only the IR's
node fields and edges, so a bug in the golden simulator cannot be copied into it.

`reference_run(graph, x, steps)` returns a `RefRun` with V, S, y of every neuron (V of every
Readout) after every step, as nested lists [step][sample][flat index].
"""

from dataclasses import dataclass, field
from math import prod

import numpy as np

__all__ = ["reference_run", "RefRun", "RefOverflow", "RefUnsupported", "topo_order",
           "apply_synapse", "broadcast", "release", "source_total", "out_shapes"]


class RefOverflow(Exception):
    """A membrane V left its signed v_bits register (docs: the run stops with a RangeError)."""


class RefUnsupported(Exception):
    """The doc says this network cannot run (e.g. an ILIF input without an emission window)."""


def release(q, t, R):
    """floor((t+1) q / R) - floor(t q / R) for t < R, else 0 (Python // is floor)."""
    return (t + 1) * q // R - t * q // R if t < R else 0


# --- arrays as flat lists of Python ints, C order ------------------------------------------

def _unravel(i, shape):
    idx = []
    for n in reversed(shape):
        idx.append(i % n)
        i //= n
    return tuple(reversed(idx))


def _ravel(idx, shape):
    i = 0
    for k, n in zip(idx, shape):
        i = i * n + k
    return i


def broadcast(arr, shape):
    """Flat list of `arr` broadcast to `shape` (trailing axes aligned; a size-1 axis repeats)."""
    a = np.asarray(arr)
    vals = [int(v) for v in a.reshape(-1).tolist()]
    src = (1,) * (len(shape) - a.ndim) + tuple(a.shape)
    out = []
    for i in range(prod(shape)):
        idx = _unravel(i, shape)
        out.append(vals[_ravel(tuple(0 if s == 1 else k for s, k in zip(src, idx)), src)])
    return out


def _zeros(shape):
    return [0] * prod(shape)


# --- synapses ----------------------------------------------------------------------------

def _dense(W, x):
    return [sum(int(W[o][i]) * x[i] for i in range(len(x))) for o in range(len(W))], (len(W),)


def _conv2d(node, x, shape):
    W = node.W.tolist()
    cout, cin_g, kh, kw = node.W.shape
    (sh, sw), (ph, pw), g = node.stride, node.padding, node.groups
    C, H, Wd = shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (Wd + 2 * pw - kw) // sw + 1
    out = []
    for o in range(cout):
        first = (o // (cout // g)) * cin_g  # first input channel of o's group
        for i in range(Ho):
            for j in range(Wo):
                acc = 0
                for c in range(cin_g):
                    for a in range(kh):
                        for b in range(kw):
                            r, s = i * sh - ph + a, j * sw - pw + b
                            if 0 <= r < H and 0 <= s < Wd:  # zero padding outside
                                acc += W[o][c][a][b] * x[_ravel((first + c, r, s), shape)]
                out.append(acc)
    return out, (cout, Ho, Wo)


def _sumpool(node, x, shape):
    (kh, kw), (sh, sw) = node.kernel, node.stride
    C, H, Wd = shape
    Ho, Wo = (H - kh) // sh + 1, (Wd - kw) // sw + 1
    out = [sum(x[_ravel((c, i * sh + a, j * sw + b), shape)] for a in range(kh) for b in range(kw))
           for c in range(C) for i in range(Ho) for j in range(Wo)]
    return out, (C, Ho, Wo)


def _weight_exp(out, e):
    """floor(2^e * sum): a left shift, or an arithmetic right shift (Python >> floors)."""
    return [v << e if e >= 0 else v >> -e for v in out]


def apply_synapse(node, x, shape):
    """(output flat list, output shape) of synapse `node` on flat input `x` of `shape`."""
    kind = node.type
    if kind == "Dense":
        out, oshape = _dense(node.W.tolist(), x)
        return _weight_exp(out, node.w_exp), oshape
    if kind == "Conv2d":
        out, oshape = _conv2d(node, x, shape)
        return _weight_exp(out, node.w_exp), oshape
    if kind == "SumPool2d":
        return _sumpool(node, x, shape)
    if kind == "Scale":
        return [w * v for w, v in zip(broadcast(node.w, shape), x)], tuple(shape)
    if kind == "Flatten":
        return list(x), (prod(shape),)
    raise TypeError(f"not a synapse: {kind}")


# --- graph order, shapes, windows ----------------------------------------------------------

def topo_order(graph):
    """Kahn's algorithm as the doc states it: the nodes without inputs in file order; take the
    first ready node, then make ready (in edge order) each successor whose inputs are all taken."""
    indeg = {n: 0 for n in graph.nodes}
    for e in graph.edges:
        indeg[e.dst] += 1
    ready, order = [n for n in graph.nodes if indeg[n] == 0], []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for e in graph.edges:
            if e.src == n:
                indeg[e.dst] -= 1
                if indeg[e.dst] == 0:
                    ready.append(e.dst)
    return order


def _inputs(graph):
    return {n: [e for e in graph.edges if e.dst == n] for n in graph.nodes}


def out_shapes(graph, order, inputs):
    shapes = {}
    for n in order:
        node = graph.nodes[n]
        if node.ROLE == "synapse":
            src = inputs[n][0].src
            shapes[n] = apply_synapse(node, _zeros(shapes[src]), shapes[src])[1]
        else:
            shapes[n] = tuple(node.shape)
    return shapes


def _feeders(graph, inputs, n):
    """(spiking node, delay) for each path into `n` through synapse chains."""
    out = []
    for e in inputs[n]:
        if graph.nodes[e.src].ROLE == "synapse":
            out += [(s, d + e.delay) for s, d in _feeders(graph, inputs, e.src)]
        else:
            out.append((e.src, e.delay))
    return out


def _windows(graph, order, inputs):
    """Arrival window (first step, length) of the input of every ILIF and horner Readout."""
    emits, arrive = {}, {}
    for n in order:
        node = graph.nodes[n]
        if node.type == "Source" and node.encoding == "bits":
            emits[n] = (0, node.T)
        if node.type == "ILIF" or (node.type == "Readout" and node.horner):
            wins = set()
            for s, d in _feeders(graph, inputs, n):
                if s not in emits:
                    raise RefUnsupported(f"{n}: input {s} has no emission window")
                wins.add((emits[s][0] + d, emits[s][1]))
            if len(wins) != 1:
                raise RefUnsupported(f"{n}: inputs arrive in windows {sorted(wins)}")
            arrive[n] = wins.pop()
            if node.type == "ILIF":
                if arrive[n][1] != node.T:
                    raise RefUnsupported(f"{n}: T={node.T}, input window {arrive[n][1]}")
                emits[n] = (arrive[n][0] + node.T, node.T)
    return arrive


# --- sources and neurons -------------------------------------------------------------------

def _emit(node, q, t):
    if node.encoding == "analog":
        return release(q, t, node.R)
    if node.encoding == "rate":
        return release(q, t, node.T)
    return (q >> (node.T - 1 - t)) & 1 if t < node.T else 0  # bits, MSB first


def source_total(node, q):
    """What a Source sends over its whole emission: q (analog, rate) or popcount(q) (bits)."""
    return bin(q).count("1") if node.encoding == "bits" else q


class _Params:
    def __init__(self, node):
        shape = tuple(node.shape)
        for name in ("theta", "v0", "bias", "leak", "bias_mant", "bias_exp"):
            setattr(self, name, broadcast(getattr(node, name, 0), shape))


def _toward_zero(a):
    """a / 2^12 with the fraction dropped (CUBALIF decays round toward zero)."""
    q = abs(a) // 4096
    return q if a >= 0 else -q


def _step_cubalif(node, P, st, I):
    """CUBALIF, from docs/ir-format.md "CUBALIF in detail", one neuron at a time."""
    U, V, S = st["U"], st["V"], st["S"]
    y = [0] * len(V)
    for k in range(len(V)):
        if not -(2 ** 23) <= I[k] <= 2 ** 23 - 1:
            raise RefOverflow(f"CUBALIF input {I[k]} outside int24")
        x = _toward_zero(U[k] * (4095 - node.du)) + I[k] * 64
        if x > 2 ** 23:
            x -= 2 ** 24
        elif x <= -(2 ** 23):
            x += 2 ** 24
        U[k] = x
        v = _toward_zero(V[k] * (4096 - node.dv)) + U[k] + P.bias_mant[k] * 2 ** P.bias_exp[k]
        v = min(max(v, -(2 ** 23) + 1), 2 ** 23 - 1)
        if v > node.vth * 64:
            y[k], v = 1, 0
        V[k], S[k] = v, S[k] + y[k]
    return y


def _step_maxpool(node, st, I):
    """MaxPool2d: V holds the input counts C_i (in_shape), S the window maxima; a window
    position outside the input (padding, ceil-mode overhang) counts 0."""
    V, S = st["V"], st["S"]
    for k in range(len(V)):
        V[k] += I[k]
    C, H, Wd = node.in_shape
    _, Ho, Wo = node.shape
    (kh, kw), (sh, sw), (ph, pw) = node.kernel, node.stride, node.padding
    y = [0] * len(S)
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                m = None
                for a in range(kh):
                    for b in range(kw):
                        r, q = i * sh - ph + a, j * sw - pw + b
                        inside = 0 <= r < H and 0 <= q < Wd
                        v = V[_ravel((c, r, q), node.in_shape)] if inside else 0
                        m = v if m is None else max(m, v)
                k = _ravel((c, i, j), node.shape)
                y[k], S[k] = m - S[k], m
    return y


def _step_neuron(node, P, st, I, t, win):
    """One window step of a neuron or Readout; updates st in place, returns y (None: Readout)."""
    V, S, kind = st["V"], st["S"], node.type
    if kind == "MaxPool2d":
        return _step_maxpool(node, st, I)
    if kind == "CUBALIF":
        return _step_cubalif(node, P, st, I)
    if kind == "Readout":
        for k in range(len(V)):
            if not node.horner:
                V[k] += I[k]
            elif win[0] <= t < win[0] + win[1]:
                V[k] = 2 * V[k] + I[k]  # outside its input's window a horner Readout holds
        return None
    y = [0] * len(V)
    for k in range(len(V)):
        th = P.theta[k]
        if kind == "STBIF":
            v = V[k] + I[k] + release(P.bias[k], t, node.bias_R)
            y[k] = 1 if v >= th and S[k] < node.s_max else -1 if v < 0 and S[k] > node.s_min else 0
            V[k], S[k] = v - y[k] * th, S[k] + y[k]
        elif kind == "IF":
            v = V[k] + I[k] + release(P.bias[k], t, node.bias_R)
            y[k] = 1 if v >= th and (node.s_max == 0 or S[k] < node.s_max) else 0
            V[k], S[k] = v - y[k] * th, S[k] + y[k]
        elif kind == "ILIF":
            a, T = win[0], node.T
            if a <= t < a + T:  # accumulate (input outside this window is not read)
                V[k] = 2 * V[k] + I[k] + (P.bias[k] if t == a + T - 1 else 0)
            elif a + T <= t < a + 2 * T:  # generate
                v = 2 * V[k]
                y[k] = 1 if v >= th else 0
                V[k], S[k] = v - y[k] * th, 2 * S[k] + y[k]
        elif kind == "CaLIF":
            v = V[k] + I[k] - P.leak[k]
            up = v >= th and (node.s_max == 0 or S[k] < node.s_max)
            down = v <= -th and (not node.gate or S[k] > 0)
            y[k] = 1 if up else -1 if down else 0
            V[k], S[k] = v - y[k] * th, S[k] + y[k]
        else:
            raise TypeError(f"not a neuron: {kind}")
    return y


def _settle_spike(node, P, st):
    V, S, y = st["V"], st["S"], []
    for k in range(len(V)):
        th = P.theta[k]
        up = 2 * V[k] >= th and (node.s_max == 0 or S[k] < node.s_max)
        down = 2 * V[k] < -th and (not node.gate or S[k] > 0)
        y.append(1 if up else -1 if down else 0)
    return y


# --- the run -------------------------------------------------------------------------------

@dataclass
class RefRun:
    """V, S, y: {node: [step][sample][flat]}; `shapes`: {node: shape}; `steps`: records made."""

    V: dict
    S: dict
    y: dict
    shapes: dict
    steps: int = 0
    last_window: list = field(default_factory=list)  # [sample] {node: output at step T-1}
    v_shapes: dict = field(default_factory=dict)  # {node: shape of V} where not `shapes` (MaxPool2d)
    U: dict = field(default_factory=dict)  # CUBALIF currents u, as V

    def array(self, var, node):
        """int64 array (steps, batch, *shape)."""
        a = np.array(getattr(self, var)[node], dtype=np.int64)
        shape = self.v_shapes.get(node, self.shapes[node]) if var == "V" else self.shapes[node]
        return a.reshape(len(a), -1, *shape)

    def final(self, var, node):
        return [list(v) for v in getattr(self, var)[node][-1]]


def _as_batches(graph, x):
    srcs = [n for n, node in graph.nodes.items() if node.ROLE == "source"]
    if not isinstance(x, dict):
        x = {srcs[0]: x}
    out = {}
    for n in srcs:
        a = np.asarray(x[n])
        if a.ndim == len(graph.nodes[n].shape):
            a = a[None]
        out[n] = [[int(v) for v in s.reshape(-1).tolist()] for s in a]
    return out


def reference_run(graph, x, steps):
    """Run `graph` on integer input `x` (a batch, or {source: batch}) for `steps` steps, then the
    Ca-LIF settle phase if the graph has CaLIF nodes. RefOverflow if a membrane leaves v_bits."""
    order, inputs, nodes = topo_order(graph), _inputs(graph), graph.nodes
    shapes = out_shapes(graph, order, inputs)
    wins = _windows(graph, order, inputs)
    q = _as_batches(graph, x)
    batch = len(next(iter(q.values())))
    calif_T = {node.T for node in nodes.values() if node.type == "CaLIF"}
    if calif_T and (len(calif_T) > 1 or steps != next(iter(calif_T))):
        raise RefUnsupported(f"CaLIF windows {sorted(calif_T)} with steps={steps}")
    stateful = [n for n in order if nodes[n].ROLE in ("neuron", "readout")]
    neurons = [n for n in stateful if nodes[n].ROLE == "neuron"]
    params = {n: _Params(nodes[n]) for n in stateful}
    state = [{n: {"V": _zeros(nodes[n].in_shape) if nodes[n].type == "MaxPool2d" else list(params[n].v0),
                  "S": _zeros(shapes[n]), "U": _zeros(shapes[n])} for n in stateful}
             for _ in range(batch)]
    run = RefRun({n: [] for n in stateful}, {n: [] for n in neurons}, {n: [] for n in neurons}, shapes,
                 v_shapes={n: tuple(nodes[n].in_shape) for n in stateful if nodes[n].type == "MaxPool2d"})

    def record(ys):
        for n in stateful:
            node, lo_hi = nodes[n], (-(1 << (nodes[n].v_bits - 1)), (1 << (nodes[n].v_bits - 1)) - 1)
            for b in range(batch):
                if not all(lo_hi[0] <= v <= lo_hi[1] for v in state[b][n]["V"]):
                    raise RefOverflow(f"{n}: V left int{node.v_bits} at record {run.steps}")
            run.V[n].append([list(state[b][n]["V"]) for b in range(batch)])
            if node.type == "CUBALIF":
                run.U.setdefault(n, []).append([list(state[b][n]["U"]) for b in range(batch)])
            if n in run.S:
                run.S[n].append([list(state[b][n]["S"]) for b in range(batch)])
                run.y[n].append([list(ys[b][n]) if n in ys[b] else _zeros(shapes[n])
                                 for b in range(batch)])
        run.steps += 1

    hist = [[] for _ in range(batch)]  # hist[b][t]: {node: output at step t}

    def carried(b, e, t):  # a delayed edge carries 0 before step `delay`
        s = t - e.delay
        return hist[b][s][e.src] if s >= 0 else _zeros(shapes[e.src])

    for t in range(steps):
        ys = [{} for _ in range(batch)]
        for b in range(batch):
            out = {}
            hist[b].append(out)
            for n in order:
                node = nodes[n]
                if node.ROLE == "source":
                    out[n] = [_emit(node, v, t) for v in q[n][b]]
                elif node.ROLE == "synapse":
                    e = inputs[n][0]
                    out[n] = apply_synapse(node, carried(b, e, t), shapes[e.src])[0]
                else:
                    I = _zeros(getattr(node, "in_shape", shapes[n]))  # a MaxPool2d reads its input
                    for e in inputs[n]:
                        I = [i + v for i, v in zip(I, carried(b, e, t))]
                    y = _step_neuron(node, params[n], state[b][n], I, t, wins.get(n))
                    if y is not None:
                        out[n] = ys[b][n] = y
        record(ys)
    if calif_T:
        run.last_window = [h[-1] for h in hist]
        _settle(graph, order, inputs, shapes, params, state, run, record, batch, stateful)
    return run


def _settle(graph, order, inputs, shapes, params, state, run, record, batch, stateful):
    """Layer by layer in topological order: absorb (one record), then rounding spikes, one per
    record, while any neuron of the layer in any sample fires."""
    nodes = graph.nodes
    total = [{n: _zeros(shapes[n]) for n in stateful} for _ in range(batch)]  # settle spikes

    def absorbed(b, e):
        src = nodes[e.src]
        if src.ROLE == "synapse":
            e_in = inputs[e.src][0]
            return apply_synapse(src, absorbed(b, e_in), shapes[e_in.src])[0]
        v = total[b][e.src] if src.ROLE == "neuron" else _zeros(shapes[e.src])
        if e.delay:  # the window's last output was still in flight
            v = [a + c for a, c in zip(v, run.last_window[b][e.src])]
        return v

    for n in stateful:
        for b in range(batch):
            V = state[b][n]["V"]
            for e in inputs[n]:
                for k, v in enumerate(absorbed(b, e)):
                    V[k] += v
        record([{} for _ in range(batch)])
        if nodes[n].ROLE == "readout":
            continue
        while True:
            ys = [_settle_spike(nodes[n], params[n], state[b][n]) for b in range(batch)]
            if not any(any(y) for y in ys):
                break
            for b in range(batch):
                st, th = state[b][n], params[n].theta
                for k, y in enumerate(ys[b]):
                    st["V"][k] -= y * th[k]
                    st["S"][k] += y
                    total[b][n][k] += y
            record([{n: ys[b]} for b in range(batch)])
