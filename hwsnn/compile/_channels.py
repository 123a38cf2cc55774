"""Channel concatenation, channel maps and per-channel affine maps in the symbolic values.

No IR node stands for them: the compiler folds them away.
- A term carries a pending channel map `chmap` (out channel j = channel chmap[j] of the term's
  ops output, -1 = zero) over `pre` channels, and (without a weighted op) a per-channel `gain`.
  `torch.cat` places each input's terms in their channel slot; chunk, split and shuffle compose
  maps. Pools commute with them (per channel); a flatten turns them into maps of features.
- A weighted op after a map reads the source channels directly: its input columns are gathered
  (`fold_map`); a depthwise conv gathers its kernels and keeps the map after it. A gain folds
  into the next weighted op's columns; an affine after a weighted op scales its rows.
- A neuron whose input still carries maps is split into one IR neuron per channel slot
  (`split`): a Q-ReLU is elementwise, so relu(cat(a, b)) = cat(relu(a), relu(b)), and the
  parts read on as a concatenation (DenseNet: BatchNorm and ReLU after each concatenation).
"""

from dataclasses import replace

import numpy as np
import torch

from ..convert import Op
from ..errors import CompileError
from ._state import Value

__all__ = ["map_value", "cat_values", "affine_value", "fold_map", "split", "placement"]


def _module(qann, op):
    return op.attrs["module"] if "module" in op.attrs else qann.module(op)


def _per_channel(b, c, ndim):
    """Bias `b` (scalar, per channel or full) as per channel (c, 1, ...) or full."""
    if b.ndim == 0:
        return b.expand(c).reshape(c, *([1] * (ndim - 1))).clone()
    return b


def placement(a, b, c):
    """Map that puts `b - a` channels at [a, b) of `c` channels."""
    idx = np.full(c, -1, dtype=np.int64)
    idx[a:b] = np.arange(b - a)
    return idx


def _map_term(t, idx, pre):
    if t.chmap is None:
        return replace(t, ops=list(t.ops), chmap=idx, pre=pre)
    old = t.chmap
    return replace(t, ops=list(t.ops), chmap=np.where(idx >= 0, old[np.maximum(idx, 0)], -1))


def _map_bias(bias, idx, shape):
    if bias.ndim == 0 and (not bool(bias.any()) or (idx >= 0).all()):
        return bias
    b = _per_channel(bias, int(max(idx.max(initial=0) + 1, 1)) if bias.ndim == 0 else bias.shape[0],
                     len(shape))
    i = torch.as_tensor(np.maximum(idx, 0))
    out = b.index_select(0, i) if b.shape[0] > 1 or len(i) == 1 else b.expand(len(i), *b.shape[1:]).clone()
    keep = torch.as_tensor(idx >= 0, dtype=out.dtype).reshape(-1, *([1] * (out.ndim - 1)))
    return out * keep


def map_value(value, index, shape):
    """`value` after the channel map `index` (out channel j = in channel index[j])."""
    idx = np.asarray(index, dtype=np.int64)
    terms = [_map_term(t, idx, value.shape[0]) for t in value.terms]
    return Value(terms, _map_bias(value.bias, idx, value.shape), tuple(shape))


def cat_values(values, shape):
    """Channel concatenation of `values`: each input's terms placed in their slot."""
    c, terms, biases, a = shape[0], [], [], 0
    full = any(v.bias.ndim == len(v.shape) and tuple(v.bias.shape[1:]) == tuple(v.shape[1:])
               and v.bias[0].numel() > 1 for v in values)
    for v in values:
        n = v.shape[0]
        terms += [_map_term(t, placement(a, a + n, c), n) for t in v.terms]
        b = _per_channel(v.bias, n, len(v.shape))
        biases.append(b.expand(v.shape).clone() if full else b.expand(n, *b.shape[1:]))
        a += n
    return Value(terms, torch.cat(biases, 0), tuple(shape))


def _pull_back(t, k):
    """Per-channel factor k (over the term's output channels) as a factor over its ops' output."""
    if t.chmap is None:
        return k
    idx, valid = t.chmap, t.chmap >= 0
    pre = np.ones(t.pre)
    pre[idx[valid]] = k[valid]
    if not np.array_equal(pre[idx[valid]], k[valid]):
        raise CompileError("a per-channel affine (BatchNorm) gives one channel two factors after "
                           "a channel map that copies it")
    return pre


def _scaled(qann, op, rows=None, cols=None):
    """Op whose module is a float64 copy of op's with weight rows / columns scaled."""
    m = _module(qann, op)
    new = type(m).__new__(type(m))
    new.__dict__.update(m.__dict__)
    new._parameters = dict(m._parameters)
    w = m.weight.detach().double().clone()
    if rows is not None:
        w *= torch.as_tensor(rows).reshape(-1, *([1] * (w.ndim - 1)))
    if cols is not None:
        if getattr(m, "groups", 1) > 1:  # depthwise: one input channel per kernel
            w *= torch.as_tensor(cols).reshape(-1, *([1] * (w.ndim - 1)))
        else:
            w *= torch.as_tensor(cols).reshape(1, -1, *([1] * (w.ndim - 2)))
    new._parameters["weight"] = torch.nn.Parameter(w, requires_grad=False)
    new._parameters["bias"] = None
    return Op(op.name, op.kind, op.inputs, "", op.shape, op.source, dict(op.attrs, module=new))


def affine_value(qann, value, op):
    """`value` after the per-channel affine op (a BatchNorm kept by convert)."""
    m = qann.module(op)
    k, b = m.k.double(), m.b.double()
    nd = len(value.shape)
    kv = k.reshape(-1, *([1] * (nd - 1)))
    bias = value.bias * kv + b.reshape(-1, *([1] * (nd - 1)))
    terms = []
    for t in value.terms:
        kpre = _pull_back(t, k.numpy())
        w = [i for i, o in enumerate(t.ops) if o.kind in ("conv", "linear")]
        if w and all(o.kind == "avgpool" for o in t.ops[w[-1] + 1:]):
            ops = list(t.ops)
            ops[w[-1]] = _scaled(qann, ops[w[-1]], rows=kpre)
            terms.append(replace(t, ops=ops))
        elif w:
            raise CompileError(f"layer '{op.name}': a BatchNorm after '{t.ops[w[-1]].name}' and a "
                               f"flatten cannot fold into its weights")
        else:
            gain = kpre if t.gain is None else t.gain * kpre
            terms.append(replace(t, ops=list(t.ops), gain=gain))
    return Value(terms, bias, value.shape)


def fold_map(qann, t, op):
    """Term `t` (carrying a map and/or gain) followed by weighted `op`: (term, op') where op'
    reads t's ops output directly; a depthwise conv keeps the map after itself."""
    m = _module(qann, op)
    w = m.weight.detach().double()
    groups = getattr(m, "groups", 1)
    chmap, out_map = t.chmap, None
    if groups > 1 and w.shape[1] != 1:
        raise CompileError(f"layer '{op.name}': a grouped conv (groups={groups}) after a channel "
                           f"map or affine cannot fold")
    mult = w.shape[0] // groups
    if chmap is None:
        new_w = w
    elif groups == 1:
        new_w = torch.zeros((w.shape[0], t.pre, *w.shape[2:]), dtype=torch.float64)
        valid = torch.as_tensor(chmap >= 0)
        new_w.index_add_(1, torch.as_tensor(chmap[chmap >= 0]), w[:, valid])
    else:  # depthwise: kernel of channel j moves to source channel chmap[j]
        used = chmap[chmap >= 0]
        if len(np.unique(used)) != len(used):
            raise CompileError(f"layer '{op.name}': a depthwise conv after a map that copies a channel")
        new_w = torch.zeros((t.pre * mult, 1, *w.shape[2:]), dtype=torch.float64)
        out_map = np.full(groups * mult, -1, dtype=np.int64)
        for j, c in enumerate(chmap):
            if c >= 0:
                new_w[c * mult:(c + 1) * mult] = w[j * mult:(j + 1) * mult]
                out_map[j * mult:(j + 1) * mult] = np.arange(c * mult, (c + 1) * mult)
    if t.gain is not None:  # a factor per input channel of the new layer
        g = torch.as_tensor(np.asarray(t.gain, dtype=np.float64).reshape(-1))
        if groups > 1:
            new_w = new_w * g.repeat_interleave(mult).reshape(-1, 1, 1, 1)
        else:
            new_w = new_w * g.reshape(1, -1, *([1] * (new_w.ndim - 2)))
    mod = type(m).__new__(type(m))
    mod.__dict__.update(m.__dict__)
    mod._parameters = {"weight": torch.nn.Parameter(new_w, requires_grad=False), "bias": None}
    if groups > 1:
        mod.groups = mod.in_channels = new_w.shape[0] // mult
        mod.out_channels = new_w.shape[0]
    elif hasattr(mod, "in_channels"):
        mod.in_channels = new_w.shape[1]
    else:
        mod.in_features = new_w.shape[1]
    new_op = Op(op.name, op.kind, op.inputs, "", op.shape, op.source, dict(op.attrs, module=mod))
    pre = new_w.shape[0] if out_map is not None else None
    return replace(t, ops=list(t.ops), chmap=out_map, pre=pre, gain=None), new_op


def flatten_map(t, hw):
    """Term `t` with a map over channels, after a flatten of (C, H, W): a map over features."""
    if t.chmap is None and t.gain is None:
        return t
    idx = None
    if t.chmap is not None:
        base = np.where(t.chmap >= 0, t.chmap * hw, -1)
        idx = (base[:, None] + np.arange(hw)[None, :]).reshape(-1)
        idx[np.repeat(t.chmap < 0, hw)] = -1
    gain = None if t.gain is None else np.repeat(t.gain, hw)
    return replace(t, ops=list(t.ops), chmap=idx, pre=t.pre * hw if idx is not None else None, gain=gain)


def _slot(t):
    """(a, b) when t's map places all its `pre` channels in order at [a, b); else None."""
    idx = t.chmap
    pos = np.flatnonzero(idx >= 0)
    if len(pos) != t.pre or (len(pos) and (pos[-1] - pos[0] + 1 != len(pos)
                                           or not np.array_equal(idx[pos], np.arange(t.pre)))):
        return None
    return int(pos[0]), int(pos[-1]) + 1


def split(name, value):
    """[(part name, part Value, (a, b) or None)] for a neuron reading `value` (module doc)."""
    if all(t.chmap is None for t in value.terms):
        return [(name, value, None)]
    c = value.shape[0]
    slots = {}
    for t in value.terms:
        s = (0, c) if t.chmap is None else _slot(t)
        if s is None:
            raise CompileError(f"layer '{name}': its input mixes channels of a concatenation in a "
                               f"way no weighted layer absorbs (a channel map straight into a neuron)")
        slots.setdefault(s, []).append(t)
    bounds = sorted(slots)
    for (a0, b0), (a1, b1) in zip(bounds, bounds[1:]):
        if a1 < b0:
            raise CompileError(f"layer '{name}': terms cover overlapping channel ranges "
                               f"[{a0}, {b0}) and [{a1}, {b1}) of a concatenation")
    covered = sum(b - a for a, b in bounds)
    if covered != c:
        raise CompileError(f"layer '{name}': {c - covered} of its {c} channels get no synapse "
                           f"(a concatenation part with bias only)")
    if len(bounds) == 1:
        return [(name, Value([replace(t, chmap=None, pre=None) for t in value.terms],
                             value.bias, value.shape), None)]
    parts = []
    for a, b in bounds:
        bias = value.bias if value.bias.ndim == 0 else value.bias[a:b]
        terms = [replace(t, chmap=None, pre=None) for t in slots[(a, b)]]
        parts.append((f"{name}.ch{a}_{b}", Value(terms, bias, (b - a, *value.shape[1:])), (a, b)))
    return parts
