"""Pass `integerize`: choose each layer's integer unit and threshold, round weights and biases.

For a neuron with Q-ReLU step s whose pre-activation is sum_k ops_k(f_k * counts_k) + b:
  u      = the value of one integer unit of the pre-activation, u >= u_min where
           u_min = max_k max|W_k| * f_k / (2^(w_bits-1) - 1)   (weights fit w_bits; where a
           pool overlaps, the folded sums of taps fit too: see _folded.py)
  theta  = s / u, an EVEN integer (so v0 = theta/2 is exact): the largest even integer
           (thresholds="max") or power of two (thresholds="pow2") with s/theta >= u_min
  W_int  = round(W * f / u),   b_int = round(b / u),   Scale w = round(f / u)
Then ST-BIF gives S = clip(floor((sum W_int c + b_int + theta/2) / theta), 0, n)
             = clip(floor(z/s + 1/2), 0, n) when nothing was rounded.
The readout has no threshold: u = u_min (or the next power of two), logits = u * V.
"""

import math
from dataclasses import replace

import numpy as np
import torch

from .. import ir
from ..ir._verify import out_shape
from ..errors import CompileError
from ._fold import module_of
from ._folded import folded_peak
from ._weights import round_weights

__all__ = ["integerize", "choose_theta"]


_BIAS_UNITS = 16  # at most this many w_bits weights carry each readout bias (see integerize)


def _wmax(bits):
    return (1 << (bits - 1)) - 1


def choose_theta(s, u_min, mode, max_theta):
    """Even threshold theta >= 2 with s/theta >= u_min (largest such, capped at max_theta)."""
    ratio = math.inf if u_min <= 0 else s / u_min
    ratio = min(ratio, max_theta)
    if mode == "pow2":
        theta = 1 << max(1, int(math.floor(math.log2(ratio)))) if ratio >= 2 else 2
    elif mode == "max":
        theta = max(2, 2 * int(math.floor(ratio / 2)))
    else:
        raise CompileError(f"thresholds must be 'max' or 'pow2', not {mode!r}")
    return theta


def _pow2_at_least(x):
    return 2.0 ** math.ceil(math.log2(x))


def _term_umin(qann, t, wmax):
    w = t.weighted
    peak = 1.0 if t.gain is None else float(np.abs(t.gain).max(initial=0))
    if w:  # max |W| without an |W| copy of a large layer
        lo, hi = module_of(qann, w[0]).weight.detach().aminmax()
        peak = max(-float(lo), float(hi))
    # a back end that folds pool -> conv sums overlapping taps: keep those sums within w_bits
    peak, taps = folded_peak(lambda op: module_of(qann, op), t, peak)
    return peak * abs(t.factor()) / (wmax if taps == 1 else wmax - taps / 2)


def _compact(b):
    """Smallest broadcastable form of an integer bias map: scalar, (C,1,1), or full."""
    b = np.asarray(b, dtype=np.int64)
    if b.size and np.all(b == b.flat[0]):
        return np.array(int(b.flat[0]))
    if b.ndim == 3 and np.all(b == b[:, :1, :1]):
        return b[:, :1, :1].copy()
    return b


def _ones_pool(c, op, wbits):
    """Zero-padded sum pool as a depthwise conv with a kernel of ones; ceil_mode windows that
    read `extra` rows / columns past the padding: `extra` leading zero taps and as much more
    padding on every side (the extra top / left padding meets only the zero taps)."""
    (kh, kw), (ph, pw) = op.attrs["kernel"], op.attrs.get("padding", (0, 0))
    eh, ew = op.attrs.get("extra", (0, 0))
    w = np.zeros((c, 1, kh + eh, kw + ew), dtype=np.int64)
    w[:, :, eh:, ew:] = 1
    return ir.Conv2d(w, op.attrs["stride"], (ph + eh, pw + ew), c, w_bits=wbits)


def _chain(st, t, u, target, wbits):
    """Create the synapse nodes of term `t` (ending in IR node `target`); return max |W_int|."""
    prev, peak, f = t.src, 0, t.factor()
    ops = list(t.ops)
    made = []
    shape = tuple(st.nodes[t.src].shape)
    for op in ops:
        mod = module_of(st.qann, op)
        if op.kind in ("conv", "linear"):
            w = round_weights(mod.weight, f / u, wbits)  # chunked, in the IR's weight dtype
            peak = max(peak, -int(w.min(initial=0)), int(w.max(initial=0)))
            node = (ir.Conv2d(w, mod.stride, mod.padding, mod.groups, w_bits=wbits)
                    if op.kind == "conv" else ir.Dense(w, w_bits=wbits))
        elif op.kind == "avgpool" and (any(op.attrs.get("padding", (0, 0))) or any(op.attrs.get("extra", (0, 0)))):
            node = _ones_pool(shape[0], op, wbits)
        elif op.kind == "avgpool":
            node = ir.SumPool2d(op.attrs["kernel"], op.attrs["stride"])
        else:
            node = ir.Flatten()
        shape = out_shape(op.name, node, shape)
        made.append((op.name, node))
    if not t.weighted:
        if t.gain is None:
            w = np.array(int(np.rint(f / u)))
        else:  # per channel (a BatchNorm on a pool or an identity path)
            w = np.rint(np.asarray(t.gain, dtype=np.float64) * f / u).astype(np.int64)
            w = w.reshape(-1, *([1] * (len(shape) - 1)))
        peak = max(peak, int(np.abs(w).max(initial=0)))
        if np.any(w != 1) or not made:
            made.append((f"{target}.shortcut", ir.Scale(w, w_bits=wbits)))
    # leading weightless ops (pools, flatten) are shared by every term of the same source:
    # ResNet's max pool feeds both the block's conv1 and its identity shortcut through one node
    shared = st.__dict__.setdefault("shared_prefixes", {})  # (src, op names) -> IR node
    free = next((i for i, op in enumerate(ops) if op.kind in ("conv", "linear")), len(ops))
    for i, (name, node) in enumerate(made):
        key = (t.src, tuple(n for n, _ in made[:i + 1]))
        if i < free and key in shared:
            prev = shared[key]
            continue
        name = st.unique(name)
        st.nodes[name] = node
        st.edges.append(ir.Edge(prev, name))
        prev = name
        if i < free:
            shared[key] = name
    st.edges.append(ir.Edge(prev, target))
    return peak


def _bias_unit(st, target, b_int, first_src, wbits):
    """Fallback for a readout bias (see _bias_neurons): m always-on ST-BIF units (each fires
    once) feed b_int through a Dense whose m columns sum to b_int, each weight within w_bits
    (m = ceil(max|b_int| / (2^(w_bits-1) - 1))). Their input is a zero-weight Dense from
    `first_src` (a neuron needs a synapse input). The readout then has two inputs."""
    wmax = _wmax(wbits)
    m = max(1, int(-(-int(np.abs(b_int).max(initial=0)) // wmax)))
    shapes = {n: getattr(st.nodes[n], "shape", None) for n in st.nodes}
    src, n_in = first_src, int(np.prod(shapes[first_src]))
    if len(shapes[first_src]) != 1:
        flat = st.unique(f"{target}.bias_flatten")
        st.nodes[flat] = ir.Flatten()
        st.edges.append(ir.Edge(src, flat))
        src = flat
    gate = st.unique(f"{target}.bias_gate")
    st.nodes[gate] = ir.Dense(np.zeros((m, n_in), dtype=np.int64), w_bits=2)
    st.edges.append(ir.Edge(src, gate))
    unit = st.unique(f"{target}.bias_unit")
    st.nodes[unit] = ir.STBIF((m,), theta=np.array(2), v0=np.array(1), bias=np.array(1),
                              s_min=0, s_max=1, v_bits=4, s_bits=2)
    st.edges.append(ir.Edge(gate, unit))
    syn = st.unique(f"{target}.bias")
    st.nodes[syn] = ir.Dense(_split(b_int, m, wmax), w_bits=wbits)
    st.edges.append(ir.Edge(unit, syn))
    st.edges.append(ir.Edge(syn, target))


def _split(q, parts, wmax):
    """(K, parts) integers, each in [-wmax, wmax], whose rows sum to q (K,)."""
    base = np.trunc(q / parts).astype(np.int64)
    w = np.repeat(base[:, None], parts, axis=1)
    rest = q - base * parts  # |rest| < parts: add +-1 to the first |rest| columns
    for k in range(len(q)):
        w[k, :abs(int(rest[k]))] += np.sign(rest[k])
    if np.abs(w).max(initial=0) > wmax:
        raise CompileError(f"internal: bias split exceeds {wmax}")
    return w


def _bias_neurons(st, target, b_int, wbits):
    """Readouts have no bias. If the readout is fed by one Dense from a 1-D ST-BIF layer that
    feeds nothing else and takes input only through Dense synapses, append always-on neurons to
    that layer: m neurons with bias n*theta (count S = n) and one with bias theta (S = 1). The
    readout Dense gets columns w with n * sum(w_full) + w_unit = b_int, each within w_bits, so
    the graph stays a chain and the widths stay. Returns False when the pattern does not apply."""
    ins = st.graph_inputs(target)
    if len(ins) != 1 or not isinstance(st.nodes[ins[0]], ir.Dense):
        return False
    dense = ins[0]
    src = st.graph_inputs(dense)
    if len(src) != 1 or not isinstance(st.nodes.get(src[0]), ir.STBIF):
        return False
    src = src[0]
    layer = st.nodes[src]
    feeders = st.graph_inputs(src)
    if (len(layer.shape) != 1 or [e.src for e in st.edges].count(src) != 1
            or not all(isinstance(st.nodes[f], ir.Dense) for f in feeders)):
        return False
    n, wmax, theta = layer.s_max, _wmax(wbits), int(layer.theta)
    if n // 2 + 1 > wmax:
        return False
    q = np.floor(b_int / n + 0.5).astype(np.int64)
    w_unit = b_int - n * q  # in [-n/2, n/2)
    m = max(1, int(-(-np.abs(q).max(initial=0) // wmax)))
    w_full = _split(q, m, wmax)
    N = layer.shape[0]
    bias = np.concatenate([np.broadcast_to(layer.bias, (N,)), np.full(m, n * theta), [theta]])
    st.nodes[src] = replace(layer, shape=(N + m + 1,), bias=bias)
    for f in feeders:
        W = st.nodes[f].W
        st.nodes[f] = replace(st.nodes[f], W=np.concatenate([W, np.zeros((m + 1, W.shape[1]), np.int64)]))
    W = st.nodes[dense].W
    st.nodes[dense] = replace(st.nodes[dense], W=np.concatenate([W, w_full, w_unit[:, None]], axis=1))
    st.layers[src]["bias_neurons"] = {"first": N, "counts": [n] * m + [1]}
    return True


def _maxpool(st, name, value):
    """IR MaxPool2d straight on its input's spikes (s_bits set by the range analysis)."""
    op = st.qann.ops[[o.name for o in st.qann.ops].index(st.part_of.get(name, name))]
    a = op.attrs
    shape = ir.pool_out_shape(tuple(value.shape), a["kernel"], a["stride"], a["padding"], a["ceil_mode"])
    st.nodes[name] = ir.MaxPool2d(shape, tuple(value.shape), a["kernel"], a["stride"],
                                  a["padding"], a["ceil_mode"])
    st.scales[name] = value.terms[0].scale
    st.edges.append(ir.Edge(value.terms[0].src, name))  # no layer entry: nothing integerized


def _raise_step(st, name, s):
    """Step s of neuron `name` raised so that theta = 2 keeps its weights within w_bits (its
    calibrated step was below 2 u_min). The QANN's Q-ReLU takes the same step, so it stays the
    SNN's reference; the report names the layer (`scale_calibrated`)."""
    st.scales[name] = s
    op_name = st.part_of.get(name, name)
    op = next((o for o in st.qann.ops if o.name == op_name), None)
    if op is not None and op_name == name and op.kind == "qrelu":
        with torch.no_grad():
            st.qann.layers[op.key].scale.fill_(s)
    return s


def integerize(st):
    """Build every neuron / readout node with its integer synapse chains and bias."""
    o = st.options
    wbits = int(o.w_bits)
    if not 2 <= wbits <= 32:
        raise CompileError(f"w_bits must be an integer in [2, 32], not {o.w_bits!r}")
    wmax = _wmax(wbits)
    q = st.qann
    lo, hi = o.input_range
    st.nodes["input"] = ir.Source(q.input_shape, "analog", R=1, x_bits=ir.bits_for(min(lo, 0), max(hi, 0)))
    for name, kind, value, s in st.pending:
        for t in value.terms:  # a step raised upstream (below) changes the value of a count
            t.scale = st.scales.get(t.src, t.scale)
        if kind == "maxpool":
            _maxpool(st, name, value)
            continue
        u_min = max((_term_umin(q, t, wmax) for t in value.terms), default=0.0)
        s_calibrated = s
        if kind == "neuron" and 0 < s < 2 * u_min:
            s = _raise_step(st, name, 2 * u_min)
        if kind == "neuron":
            theta = choose_theta(s, u_min, o.thresholds, o.max_theta)
            u = s / theta
        else:
            theta = None
            u = (u_min if o.thresholds == "max" else _pow2_at_least(u_min)) if u_min > 0 else 1.0
            b_peak = float(value.bias.abs().max()) if value.bias.numel() else 0.0
            if b_peak > _BIAS_UNITS * wmax * u:  # a bias of many always-on units: coarser logits
                u = b_peak / (_BIAS_UNITS * wmax)
                u = u if o.thresholds == "max" else _pow2_at_least(u)
        shape = tuple(value.shape)
        b_int = np.rint(value.bias.numpy() / u).astype(np.int64)  # compact: scalar, (C,1,1) or full
        if kind == "neuron":
            st.nodes[name] = ir.STBIF(shape, theta=np.array(theta), v0=np.array(theta // 2),
                                      bias=_compact(b_int), s_min=0, s_max=q.levels)
        else:
            st.nodes[name] = ir.Readout(shape)
        peak = 0
        for t in value.terms:
            peak = max(peak, _chain(st, t, u, name, wbits))
        if peak > wmax:
            need = ir.bits_for(-peak, peak)
            raise CompileError(f"layer '{name}': weights need {need} bits even at the smallest "
                               f"threshold theta=2 (max |W_int| = {peak}), not w_bits={wbits}")
        if kind == "readout" and np.any(b_int != 0):
            if len(shape) != 1:
                raise CompileError(f"layer '{name}': a bias on the output needs a 1-D output "
                                   f"(logits), not shape {shape}")
            b_int = np.broadcast_to(b_int, shape).reshape(-1)
            if not _bias_neurons(st, name, b_int, wbits):
                _bias_unit(st, name, b_int, value.terms[0].src, wbits)
        st.layers[name] = {"kind": kind, "scale": s, "unit": u, "theta": theta,
                           "u_min": u_min, "max_abs_w_int": peak,
                           "bias_max_abs": int(np.abs(b_int).max(initial=0))}
        if name in st.part_of and st.part_of[name] != name:
            st.layers[name]["qann_op"] = st.part_of[name]
            st.layers[name]["channels"] = list(st.part_slots.get(name, (0, shape[0])))
        if s != s_calibrated:
            st.layers[name]["scale_calibrated"] = s_calibrated
    return st
