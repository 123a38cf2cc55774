"""Register widths for graphs with any neuron type (STBIF, IF, ILIF, CaLIF, Readout).

Interval analysis on cumulative outputs C of spiking nodes (any delays, any step):
  Source analog [min(lo,0), max(hi,0)]; rate [0, T]; bits: the Horner value [0, 2^T - 1].
  STBIF [s_min, s_max]; IF [0, s_max]; ILIF codes [0, 2^T - 1]; CaLIF [0 or -s_max, s_max].
Synapses are linear, so a neuron's cumulative input Z lies in [Z_lo, Z_hi]. Register bounds
(b: total bias, |B_t - B_s| <= |b|):
  STBIF:  v0 + Z_lo + min(b,0) - s_max*theta  ..  v0 + Z_hi + max(b,0) - s_min*theta
  IF:     min(v0 + Z_lo + min(b,0), Z_lo - Z_hi - |b|)  ..  v0 + Z_hi + max(b,0)
          (after a spike V >= 0; later input lowers it by at most Z_hi - Z_lo + |b|)
  ILIF:   accumulate: Horner prefix of the input = a cumulative value, so within Z +- |b|;
          generate doubles V T times: |V| <= 2^T * (max|Z| + |b| + theta)
  CaLIF:  V_t = Z_t - t*leak - theta*S_t, |V| <= max|Z| + T*|leak| + (s_max + 1)*theta
  Readout: Z (a horner Readout holds Horner prefixes: also within Z).
Every bound is exact integer arithmetic in float64 (< 2^52, else RangeError).
"""

from dataclasses import replace

import numpy as np
import torch

from .. import ir
from ..compile._ranges import _apply  # interval image of one synapse (shared rule)
from ..errors import CompileError, RangeError

__all__ = ["fit_widths", "register_bounds"]

_LIMIT = 2.0 ** 52


def _t(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def _full(shape, v):
    return torch.full(tuple(shape), float(v), dtype=torch.float64)


def _neuron(name, node, zlo, zhi):
    """(V_lo, V_hi, C_lo, C_hi) of a neuron or readout with cumulative input in [zlo, zhi]."""
    if isinstance(node, ir.Readout):
        return zlo, zhi, None, None
    th = _t(node.theta)
    if isinstance(node, ir.STBIF):
        b, v0 = _t(node.bias), _t(node.v0)
        return (v0 + zlo + b.clamp(max=0) - node.s_max * th, v0 + zhi + b.clamp(min=0) - node.s_min * th,
                node.s_min, node.s_max)
    if isinstance(node, ir.IF):
        if node.s_max <= 0:
            raise CompileError(f"node '{name}': an IF node needs s_max > 0 for a static range "
                               f"bound, not s_max={node.s_max}")
        b, v0 = _t(node.bias), _t(node.v0)
        lo = torch.minimum(v0 + zlo + b.clamp(max=0), zlo - zhi - b.abs())
        return lo, v0 + zhi + b.clamp(min=0), 0, node.s_max
    if isinstance(node, ir.ILIF):
        m = torch.maximum(zlo.abs(), zhi.abs()) + _t(node.bias).abs() + th
        return -(2 ** node.T) * m, (2 ** node.T) * m, 0, 2 ** node.T - 1
    if isinstance(node, ir.CaLIF):
        if node.s_max <= 0:
            raise CompileError(f"node '{name}': a CaLIF node needs s_max > 0 for a static range "
                               f"bound, not s_max={node.s_max}")
        m = torch.maximum(zlo.abs(), zhi.abs()) + node.T * _t(node.leak).abs() + (node.s_max + 1) * th
        return -m, m, (0 if node.gate else -node.s_max), node.s_max
    raise CompileError(f"node '{name}': no range rule for {node.type}")


def register_bounds(graph, input_range):
    """{node: (V_lo, V_hi)} (Python ints) for every neuron and readout of `graph`."""
    cum, vreg = {}, {}
    qlo, qhi = input_range
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            lo, hi = {"analog": (min(qlo, 0), max(qhi, 0)), "rate": (0, node.T),
                      "bits": (0, 2 ** node.T - 1)}[node.encoding]
            cum[name] = (_full(node.shape, lo), _full(node.shape, hi))
            continue
        if node.ROLE == "synapse":
            cum[name] = _apply(node, *cum[ins[0].src])
            continue
        zlo = sum(cum[e.src][0] for e in ins)
        zhi = sum(cum[e.src][1] for e in ins)
        vlo, vhi, clo, chi = _neuron(name, node, zlo, zhi)
        if clo is not None:
            cum[name] = (_full(node.shape, clo), _full(node.shape, chi))
        lo, hi = float(torch.as_tensor(vlo).min()), float(torch.as_tensor(vhi).max())
        if max(abs(lo), abs(hi)) >= _LIMIT:
            raise RangeError(f"node '{name}': membrane V bound [{lo:.0f}, {hi:.0f}] exceeds 2^52")
        vreg[name] = (int(np.floor(lo)), int(np.ceil(hi)))
    return vreg


def fit_widths(graph, input_range):
    """Copy of `graph` with every neuron's / readout's v_bits (and s_bits) set from the bounds."""
    vreg = register_bounds(graph, input_range)
    nodes = dict(graph.nodes)
    for name, (lo, hi) in vreg.items():
        node = nodes[name]
        arrays = [a for a in node.arrays().values() if a.size]
        alo = min([lo] + [int(a.min()) for a in arrays])
        ahi = max([hi] + [int(a.max()) for a in arrays])
        kw = {"v_bits": ir.bits_for(alo, ahi)}
        if isinstance(node, (ir.STBIF, ir.IF, ir.CaLIF)):
            smax = node.s_max if node.s_max > 0 else 1
            kw["s_bits"] = ir.bits_for(-smax, smax)
        nodes[name] = replace(node, **kw)
    return ir.Graph(nodes, list(graph.edges), graph.name, dict(graph.meta))
