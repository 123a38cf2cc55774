"""Passes `trace` and `fold_scales`: check the QANN, then express every value symbolically
(terms over spiking nodes + a float bias map) and list the neurons and the readout."""

import math
from dataclasses import replace

import numpy as np

import torch
import torch.nn.functional as F
from torch import nn

from ..convert import QANN, Op
from ..errors import CompileError
from ._channels import affine_value, cat_values, flatten_map, fold_map, map_value, placement, split
from ._state import Term, Value

__all__ = ["trace", "fold_scales", "module_of"]


def trace(st):
    """The QANN's op list is the traced graph: check it is one and that its scales are usable."""
    q = st.qann
    if not isinstance(q, QANN):
        raise CompileError(f"compile needs a QANN from hwsnn.convert.convert, not {type(q).__name__}")
    o = st.options
    if not (isinstance(o.input_scale, (int, float)) and math.isfinite(o.input_scale) and o.input_scale > 0):
        raise CompileError(f"input_scale must be a positive number, not {o.input_scale!r}")
    lo, hi = o.input_range
    if int(lo) != lo or int(hi) != hi or lo > hi:
        raise CompileError(f"input_range must be two integers lo <= hi, not {o.input_range!r}")
    for op in q.qrelus:
        s = float(q.layers[op.key].scale.detach())
        if not (math.isfinite(s) and s > 0):
            raise CompileError(f"layer '{op.name}': Q-ReLU step s must be a positive number, not {s}")
    if [op.kind for op in q.ops].count("output") != 1:
        raise CompileError("the QANN must have exactly one output")
    return st


def _bias_through(op, mod, value):
    """The op's output for constant input map `value.bias` (its response to zero counts), kept
    compact (scalar or per channel) while it is constant: no full-size maps of zeros."""
    bias = value.bias
    if op.kind == "conv":
        out = mod.bias.detach().double().reshape(-1, 1, 1)
        if bool(bias.any()):  # float64 weights only when needed (VGG: 0.8 GB for one layer)
            w = mod.weight.detach().double()
            out = out + F.conv2d(value.full_bias()[None], w, None, mod.stride, mod.padding, 1, mod.groups)[0]
        return out
    if op.kind == "linear":
        b = mod.bias.detach().double()
        return b + (mod.weight.detach().double() @ value.full_bias() if bool(bias.any()) else 0)
    if op.kind == "avgpool":  # zero padding counts in the mean (count_include_pad)
        if not bool(bias.any()):
            return bias
        if "extra" in op.attrs:  # ceil_mode windows (convert's CeilAvgPool)
            return mod(value.full_bias()[None])[0]
        return F.avg_pool2d(value.full_bias()[None], op.attrs["kernel"], op.attrs["stride"],
                            op.attrs.get("padding", 0))[0]
    if op.kind == "flatten":
        return bias if bias.ndim == 0 else value.full_bias().reshape(-1)
    raise CompileError(f"layer '{op.name}': no folding rule for kind {op.kind!r}")


def module_of(qann, op):
    """The nn.Module holding op's weights (a composed op carries its own)."""
    return op.attrs["module"] if "module" in op.attrs else qann.module(op)


def _is_1x1(m):
    """A 1x1 stride-1 unpadded conv (grouped or not): it commutes with any pool."""
    return (isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1) and tuple(m.stride) == (1, 1)
            and tuple(m.padding) == (0, 0))


def _is_pointwise(m):
    return (isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1) and tuple(m.stride) == (1, 1)
            and tuple(m.padding) == (0, 0) and m.groups == 1)


def _ungrouped(w, groups):
    """The (C_out, C_in, kh, kw) weight of a grouped conv's (C_out, C_in / groups, kh, kw) one."""
    co, ci = w.shape[0], w.shape[1]
    full = torch.zeros((co, ci * groups, *w.shape[2:]), dtype=w.dtype)
    per = co // groups
    for g in range(groups):
        full[g * per:(g + 1) * per, g * ci:(g + 1) * ci] = w[g * per:(g + 1) * per]
    return full


def _compose(qann, first, op):
    """One op for `op` applied right after weighted op `first` with no activation between
    (MobileNetV2's linear bottleneck: project 1x1 conv, then the next block's 1x1 expand).
    Exact when the two are Linear, Linear or one of two convs is a 1x1, stride 1, unpadded,
    ungrouped conv; biases are not composed (they flow through `_bias_through` op by op)."""
    a, b = module_of(qann, first), module_of(qann, op)
    wa, wb = a.weight.detach().double(), b.weight.detach().double()
    if isinstance(a, nn.Conv2d) and a.groups > 1 and _is_pointwise(b):  # depthwise, then 1x1
        wa = _ungrouped(wa, a.groups)
        a = nn.Conv2d(wa.shape[1], wa.shape[0], a.kernel_size, a.stride, a.padding, bias=False,
                      device="meta")
    if isinstance(a, nn.Linear) and isinstance(b, nn.Linear):
        m = nn.Linear(a.in_features, b.out_features, dtype=torch.float64)
        w = wb @ wa
    elif isinstance(a, nn.Conv2d) and isinstance(b, nn.Conv2d) and _is_pointwise(b) and a.groups == 1:
        m = nn.Conv2d(a.in_channels, b.out_channels, a.kernel_size, a.stride, a.padding,
                      dtype=torch.float64)
        w = torch.einsum("om,mihw->oihw", wb[:, :, 0, 0], wa)
    elif isinstance(a, nn.Conv2d) and isinstance(b, nn.Conv2d) and _is_pointwise(a) and b.groups == 1:
        m = nn.Conv2d(a.in_channels, b.out_channels, b.kernel_size, b.stride, b.padding,
                      dtype=torch.float64)
        w = torch.einsum("omhw,mi->oihw", wb, wa[:, :, 0, 0])
    else:
        raise CompileError(f"layer '{op.name}': {op.kind} directly after '{first.name}' with no "
                           f"activation between, and the two cannot be composed into one layer "
                           f"(needs Linear-Linear or a 1x1 stride-1 ungrouped conv on one side)")
    with torch.no_grad():
        m.weight.copy_(w)
        m.bias.zero_()
    return Op(op.name, op.kind, op.inputs, "", op.shape, f"{first.name} then {op.name} composed",
              {"module": m, "composed": (first.name, op.name)})


def _pool_input(st, op, value, name=None):
    """The one term a max pool reads: the counts of a Q-ReLU, another max pool or a
    non-negative input, with no op or bias between (the IR's MaxPool2d reads spikes)."""
    t = value.terms[0] if len(value.terms) == 1 else None
    src_ok = t is not None and (t.src in st.scales or t.src in st.pools
                                or (t.src == "input" and st.options.input_range[0] >= 0))
    if not src_ok or t.ops or bool(value.bias.any()):
        raise CompileError(f"layer '{op.name}': an exact max pool must read a ReLU, another max "
                           f"pool or a non-negative input directly (nothing between); convert "
                           f"with pool='avg' to make it an average pool")
    st.pools.add(name or op.name)
    return t


def fold_scales(st):
    """Walk the ops: input -> Term(Source, s_in); linear ops extend every term of their input;
    add concatenates; a Q-ReLU (or the output) closes a pre-activation: it becomes a neuron
    (or the Readout) to integerize, and its output one Term(neuron, s)."""
    q, o = st.qann, st.options
    for op in q.ops:
        if op.kind == "input":
            st.values[op.name] = Value([Term("input", float(o.input_scale))],
                                       torch.zeros((), dtype=torch.float64), op.shape)
            continue
        ins = [st.values[n] for n in op.inputs]
        if op.kind == "add":
            st.values[op.name] = Value(ins[0].terms + ins[1].terms, ins[0].bias + ins[1].bias, op.shape)
        elif op.kind in ("conv", "linear", "avgpool", "flatten"):
            terms = []
            for t in ins[0].terms:
                top = op
                if op.kind in ("conv", "linear") and (t.chmap is not None or t.gain is not None):
                    t, top = fold_map(q, t, op)  # gather the input channels a map names
                elif op.kind == "flatten":
                    t = flatten_map(t, int(np.prod(ins[0].shape[1:])))
                if op.kind in ("conv", "linear") and t.weighted:
                    terms.append(replace(t, ops=t.ops[:-1] + [_compose(q, t.ops[-1], top)]))
                    continue
                if op.kind == "avgpool" and t.ops and t.ops[-1].kind == "conv" \
                        and _is_1x1(module_of(q, t.ops[-1])):
                    # a pool after a 1x1 conv goes before it (they commute): the pool then sits
                    # on the spikes, shared by every reader (DenseNet's transitions), and the
                    # conv runs at the pooled size
                    terms.append(replace(t, ops=t.ops[:-1] + [top, t.ops[-1]]))
                    continue
                terms.append(replace(t, ops=t.ops + [top]))
            with torch.no_grad():
                bias = _bias_through(op, q.module(op), ins[0])
            st.values[op.name] = Value(terms, bias, op.shape)
        elif op.kind == "cat":
            st.values[op.name] = cat_values(ins, op.shape)
        elif op.kind == "channels":
            st.values[op.name] = map_value(ins[0], op.attrs["index"], op.shape)
        elif op.kind == "affine":
            st.values[op.name] = affine_value(q, ins[0], op)
        elif op.kind == "qrelu":
            s = float(q.layers[op.key].scale.detach())
            terms = []
            for part, value, slot in split(op.name, ins[0]):  # one neuron per concatenated part
                st.pending.append((part, "neuron", value, s))
                st.scales[part] = s
                st.part_of[part] = op.name
                if slot is not None:
                    st.part_slots[part] = slot
                terms.append(Term(part, s) if slot is None else
                             Term(part, s, chmap=placement(*slot, op.shape[0]), pre=slot[1] - slot[0]))
            st.values[op.name] = Value(terms, torch.zeros((), dtype=torch.float64), op.shape)
        elif op.kind == "maxpool":
            terms = []
            for part, value, slot in split(op.name, ins[0]):  # one pool per concatenated part
                t = _pool_input(st, op, value, part)
                st.pending.append((part, "maxpool", value, t.scale))
                st.part_of[part] = op.name
                terms.append(Term(part, t.scale) if slot is None else
                             Term(part, t.scale, chmap=placement(*slot, op.shape[0]), pre=slot[1] - slot[0]))
            st.values[op.name] = Value(terms, torch.zeros((), dtype=torch.float64), op.shape)
        elif op.kind == "output":
            if len(split("output", ins[0])) > 1:
                raise CompileError("the output reads a channel concatenation with no weighted layer "
                                   "after it; the readout must be one layer")
            st.pending.append(("output", "readout", split("output", ins[0])[0][1], None))
        else:
            raise CompileError(f"layer '{op.name}': unknown op kind {op.kind!r}")
    return st
