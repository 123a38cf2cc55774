"""Placement of a network onto neuromorphic cores, with design-rule checks (DRC).

A *layer* is a stateful node (neuron or Readout) with the synapse chains ending in it. Its
synapses are the folded chain matrices (hwsnn.ir.chains), summed per presynaptic node:
one axon per presynaptic neuron, one synapse per nonzero entry. Per layer:

1. DRC: stored weights (the folded values) must fit the target's `weight_bits` (signed; a
   CUBALIF's Loihi weights: magnitude bits when one-signed, W/2 signed when mixed),
   V must fit `state_bits`, one neuron's fan-in must fit `axons_per_core`, and its synapses
   must fit `synapses_per_core` and `synapse_memory_per_core` (synapses x weight_bits).
2. Greedy packing in C order: a core takes neurons while its neurons, the union of their input
   axons, its synapses and its synapse bits stay within the limits; then a new core starts.
   (Greedy, not optimal; C order keeps a Conv2d's overlapping receptive fields together.)

Cores never mix layers. The total must fit `chips x cores_per_chip` when the target states
`chips`; otherwise the number of chips needed is reported. Any violation raises MappingError
naming the layer, the limit, the amount by which it is exceeded, and a suggested fix.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from hwsnn.ir import chains
from hwsnn.errors import MappingError
from hwsnn.ir import bits_for, verify
from hwsnn.ir._loihi import loihi_weight_bits

__all__ = ["CoreUse", "LayerPlacement", "Placement", "place"]


@dataclass
class CoreUse:
    neurons: int
    axons: int
    synapses: int
    synapse_bits: int


@dataclass
class LayerPlacement:
    name: str
    type: str
    neurons: int
    max_fanin: int
    synapses: int
    weight_bits: int
    state_bits: int
    cores: list = field(default_factory=list)


@dataclass
class Placement:
    graph: str
    target: str
    limits: dict
    layers: list

    @property
    def cores(self):
        return sum(len(l.cores) for l in self.layers)

    @property
    def chips(self):
        per = self.limits.get("cores_per_chip")
        return math.ceil(self.cores / per) if per else None

    def utilisation(self, core):
        """{limit: used / available} of one core for the limits the target states."""
        lim, out = self.limits, {}
        for key, used in (("neurons_per_core", core.neurons), ("axons_per_core", core.axons),
                          ("synapses_per_core", core.synapses),
                          ("synapse_memory_per_core", core.synapse_bits)):
            if lim.get(key):
                out[key] = used / lim[key]
        return out

    def to_dict(self):
        return {"graph": self.graph, "target": self.target, "limits": self.limits,
                "cores": self.cores, "chips": self.chips,
                "layers": [{"name": l.name, "type": l.type, "neurons": l.neurons,
                            "max_fanin": l.max_fanin, "synapses": l.synapses,
                            "weight_bits": l.weight_bits, "state_bits": l.state_bits,
                            "cores": [dict(c.__dict__, utilisation=self.utilisation(c)) for c in l.cores]}
                           for l in self.layers]}


def _layer_matrix(graph, name, all_chains):
    """(n_dst, total axons) int64 CSR: folded synapses of every chain into `name`, summed per
    presynaptic node, presynaptic nodes side by side."""
    per_src = {}
    for c in all_chains:
        if c.dst == name:
            per_src[c.src] = per_src[c.src] + c.matrix if c.src in per_src else c.matrix
    m = sp.hstack([per_src[s] for s in per_src], format="csr", dtype=np.int64)
    m.eliminate_zeros()
    return m


def _fail(layer, what, used, limit, unit, fix):
    raise MappingError(f"layer '{layer}': {what} {used} {unit}, over the target's limit of "
                       f"{limit} by {used - limit}; fix: {fix}")


def _check_layer(name, node, m, target, lim):
    wb = lim.get("weight_bits")
    lo, hi = (int(m.data.min()), int(m.data.max())) if m.nnz else (0, 0)
    # a CUBALIF's synapses hold Loihi weights: magnitude bits (one sign) or W/2 (mixed signs)
    need = loihi_weight_bits(lo, hi) if node.type == "CUBALIF" else bits_for(lo, hi)
    if wb and need > wb:
        _fail(name, f"stored weights (values in [{lo}, {hi}]) need", need, wb, "bits",
              f"requantize the layer to fewer weight bits (w_bits <= {wb}), or split a folded "
              f"pooling/shortcut chain so its weights are not summed")
    sb = lim.get("state_bits")
    if sb and node.v_bits > sb:
        _fail(name, "membrane V needs", node.v_bits, sb, "bits",
              f"lower v_bits to {sb} (range analysis must still prove it fits) or rescale theta")
    fanin = np.diff(m.indptr)
    worst = int(np.argmax(fanin)) if fanin.size else 0
    ax = lim.get("axons_per_core")
    if ax and fanin.size and fanin[worst] > ax:
        _fail(name, f"neuron {worst} has a fan-in of", int(fanin[worst]), ax, "input axons",
              "split the layer's inputs (a grouped or two-stage layer), prune synapses, or use a "
              "target with more axons per core")
    sy = lim.get("synapses_per_core")
    if sy and fanin.size and fanin[worst] > sy:
        _fail(name, f"neuron {worst} has", int(fanin[worst]), sy, "synapses",
              "prune or split the neuron's inputs")
    mem = lim.get("synapse_memory_per_core")
    if mem and wb and fanin.size and fanin[worst] * wb > mem:
        _fail(name, f"neuron {worst} needs", int(fanin[worst]) * wb, mem, "bits of synapse memory",
              "prune synapses or use fewer weight bits")
    return need


def _pack(m, lim):
    """Greedy C-order packing of the rows of `m` into cores; returns [CoreUse]."""
    wb = lim.get("weight_bits") or 0
    caps = {"neurons": lim.get("neurons_per_core"), "axons": lim.get("axons_per_core"),
            "synapses": lim.get("synapses_per_core"),
            "bits": lim.get("synapse_memory_per_core") if wb else None}
    covered = np.zeros(m.shape[1], dtype=bool)
    cores, cur = [], None
    for row in range(m.shape[0]):
        cols = m.indices[m.indptr[row]:m.indptr[row + 1]]
        while True:
            if cur is None:
                covered[:] = False
                cur = CoreUse(0, 0, 0, 0)
            new_axons = int(np.count_nonzero(~covered[cols]))
            trial = {"neurons": cur.neurons + 1, "axons": cur.axons + new_axons,
                     "synapses": cur.synapses + cols.size, "bits": (cur.synapses + cols.size) * wb}
            if cur.neurons and any(caps[k] and trial[k] > caps[k] for k in caps):
                cores.append(cur)
                cur = None
                continue
            covered[cols] = True
            cur = CoreUse(trial["neurons"], trial["axons"], trial["synapses"], trial["bits"])
            break
    if cur is not None:
        cores.append(cur)
    return cores


def place(graph, target):
    """Place `graph` on `target` (a hwsnn.mappings.targets.Target). Returns Placement;
    MappingError when a layer or the network does not fit."""
    verify(graph)
    lim = {k: target.limit(k) for k in target.limits}
    if not any(k in lim for k in ("neurons_per_core", "axons_per_core", "synapses_per_core",
                                  "synapse_memory_per_core")):
        raise MappingError(f"target '{target.name}' ({target.path}) states no per-core limits "
                           f"(neurons_per_core, axons_per_core, synapses_per_core, "
                           f"synapse_memory_per_core): nothing to place onto")
    all_chains = chains(graph)
    layers, used = [], 0
    capacity = (lim["chips"] * lim["cores_per_chip"]
                if lim.get("chips") and lim.get("cores_per_chip") else None)
    for name in graph.topo_order():
        node = graph.nodes[name]
        if node.ROLE not in ("neuron", "readout"):
            continue
        if node.type == "MaxPool2d":
            raise MappingError(f"layer '{name}' (MaxPool2d): target '{target.name}' has no max-pool "
                               f"unit (exact max pooling runs on golden, Lava and the hwsnn RTL); "
                               f"convert with pool='avg' to place this network")
        m = _layer_matrix(graph, name, all_chains)
        need = _check_layer(name, node, m, target, lim)
        cores = _pack(m, lim)
        fanin = np.diff(m.indptr)
        layers.append(LayerPlacement(name, node.type, m.shape[0], int(fanin.max(initial=0)),
                                     int(m.nnz), need, node.v_bits, cores))
        used += len(cores)
        if capacity is not None and used > capacity:
            raise MappingError(
                f"layer '{name}': needs {len(cores)} cores for {m.shape[0]} neurons, bringing the "
                f"network to {used} cores, over the target's {capacity} "
                f"({lim['chips']} chip(s) x {lim['cores_per_chip']} cores) by {used - capacity}; "
                f"fix: make the layer smaller (fewer channels/units), or use a target with more "
                f"cores, neurons per core or chips")
    return Placement(graph.name, target.name, lim, layers)
