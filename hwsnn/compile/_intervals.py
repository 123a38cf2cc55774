"""Interval images of synapses for the range analysis (`_ranges.py`): exact integer bounds in
float64, computed from weight sums, never by running a layer on full-size maps.

Dense: exact per neuron; inputs sharing one interval are summed first (row sums of the
positive and negative weights). Conv2d: per output channel, per kernel tap the sum over input
channels of min / max(W lo_c, W hi_c); the taps inside the input (padding reads 0) are summed
and the extreme taken over the few classes of output positions that see the same taps.
SumPool2d: k*k times the per-channel hull. Scale: elementwise. Flatten: the map, flattened.
"""

import numpy as np

from .. import ir
from ..errors import CompileError, RangeError

__all__ = ["synapse_interval", "source_interval", "check_limit", "LIMIT"]

LIMIT = 2.0 ** 52
_CHUNK = 1 << 21  # weights per block


def _f(a):
    return np.asarray(a, dtype=np.float64)


def check_limit(name, what, *arrays):
    m = max(float(np.abs(a).max(initial=0)) for a in arrays)
    if m >= LIMIT:
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
    check_limit(name, "partial sum", mag)
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
        check_limit(name, "partial sum", (wp - w) @ mag)
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
    check_limit(name, "partial sum", mag)
    kh, kw = node.W.shape[2:]
    (_, h, wd), (sh, sw), (ph, pw) = in_shape, node.stride, node.padding
    my = _tap_masks(h, (h + 2 * ph - kh) // sh + 1, kh, sh, ph)
    mx = _tap_masks(wd, (wd + 2 * pw - kw) // sw + 1, kw, sw, pw)
    out_lo = np.einsum("oyx,my,nx->omn", tap_lo, my, mx).min(axis=(1, 2))
    out_hi = np.einsum("oyx,my,nx->omn", tap_hi, my, mx).max(axis=(1, 2))
    return out_lo.reshape(-1, 1, 1), out_hi.reshape(-1, 1, 1)


def _exp(node, lo, hi):
    """floor(2^w_exp * sum) is monotone: the ends map through it (a per-step bound; w_exp is
    nonzero only into CUBALIF nodes, whose inputs are bounded per step)."""
    if not node.w_exp:
        return lo, hi
    return np.floor(_f(lo) * 2.0 ** node.w_exp), np.floor(_f(hi) * 2.0 ** node.w_exp)


def synapse_interval(name, node, lo, hi, in_shape):
    """Interval image of one synapse; ends are arrays broadcastable to its output shape."""
    if isinstance(node, ir.Dense):
        return _exp(node, *_dense(name, node.W, lo.reshape(-1) if lo.ndim else lo,
                                  hi.reshape(-1) if hi.ndim else hi))
    if isinstance(node, ir.Conv2d):
        return _exp(node, *_conv(name, node, lo, hi, in_shape))
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


def source_interval(node, input_range):
    qlo, qhi = input_range
    if node.encoding == "analog":
        return min(qlo, 0), max(qhi, 0)
    if node.encoding == "rate":
        return 0, node.T
    return 0, 2 ** node.T - 1
