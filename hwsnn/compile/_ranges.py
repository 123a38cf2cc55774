"""Range analysis for every neuron type: prove each membrane V and tracer S register fits.

Interval analysis on cumulative counts, valid for any delays and at every step. Up to any
step, a spiking node has emitted in total C, with C in
  Source analog [min(lo, 0), max(hi, 0)] (partial releases of q); rate [0, T];
  bits and ILIF: [0, 2^T - 1] (the Horner prefix an ILIF / horner Readout sees; it holds
  the plain count too); STBIF [s_min, s_max]; IF and CaLIF: derived below.
Synapses are linear, so a neuron's cumulative input Z = sum_j W_j C_j lies in [Z_lo, Z_hi].
Intervals are kept per channel where that is all a layer needs: a Conv2d's bound per output
channel is, per kernel tap, the sum over input channels c of max(W lo_c, W hi_c), summed over
the taps inside the input (padding reads 0) and maximised over the few classes of output
positions that see the same taps: no convolution at full resolution. Dense is exact per neuron.

The drive D = Z + released bias (- t*leak for Ca-LIF, t <= T) also lies in an interval. Each
neuron then satisfies two bounds, and its register is bounded by their intersection:
  identity: V = v0 + D - theta*S (V' before reset: S of the step before), S in [S_lo, S_hi];
  one spike per step: after an up spike V >= a_lo, after a down spike V <= a_hi, and in
  between V moves only with D, so V in [min(v0 + D_lo, a_lo + D_lo - D_hi),
  max(v0 + D_hi, a_hi + D_hi - D_lo)] (STBIF a = [0, theta-1]; IF has no down spike;
  Ca-LIF a = [-theta//2, (theta-1)//2] with its settle phase).
S of an IF / Ca-LIF without s_max, and of a Ca-LIF without gate, follows from the identity.
ILIF: accumulate A = Horner prefix of I (+ bias) in [Z_lo + min(b, 0), Z_hi + max(b, 0)];
generate V = 2V - y*theta (y = 1 only if 2V >= theta, leaving V >= 0) stays within
[2^T min(A_lo, 0), 2^T max(A_hi, 0)], the transient 2V included.
Readout (also horner): V = Z. Bounds are exact integers in float64 (below 2^52, else RangeError).
"""

from dataclasses import replace

import numpy as np

from .. import ir
from ..errors import CompileError, RangeError
from ..ir._verify import out_shape

__all__ = ["analyze_ranges", "bounds", "register_bounds", "fit_widths"]

_LIMIT = 2.0 ** 52
_CHUNK = 1 << 21  # weights per block


def _f(a):
    return np.asarray(a, dtype=np.float64)


def _check(name, what, *arrays):
    m = max(float(np.abs(a).max(initial=0)) for a in arrays)
    if m >= _LIMIT:
        raise RangeError(f"node '{name}': {what} bound {m:.0f} exceeds 2^52")


def _row_parts(W, cols=slice(None)):
    """Row sums of the positive and of the negative weights of W[:, cols] (int64), a chunk of
    rows at a time so no wide copy of a large W is made."""
    n_out = W.shape[0]
    pos, neg = np.empty(n_out, np.int64), np.empty(n_out, np.int64)
    rows = max(1, _CHUNK // max(W.shape[1], 1))
    for r in range(0, n_out, rows):
        w = W[r:r + rows, cols]
        pos[r:r + rows] = np.maximum(w, 0).sum(axis=1, dtype=np.int64)
        neg[r:r + rows] = w.sum(axis=1, dtype=np.int64) - pos[r:r + rows]
    return pos, neg


def _dense(name, W, lo, hi):
    """Exact [lo', hi'] of W @ x for x in [lo, hi] (lo, hi broadcastable to (in,)). Inputs that
    share one interval (all of them when it is a scalar) are summed first: a few passes over W
    in its own dtype instead of a float64 copy."""
    n_in = W.shape[1]
    lo, hi = np.broadcast_to(lo, (n_in,)), np.broadcast_to(hi, (n_in,))
    if lo.min() == lo.max() and hi.min() == hi.max():  # one interval for every input
        pairs, which = np.array([[lo[0]], [hi[0]]]), None
    else:
        pairs, which = np.unique(np.stack([lo, hi]), axis=1, return_inverse=True)
    if pairs.shape[1] > 8:  # many distinct intervals: float64 matrix products, chunked
        return _dense_f64(name, W, lo, hi)
    out_lo, out_hi, mag = 0.0, 0.0, 0.0
    for k, (plo, phi) in enumerate(pairs.T):
        cols = slice(None) if pairs.shape[1] == 1 else np.flatnonzero(which.reshape(-1) == k)
        pos, neg = _row_parts(W, cols)
        out_lo = out_lo + pos * plo + neg * phi
        out_hi = out_hi + pos * phi + neg * plo
        mag = mag + (pos - neg) * max(abs(plo), abs(phi))
    _check(name, "partial sum", mag)
    return _f(out_lo), _f(out_hi)


def _dense_f64(name, W, lo, hi):
    n_out, n_in = W.shape
    mag = np.maximum(np.abs(lo), np.abs(hi))
    out_lo, out_hi = np.empty(n_out), np.empty(n_out)
    rows = max(1, _CHUNK // max(n_in, 1))
    for r in range(0, n_out, rows):
        w = W[r:r + rows].astype(np.float64)
        wp = np.maximum(w, 0)
        w -= wp  # now the negative part
        _check(name, "partial sum", (wp - w) @ mag)
        out_lo[r:r + rows] = wp @ lo + w @ hi
        out_hi[r:r + rows] = wp @ hi + w @ lo
    return out_lo, out_hi


def _tap_masks(n_in, n_out, k, stride, pad):
    """Distinct 0/1 masks of the kernel taps that land inside the input, over the output rows
    (or columns): (masks, k). Padded taps read 0, so each mask is one class of positions."""
    rows = {tuple(0 <= y * stride - pad + t < n_in for t in range(k)) for y in range(n_out)}
    return np.array(sorted(rows), dtype=np.float64)


def _conv(name, node, lo, hi, in_shape):
    """Per output channel [lo', hi'] (C_out, 1, 1) of Conv2d `node` for input channels in
    [lo, hi] (scalar or per channel, the hull over positions taken first): per kernel tap the
    sum over input channels of min / max(W lo_c, W hi_c), then the extreme over the classes of
    output positions that see the same taps inside the input. No convolution of a map."""
    W = node.W
    c_out, cg, kh, kw = W.shape
    c_in = cg * node.groups
    lo = np.broadcast_to(lo.min(axis=(1, 2)) if lo.ndim == 3 else lo, (c_in,))
    hi = np.broadcast_to(hi.max(axis=(1, 2)) if hi.ndim == 3 else hi, (c_in,))
    tap_lo, tap_hi = np.empty((c_out, kh, kw)), np.empty((c_out, kh, kw))
    mag = np.empty(c_out)
    rows = max(1, _CHUNK // max(W[0].size, 1))
    if lo.min() == lo.max() and hi.min() == hi.max():  # one interval for every channel
        plo, phi = float(lo[0]), float(hi[0])
        for r in range(0, c_out, rows):
            w, sl = W[r:r + rows], slice(r, r + rows)
            pos = np.maximum(w, 0).sum(axis=1, dtype=np.int64)
            neg = w.sum(axis=1, dtype=np.int64) - pos
            tap_lo[sl], tap_hi[sl] = pos * plo + neg * phi, pos * phi + neg * plo
            mag[sl] = (pos - neg).sum(axis=(1, 2)) * max(abs(plo), abs(phi))
        return _conv_out(name, node, in_shape, tap_lo, tap_hi, mag)
    group = np.arange(c_out) // (c_out // node.groups)
    glo, ghi = lo.reshape(node.groups, cg)[group], hi.reshape(node.groups, cg)[group]
    gmag = np.maximum(np.abs(glo), np.abs(ghi))
    for r in range(0, c_out, rows):
        w = W[r:r + rows].astype(np.float64)
        wp = np.maximum(w, 0)
        w -= wp  # now the negative part
        sl = slice(r, r + rows)
        tap_lo[sl] = np.einsum("ocyx,oc->oyx", wp, glo[sl]) + np.einsum("ocyx,oc->oyx", w, ghi[sl])
        tap_hi[sl] = np.einsum("ocyx,oc->oyx", wp, ghi[sl]) + np.einsum("ocyx,oc->oyx", w, glo[sl])
        mag[sl] = np.einsum("ocyx,oc->o", wp - w, gmag[sl])
    return _conv_out(name, node, in_shape, tap_lo, tap_hi, mag)


def _conv_out(name, node, in_shape, tap_lo, tap_hi, mag):
    """Per-channel extremes over the classes of output positions, from per-tap bounds."""
    _check(name, "partial sum", mag)
    kh, kw = node.W.shape[2:]
    (_, h, wd), (sh, sw), (ph, pw) = in_shape, node.stride, node.padding
    my = _tap_masks(h, (h + 2 * ph - kh) // sh + 1, kh, sh, ph)
    mx = _tap_masks(wd, (wd + 2 * pw - kw) // sw + 1, kw, sw, pw)
    out_lo = np.einsum("oyx,my,nx->omn", tap_lo, my, mx).min(axis=(1, 2))
    out_hi = np.einsum("oyx,my,nx->omn", tap_hi, my, mx).max(axis=(1, 2))
    return out_lo.reshape(-1, 1, 1), out_hi.reshape(-1, 1, 1)


def _synapse(name, node, lo, hi, in_shape):
    """Interval image of one synapse; ends are arrays broadcastable to its output shape."""
    if isinstance(node, ir.Dense):
        return _dense(name, node.W, lo.reshape(-1) if lo.ndim else lo, hi.reshape(-1) if hi.ndim else hi)
    if isinstance(node, ir.Conv2d):
        return _conv(name, node, lo, hi, in_shape)
    if isinstance(node, ir.SumPool2d):
        k = node.kernel[0] * node.kernel[1]
        if lo.ndim == 3:
            lo, hi = lo.min(axis=(1, 2), keepdims=True), hi.max(axis=(1, 2), keepdims=True)
        return k * lo, k * hi
    if isinstance(node, ir.Scale):
        w = _f(node.w)
        return np.minimum(w * lo, w * hi), np.maximum(w * lo, w * hi)
    if isinstance(node, ir.Flatten):
        if lo.ndim == 0:
            return lo, hi
        return (np.broadcast_to(lo, in_shape).reshape(-1), np.broadcast_to(hi, in_shape).reshape(-1))
    raise CompileError(f"node '{name}': no range rule for synapse type {node.type}")


def _source(node, input_range):
    qlo, qhi = input_range
    if node.encoding == "analog":
        return min(qlo, 0), max(qhi, 0)
    if node.encoding == "rate":
        return 0, node.T
    return 0, 2 ** node.T - 1


def _one_spike(v0, dlo, dhi, a_lo, a_hi):
    """V bound from 'one spike per step' (module docstring); a_hi None: no down spikes."""
    lo = np.minimum(v0 + dlo, a_lo + dlo - dhi)
    hi = v0 + dhi if a_hi is None else np.maximum(v0 + dhi, a_hi + dhi - dlo)
    return lo, hi


def _neuron(name, node, zlo, zhi):
    """(V_lo, V_hi, S_lo, S_hi) arrays of a neuron or readout with cumulative input in [zlo, zhi]."""
    if isinstance(node, ir.Readout):
        return zlo, zhi, None, None
    th = _f(node.theta)
    if isinstance(node, ir.ILIF):
        b = _f(node.bias)
        alo, ahi = zlo + np.minimum(b, 0), zhi + np.maximum(b, 0)
        return (2.0 ** node.T) * np.minimum(alo, 0), (2.0 ** node.T) * np.maximum(ahi, 0), 0, 2 ** node.T - 1
    if isinstance(node, ir.CaLIF):
        leak, v0 = _f(node.leak), 0.0
        dlo, dhi = zlo - node.T * np.maximum(leak, 0), zhi - node.T * np.minimum(leak, 0)
        vlo, vhi = _one_spike(v0, dlo, dhi, -(th // 2), (th - 1) // 2)
        # floor / ceil of float quotients: outward, so a rounding error cannot tighten them
        slo = 0 if node.gate else np.floor((dlo - vhi) / th)
        shi = node.s_max if node.s_max > 0 else np.ceil((dhi - vlo) / th)
    else:
        b, v0 = _f(node.bias), _f(node.v0)
        dlo, dhi = zlo + np.minimum(b, 0), zhi + np.maximum(b, 0)
        if isinstance(node, ir.STBIF):
            vlo, vhi = _one_spike(v0, dlo, dhi, 0, th - 1)
            slo, shi = node.s_min, node.s_max
        elif isinstance(node, ir.IF):
            vlo, vhi = _one_spike(v0, dlo, dhi, 0, None)
            slo, shi = 0, node.s_max if node.s_max > 0 else np.ceil((v0 + dhi - vlo) / th)
        else:
            raise CompileError(f"node '{name}': no range rule for {node.type}")
    # the identity V = v0 + D - theta*S with S in [slo, shi]
    vlo = np.maximum(vlo, v0 + dlo - shi * th)
    vhi = np.minimum(vhi, v0 + dhi - slo * th)
    return vlo, vhi, slo, shi


def bounds(graph, input_range):
    """Interval analysis of `graph` (module docstring) for Source values in `input_range`.

    Returns (cum, regs): cum[node] = (lo, hi) of the cumulative output of every Source,
    synapse and neuron (float64 arrays broadcastable to its shape: scalar, per channel or
    full); regs[node] = {"V": (lo, hi), "S": (lo, hi) or None} as Python ints for every
    neuron and readout (the extremes over the layer)."""
    cum, regs, shapes = {}, {}, {}
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            lo, hi = _source(node, input_range)
            cum[name], shapes[name] = (_f(lo), _f(hi)), node.shape
            continue
        if node.ROLE == "synapse":
            src = ins[0].src
            shapes[name] = out_shape(name, node, shapes[src])
            cum[name] = _synapse(name, node, *cum[src], shapes[src])
            continue
        if not ins:
            raise CompileError(f"node '{name}': no synapse ends in this {node.type}")
        zlo = sum(cum[e.src][0] for e in ins)
        zhi = sum(cum[e.src][1] for e in ins)
        vlo, vhi, slo, shi = _neuron(name, node, zlo, zhi)
        _check(name, "membrane V", vlo, vhi)
        shapes[name] = node.shape
        s = None
        if slo is not None:
            cum[name] = (_f(slo), _f(shi))
            _check(name, "tracer S", *cum[name])
            s = (int(np.min(slo)), int(np.max(shi)))
        regs[name] = {"V": (int(np.floor(np.min(vlo))), int(np.ceil(np.max(vhi)))), "S": s}
    return cum, regs


def register_bounds(graph, input_range):
    """{node: (V_lo, V_hi)} (Python ints) for every neuron and readout of `graph`."""
    return {name: r["V"] for name, r in bounds(graph, input_range)[1].items()}


def _widths(node, reg):
    """(v_bits, s_bits or None, V bound) that hold the register bound and the node's arrays."""
    lo, hi = reg["V"]
    arrays = [a for a in node.arrays().values() if a.size]
    lo = min([lo] + [int(a.min()) for a in arrays])
    hi = max([hi] + [int(a.max()) for a in arrays])
    s_bits = None
    if reg["S"] is not None and hasattr(node, "s_bits"):
        s_bits = ir.bits_for(*reg["S"])
    return ir.bits_for(lo, hi), s_bits, (lo, hi)


def fit_widths(graph, input_range):
    """Copy of `graph` with every neuron's / readout's v_bits (and s_bits) set from the bounds."""
    _, regs = bounds(graph, input_range)
    nodes = dict(graph.nodes)
    for name, reg in regs.items():
        v_bits, s_bits, _ = _widths(nodes[name], reg)
        kw = {"v_bits": v_bits} if s_bits is None else {"v_bits": v_bits, "s_bits": s_bits}
        nodes[name] = replace(nodes[name], **kw)
    return ir.Graph(nodes, list(graph.edges), graph.name, dict(graph.meta))


def analyze_ranges(st):
    """Pass: set v_bits / s_bits of every neuron and readout from the bounds, or check a fixed
    v_bits (RangeError naming the layer and its bound if it does not fit)."""
    g = st.graph
    _, regs = bounds(g, st.options.input_range)
    fixed = st.options.v_bits
    for name, reg in regs.items():
        node = g.nodes[name]
        need, s_bits, (alo, ahi) = _widths(node, reg)
        if fixed is not None and name in st.layers:
            if need > fixed:
                rlo, rhi = ir.int_range(fixed)
                raise RangeError(f"layer '{name}': membrane V can reach [{alo}, {ahi}] (static "
                                 f"bound), which does not fit v_bits={fixed} [{rlo}, {rhi}]; "
                                 f"need v_bits >= {need}")
            need = fixed
        kw = {"v_bits": need} if s_bits is None else {"v_bits": need, "s_bits": s_bits}
        g.nodes[name] = replace(node, **kw)
        if name in st.layers:
            st.layers[name].update(v_bound=[alo, ahi], v_bits=need)
    return st
