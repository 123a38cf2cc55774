"""Bound on the weights a back end stores when it folds a synapse chain into one matrix.

A mapping (hwsnn.mappings.place, Loihi) multiplies a chain pool -> conv out into one weight per
(input neuron, output neuron). Where pool windows overlap (ResNet's 3x3 / stride 2 max pool),
an input pixel lies in several windows, and its folded weight is the sum of the conv taps that
read those windows: up to ceil(kh/sh) * ceil(kw/sw) taps. A pool after the weighted op sums up
to kh * kw taps. `folded_peak` gives (B, n): every folded |weight| <= B (float weights) and sums
at most n taps, so with u >= B f / (wmax - n/2) the rounded taps still sum to <= wmax.
"""

import math

import torch
import torch.nn.functional as F

__all__ = ["folded_peak"]


def _overlap(op):
    (kh, kw), (sh, sw) = op.attrs["kernel"], op.attrs["stride"]
    return math.ceil(kh / sh) * math.ceil(kw / sw)


def folded_peak(module_of, t, peak):
    """(B, n) for term `t` whose first weighted op has max |W| = `peak` (see module doc);
    (peak, 1) when nothing is summed."""
    ops = t.ops
    first = next((i for i, op in enumerate(ops) if op.kind in ("conv", "linear")), None)
    if first is None:
        return peak, 1
    bound, taps = peak, 1
    for op in ops[first + 1:]:
        if op.kind == "avgpool":  # pool after the weighted op: conservative k^2 taps
            kh, kw = op.attrs["kernel"]
            bound, taps = bound * kh * kw, taps * kh * kw
        elif op.kind in ("conv", "linear"):
            break
    pools = [op for op in ops[:first] if op.kind == "avgpool"]
    if not pools or all(_overlap(p) == 1 for p in pools):
        return bound, taps
    last = pools[-1]
    for p in pools[:-1]:  # several pools before: conservative
        bound, taps = bound * _overlap(p), taps * _overlap(p)
    if _overlap(last) == 1:
        return bound, taps
    w = module_of(ops[first]).weight.detach().abs().float()
    c, oh, ow = last.shape
    k = w.reshape(-1, 1, *w.shape[2:]) if w.ndim == 4 else w.reshape(-1, 1, oh, ow)
    ones = torch.ones((1, 1, *last.attrs["kernel"]), dtype=k.dtype)
    summed = float(F.conv_transpose2d(k, ones, stride=last.attrs["stride"]).max())
    return bound * summed / peak if peak else bound, taps * _overlap(last)
