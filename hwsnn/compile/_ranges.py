"""Pass `analyze_ranges`: prove every membrane V and tracer S register fits its width.

Interval analysis on cumulative counts. Up to any step t, a spiking node has emitted in total
C_t, with C_t in [0, q] (Source, analog: partial releases of q, q in input_range) or
C_t = S_t in [s_min, s_max] (ST-BIF). Synapses are linear, so the cumulative input of a neuron
Z_t = sum_j W_j C_j,t lies in [sum min(W lo, W hi), sum max(W lo, W hi)] (any delays). With
the released bias B_t between 0 and b, the identity V_t = v0 + Z_t + B_t - S_t * theta
(and V' before reset: S_{t-1} instead of S_t) bounds the register at every step:
    V in [v0 + Z_lo + min(b, 0) - s_max*theta,  v0 + Z_hi + max(b, 0) - s_min*theta].
A Readout holds V_t = Z_t. Exact integer arithmetic (int64 bounds via float64 < 2^53).
"""

import torch
import torch.nn.functional as F

from .. import ir
from ..errors import CompileError, RangeError

__all__ = ["analyze_ranges", "bounds"]

_LIMIT = 2.0 ** 52


def _apply(node, lo, hi):
    """Interval image [lo', hi'] of synapse `node` (float64 tensors, no batch dim)."""
    if isinstance(node, ir.Dense):
        w = torch.as_tensor(node.W, dtype=torch.float64)
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        return wp @ lo + wn @ hi, wp @ hi + wn @ lo
    if isinstance(node, ir.Conv2d):
        w = torch.as_tensor(node.W, dtype=torch.float64)
        wp, wn = w.clamp(min=0), w.clamp(max=0)
        conv = lambda x, k: F.conv2d(x[None], k, None, node.stride, node.padding, 1, node.groups)[0]
        return conv(lo, wp) + conv(hi, wn), conv(hi, wp) + conv(lo, wn)
    if isinstance(node, ir.SumPool2d):
        c = lo.shape[0]
        ones = torch.ones((c, 1, *node.kernel), dtype=torch.float64)
        pool = lambda x: F.conv2d(x[None], ones, None, node.stride, 0, 1, c)[0]
        return pool(lo), pool(hi)
    if isinstance(node, ir.Scale):
        w = torch.as_tensor(node.w, dtype=torch.float64)
        return torch.minimum(w * lo, w * hi), torch.maximum(w * lo, w * hi)
    if isinstance(node, ir.Flatten):
        return lo.reshape(-1), hi.reshape(-1)
    raise CompileError(f"no range rule for synapse type {node.type}")


def bounds(graph, input_range):
    """{node: (lo, hi)} of cumulative outputs (spiking nodes, synapses) and, for neurons and
    readouts, of the register V: {node: (V_lo, V_hi)} as a second dict (Python ints)."""
    cum, vreg = {}, {}
    qlo, qhi = input_range
    for name in graph.topo_order():
        node = graph.nodes[name]
        ins = graph.inputs_of(name)
        if node.ROLE == "source":
            shape = node.shape
            cum[name] = (torch.full(shape, float(min(qlo, 0)), dtype=torch.float64),
                         torch.full(shape, float(max(qhi, 0)), dtype=torch.float64))
            continue
        if node.ROLE == "synapse":
            cum[name] = _apply(node, *cum[ins[0].src])
            continue
        zlo = sum(cum[e.src][0] for e in ins)
        zhi = sum(cum[e.src][1] for e in ins)
        if isinstance(node, ir.Readout):
            vlo, vhi = zlo, zhi
        elif isinstance(node, ir.STBIF):
            b = torch.as_tensor(node.bias, dtype=torch.float64)
            v0 = torch.as_tensor(node.v0, dtype=torch.float64)
            th = torch.as_tensor(node.theta, dtype=torch.float64)
            vlo = v0 + zlo + b.clamp(max=0) - node.s_max * th
            vhi = v0 + zhi + b.clamp(min=0) - node.s_min * th
            shape = node.shape
            cum[name] = (torch.full(shape, float(node.s_min), dtype=torch.float64),
                         torch.full(shape, float(node.s_max), dtype=torch.float64))
        else:
            raise CompileError(f"node '{name}': range analysis supports STBIF and Readout, "
                               f"not {node.type}")
        lo, hi = float(vlo.min()), float(vhi.max())
        if max(abs(lo), abs(hi)) >= _LIMIT:
            raise RangeError(f"layer '{name}': membrane V bound [{lo:.0f}, {hi:.0f}] exceeds 2^52")
        vreg[name] = (int(lo), int(hi))
    return cum, vreg


def analyze_ranges(st):
    """Set v_bits / s_bits of every neuron and readout from the bounds, or check a fixed v_bits."""
    from dataclasses import replace

    g = st.graph
    _, vreg = bounds(g, st.options.input_range)
    fixed = st.options.v_bits
    for name, (lo, hi) in vreg.items():
        node = g.nodes[name]
        arrays = [a for a in node.arrays().values()]
        alo = min([lo] + [int(a.min()) for a in arrays if a.size])
        ahi = max([hi] + [int(a.max()) for a in arrays if a.size])
        need = ir.bits_for(alo, ahi)
        if fixed is not None and name in st.layers:
            if need > fixed:
                rlo, rhi = ir.int_range(fixed)
                raise RangeError(f"layer '{name}': membrane V can reach [{alo}, {ahi}] (static "
                                 f"bound), which does not fit v_bits={fixed} [{rlo}, {rhi}]; "
                                 f"need v_bits >= {need}")
            need = fixed
        kw = {"v_bits": need}
        if isinstance(node, ir.STBIF):
            kw["s_bits"] = ir.bits_for(node.s_min, node.s_max)
        g.nodes[name] = replace(node, **kw)
        if name in st.layers:
            st.layers[name].update(v_bound=[alo, ahi], v_bits=need)
    return st
