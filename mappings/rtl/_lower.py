"""`lower(graph)`: IR -> a chain of neuron-core configurations with their memory images.

Passes (each a function of the previous result):
1. `chain`: the spiking nodes in order, each neuron/readout fed by exactly one spiking node
   (the one before it), through any chain of synapses.
2. `unroll`: the synapses between two spiking nodes become one dense integer matrix, found by
   pushing the unit vectors through the golden simulator's own synapse operators (exact:
   integer sums in float64 below 2^53). Dense, Conv2d, SumPool2d, Scale and Flatten all fold
   into it; several paths from the same node add up.
3. `configure`: one CoreConfig per neuron/readout node: bias rows b_t = release(bias, t, R),
   a shared-kernel conv layout for [SumPool2d ->] Conv2d layers (checked to give exactly the
   unrolled matrix, else the layer stays dense),
   widths from the IR (v_bits, s_bits) and from the values (w_bits, theta_bits), the
   accumulator width from the input bound.
The RTL delivers every edge with delay 1 (each core consumes the spikes its predecessor fired
in the previous step), so the network it computes is `graph.with_delays(1)`.
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from hwsnn.errors import MappingError
from hwsnn.ir import IF, STBIF, Conv2d, Readout, SumPool2d, verify
from hwsnn.rtl import CoreConfig
from hwsnn.rtl._config import ConvLayout
from hwsnn.sim import release
from hwsnn.sim._ops import SynapseOp

__all__ = ["RtlNetwork", "lower", "chain", "unroll", "DELAY"]

DELAY = 1  # every edge leaving a spiking node is delivered one step later


@dataclass(eq=False)
class RtlNetwork:
    """What `lower` returns: the cores in order, the node each one computes, the source."""

    graph: object          # the graph the RTL computes (with its delays)
    source: str
    nodes: list            # node name of core k
    cores: list            # CoreConfig of core k
    meta: dict = field(default_factory=dict)

    def summary(self):
        return [dict(node=n, **c.summary()) for n, c in zip(self.nodes, self.cores)]


def _spiking_inputs(graph, name):
    """Spiking nodes (Source or neuron) that feed `name` through synapse chains."""
    found, stack = [], [e.src for e in graph.inputs_of(name)]
    while stack:
        src = stack.pop()
        if graph.nodes[src].ROLE == "synapse":
            stack += [e.src for e in graph.inputs_of(src)]
        elif src not in found:
            found.append(src)
    return found


def chain(graph):
    """[(node, its spiking input)] in order; MappingError if the network is not a chain."""
    sources = graph.sources
    if len(sources) != 1:
        raise MappingError(f"graph '{graph.name}': the RTL network takes one Source, not {len(sources)}")
    order, prev = [], sources[0]
    for name in graph.topo_order():
        node = graph.nodes[name]
        if node.ROLE not in ("neuron", "readout"):
            continue
        ins = _spiking_inputs(graph, name)
        if ins != [prev]:
            raise MappingError(f"node '{name}': an RTL core takes the spikes of exactly one node, the "
                               f"one before it ('{prev}'), not {ins}")
        order.append((name, prev))
        prev = name
    if not order:
        raise MappingError(f"graph '{graph.name}': has no neuron or readout node to map")
    return order


def unroll(graph, name, src):
    """Dense matrix W (n_src, n_dst) with I_dst = x_src @ W for the synapses from src to name."""
    src_shape, dst_shape = graph.nodes[src].shape, graph.nodes[name].shape
    n_src = int(np.prod(src_shape))
    basis = torch.eye(n_src, dtype=torch.float64).reshape(n_src, *src_shape)
    out, bound = {src: basis}, {src: 1}
    for s in graph.topo_order():
        node = graph.nodes[s]
        if node.ROLE != "synapse":
            continue
        e = graph.inputs_of(s)[0]
        if e.src in out:
            op = SynapseOp(s, node, bound[e.src])  # picks a dtype exact for this bound
            out[s], bound[s] = op(out[e.src]).to(torch.float64), op.bound
    total = torch.zeros((n_src, *dst_shape), dtype=torch.float64)
    for e in graph.inputs_of(name):
        if e.src in out:
            total = total + out[e.src]
    return total.reshape(n_src, -1).numpy().astype(np.int64)


def conv_layout(graph, name, src):
    """ConvLayout when `name` is fed by [SumPool2d(k, stride k) ->] Conv2d(stride 1, groups 1)
    from `src`, else None. The caller checks it against the unrolled matrix."""
    ins = graph.inputs_of(name)
    if len(ins) != 1 or not isinstance(graph.nodes[ins[0].src], Conv2d):
        return None
    conv = graph.nodes[ins[0].src]
    if conv.stride != (1, 1) or conv.groups != 1:
        return None
    before = graph.inputs_of(ins[0].src)[0].src
    pool = 1
    if isinstance(graph.nodes[before], SumPool2d):
        p = graph.nodes[before]
        if p.kernel[0] != p.kernel[1] or p.stride != p.kernel:
            return None
        pool = p.kernel[0]
        before = graph.inputs_of(before)[0].src
    if before != src or len(graph.nodes[src].shape) != 3:
        return None
    Cs, Hs, Ws = graph.nodes[src].shape
    Hp, Wp = Hs // pool, Ws // pool
    c, h, w = np.meshgrid(np.arange(Cs), np.arange(Hs), np.arange(Ws), indexing="ij")
    ph, pw = h // pool, w // pool
    inside = (ph < Hp) & (pw < Wp)
    rows = np.stack([np.where(inside, c, -1), np.where(inside, ph, -1), np.where(inside, pw, -1)], -1)
    C, H, Wd = graph.nodes[name].shape
    return ConvLayout(C=C, H=H, W=Wd, K=conv.W, pad=conv.padding, rows=rows.reshape(-1, 3))


def _configure(graph, name, src, W, lanes, use_conv=True):
    node, s = graph.nodes[name], graph.nodes[src]
    n = W.shape[1]
    if s.ROLE == "source":
        analog = s.encoding == "analog"
        x_bits, in_bound = (s.x_bits, 1 << (s.x_bits - 1)) if analog else (2, 1)
    else:
        x_bits, in_bound = 2, 1
    common = dict(name=name, n=n, n_in=W.shape[0], lanes=min(lanes, n), x_bits=x_bits, in_bound=in_bound,
                  v_bits=node.v_bits)
    if isinstance(node, Readout):
        if node.horner:
            raise MappingError(f"node '{name}': a horner Readout belongs to the iLIF pipeline, "
                               f"not the neuron core")
        return CoreConfig(kind="readout", weights=W, theta=1, v0=0, s_bits=2, **common)
    if not isinstance(node, (STBIF, IF)):
        raise MappingError(f"node '{name}': the neuron core runs STBIF and IF nodes, not {node.type}")
    bias = np.broadcast_to(node.bias, node.shape).reshape(-1)
    R = node.bias_R if bias.any() else 0
    rows = [release(torch.as_tensor(bias.copy()), t, R).numpy() for t in range(R)]
    weights = np.concatenate([W] + [r[None] for r in rows], axis=0) if rows else W
    theta = np.broadcast_to(node.theta, node.shape).reshape(-1)
    v0 = np.broadcast_to(node.v0, node.shape).reshape(-1)
    layout = conv_layout(graph, name, src) if use_conv else None
    if layout is not None:
        common["lanes"] = min(lanes, layout.C)
    if isinstance(node, STBIF):
        cfg = CoreConfig(kind="stbif", weights=weights, theta=theta, v0=v0, bias_R=R, s_bits=node.s_bits,
                         s_min=node.s_min, s_max=node.s_max, conv=layout, **common)
    else:
        cfg = CoreConfig(kind="if", weights=weights, theta=theta, v0=v0, bias_R=R, s_bits=node.s_bits,
                         s_max=node.s_max, conv=layout, **common)
    if layout is not None and not np.array_equal(cfg.implied_weights(), W):
        cfg.conv = None  # the shared kernel does not reproduce the synapses: keep them dense
        cfg.lanes = min(lanes, n)
    return cfg


def lower(graph, target=None, *, lanes=None, conv=True):
    """Lower `graph` to an RtlNetwork. `target`: None or a dict with "lanes" (default 1).
    `conv`: give Conv2d layers (after an optional SumPool2d) a shared-kernel core; else every
    layer is a dense weight image."""
    verify(graph)
    if lanes is None:
        lanes = int((target or {}).get("lanes", 1))
    graph = graph.with_delays(DELAY)
    order = chain(graph)
    cores = [_configure(graph, name, src, unroll(graph, name, src), lanes, conv) for name, src in order]
    return RtlNetwork(graph=graph, source=graph.sources[0], nodes=[n for n, _ in order], cores=cores,
                      meta={"delay": DELAY, "lanes": lanes})
