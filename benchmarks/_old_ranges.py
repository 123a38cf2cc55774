"""Peer for benchmarks/compile_speed.py: the range analysis as it was before the merge (commit
22d3256, hwsnn/compile/_ranges.py `bounds`): per-neuron intervals, two float64 conv2d at full
resolution per Conv2d layer, ST-BIF and Readout only. Timed side by side with the new one."""

import torch
import torch.nn.functional as F

from hwsnn import ir
from hwsnn.errors import CompileError, RangeError

__all__ = ["bounds"]

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
