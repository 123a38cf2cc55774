"""Exact integer event counts of one run (any executor: golden, Lava, RTL), per layer and sample.

A *layer* is a stateful node (neuron or Readout) together with the synapse chains ending in it.
Per sample b (every count is an int64 array of shape (batch,)):

    sops             = sum over chains from neurons (and from spike-coded Sources) of
                       sum_i spikes_i * fanout_i           (|y| counts, so a -1 spike costs one)
    input_macs       = sum over chains from analog Sources of sum_t sum_i [e_t,i != 0] * fanout_i
                       (a multi-bit input value is multiplied by each weight it reaches: the
                       first layer costs MACs, as in the papers' method)
    input_value_sops = the same with |e_t,i| instead of [e_t,i != 0] (what the input would cost
                       if each unit of it were sent as one spike)
    weight_reads     = sops + input_macs                    (one weight-memory read per synapse op)
    updates          = steps * neurons                      (a time-stepped core updates every
                       neuron every step)
    active_updates   = sum_t #neurons that received a synaptic event, had a bias/leak release,
                       or fired at step t; idle_updates = updates - active_updates
                       (needs per-step y: run with record=True; None otherwise or for Ca-LIF,
                       whose settle phase has no per-step input schedule)
    state_reads      = state_writes = updates               (V and, where present, the tracer S,
                       read and written back once per update)
    spikes           = sum_t |y| sent by the layer's neurons
    pool_compares    = count comparisons of a MaxPool2d layer (0 elsewhere; its other counts:
                       see _pool.py)
    decays           = CUBALIF (Loihi's LIF) decay multiplies that do work: per step and neuron,
                       one for u when du < 4095 and u was nonzero, one for v when dv > 0 and v
                       was nonzero (0 for other types; needs the U and V records)

A CUBALIF is active in a step when it received an event, has a bias, fired, or its u or v
changed (a decaying state is work even without input).

SOPs count every spike a layer sends, including spikes still in flight over a delay-1 edge
when the run ends (at equilibrium there are none). The source ANN's dense MACs, adds and
FLOPs (= 2 MACs + adds) come from the IR shapes (`ann_ops`).
"""

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import SimulationError
from ..ir import CUBALIF, IF, ILIF, STBIF, CaLIF, MaxPool2d, verify
from ..ir import ann_ops, chains
from ._pool import maxpool_counts

__all__ = ["KINDS", "LayerEvents", "EventCounts", "count_events", "source_emissions"]

KINDS = ("sops", "input_macs", "input_value_sops", "weight_reads", "updates", "active_updates",
         "idle_updates", "state_reads", "state_writes", "spikes", "pool_compares", "decays")


@dataclass
class LayerEvents:
    """Counts of one layer: `counts[kind]` is an int64 array (batch,) or None (unknown)."""

    name: str
    type: str
    neurons: int
    inputs: tuple
    counts: dict
    ann: dict

    def mean(self, kind):
        c = self.counts[kind]
        return None if c is None else float(c.mean())


@dataclass
class EventCounts:
    graph: str
    steps: int
    batch: int
    layers: list
    input_events: dict = field(default_factory=dict)  # Source -> (batch,) nonzero values sent
    cycles: object = None  # trace.cycles or trace.rtl["cycles"] when the executor counts clock cycles

    def total(self, kind):
        """(batch,) sum over layers, or None if any layer's count is unknown."""
        parts = [layer.counts[kind] for layer in self.layers]
        if any(p is None for p in parts):
            return None
        return np.sum(parts, axis=0).astype(np.int64)

    def ann_total(self, key):
        return sum(layer.ann[key] for layer in self.layers)

    def to_dict(self):
        """Plain-JSON form: per-layer per-sample lists, totals, ANN counts."""
        def arr(a):
            return None if a is None else [int(v) for v in a]
        cycles = self.cycles
        if isinstance(cycles, np.ndarray):
            cycles = cycles.tolist()
        return {
            "graph": self.graph, "steps": self.steps, "batch": self.batch, "cycles": cycles,
            "input_events": {k: arr(v) for k, v in self.input_events.items()},
            "layers": [{"name": l.name, "type": l.type, "neurons": l.neurons, "inputs": list(l.inputs),
                        "counts": {k: arr(v) for k, v in l.counts.items()}, "ann": dict(l.ann)}
                       for l in self.layers],
            "totals": {k: arr(self.total(k)) for k in KINDS},
            "ann_totals": {k: self.ann_total(k) for k in ("macs", "adds", "flops")},
        }


def source_emissions(node, q, steps):
    """(steps, batch, n) int64: the value Source `node` sends at each step for totals q."""
    from hwsnn.sim import release  # the same release rule the simulator uses
    q = torch.as_tensor(np.asarray(q, dtype=np.int64).reshape(q.shape[0], -1))
    out = torch.zeros((steps, *q.shape), dtype=torch.int64)
    for t in range(steps):
        if node.encoding == "analog":
            out[t] = release(q, t, node.R)
        elif node.encoding == "rate":
            out[t] = release(q, t, node.T)
        elif t < node.T:
            out[t] = (q >> (node.T - 1 - t)) & 1
    return out.numpy()


def _inputs(graph, x):
    if isinstance(x, dict):
        return {s: np.asarray(x[s]) for s in graph.sources}
    if len(graph.sources) != 1:
        raise SimulationError(f"graph has sources {graph.sources}: pass inputs as a dict")
    return {graph.sources[0]: np.asarray(x)}


def _release_mask(node, steps, ctx):
    """(steps, n) bool: steps where the neuron gets a bias/leak release (input without a spike)."""
    n = int(np.prod(node.shape))
    mask = np.zeros((steps, n), dtype=bool)
    if isinstance(node, (STBIF, IF)):
        from hwsnn.sim import release
        b = torch.as_tensor(np.broadcast_to(node.bias, node.shape).reshape(1, -1).astype(np.int64))
        for t in range(min(steps, node.bias_R)):
            mask[t] = release(b, t, node.bias_R)[0].numpy() != 0
    elif isinstance(node, CUBALIF):  # Loihi adds bias_mant * 2^bias_exp every step
        mask[:] = np.broadcast_to(node.bias_mant, node.shape).ravel() != 0
    elif isinstance(node, ILIF) and ctx:
        t = ctx["start"] + node.T - 1
        if t < steps:
            mask[t] = np.broadcast_to(node.bias, node.shape).ravel() != 0
    return mask


def _shift(v, d):
    if d == 0:
        return v
    out = np.zeros_like(v)
    out[d:] = v[:-d]
    return out


def _pool_layer(graph, name, node, trace, emitted, per_step, steps, batch):
    e = graph.inputs_of(name)[0]
    if graph.nodes[e.src].ROLE == "source":
        sent = np.abs(emitted[e.src])
        src_spikes, src_y = sent.sum(axis=0), (sent if per_step else None)
    else:
        src_spikes, src_y = trace.spikes[e.src], (trace.y[e.src] if per_step else None)
    counts = maxpool_counts(node, src_spikes, src_y, e.delay, trace.y[name] if per_step else None,
                            trace.spikes[name], steps, batch)
    counts.setdefault("decays", np.zeros(batch, np.int64))
    n = int(np.prod(node.shape))
    ann = {"macs": 0, "adds": 0, "flops": 0, "compares": n * (node.kernel[0] * node.kernel[1] - 1)}
    return LayerEvents(name, node.type, n, (e.src,), counts, ann)


def _previous(a):
    """Per step, the value before it (zeros before step 0: u and v start at 0)."""
    return np.concatenate([np.zeros_like(a[:1]), a[:-1]])


def _state_changed(trace, name, steps, batch, n):
    """(steps, batch, n) bool: u or v of a CUBALIF changed in the step (from its records)."""
    out = np.zeros((steps, batch, n), dtype=bool)
    for rec in (trace.U.get(name), trace.V.get(name)):
        if rec is not None:
            r = np.asarray(rec).reshape(steps, batch, n)
            out |= r != _previous(r)
    return out


def _decays(node, trace, name, steps, batch):
    """Decay multiplies of a CUBALIF (module docstring); 0 elsewhere, None without records."""
    if not isinstance(node, CUBALIF):
        return np.zeros(batch, np.int64)
    U, V = trace.U.get(name), trace.V.get(name)
    if U is None or V is None:
        return None
    out = np.zeros(batch, np.int64)
    for rec, works in ((U, node.du < 4095), (V, node.dv > 0)):
        if works:
            prev = _previous(np.asarray(rec).reshape(steps, batch, -1))
            out += (prev != 0).sum(axis=(0, 2))
    return out


def count_events(trace, x, graph=None):
    """Count the events of `trace` (a hwsnn.sim.Trace from any executor) run on input `x`.

    `graph` defaults to `trace.graph` (the graph that was run, with its delays).
    Returns EventCounts; see the module docstring for every count's definition.
    """
    from hwsnn.sim import Network
    graph = graph if graph is not None else trace.graph
    if graph is None:
        raise SimulationError("trace has no graph: pass graph= to count_events")
    shapes = verify(graph)
    net = Network(graph)
    steps, batch = trace.steps, trace.batch
    calif = any(isinstance(graph.nodes[n], CaLIF) for n in graph.neurons)
    window = next(iter(net.calif_T)) if calif else steps
    q = _inputs(graph, x)
    emitted, input_events = {}, {}
    for s in graph.sources:
        if q[s].shape[0] != batch:
            raise SimulationError(f"input '{s}': batch {q[s].shape[0]} does not match the trace's {batch}")
        e = np.zeros((steps, batch, int(np.prod(shapes[s]))), dtype=np.int64)
        e[:window] = source_emissions(graph.nodes[s], q[s], window)
        emitted[s] = e
        input_events[s] = (e != 0).sum(axis=(0, 2)).astype(np.int64)
    per_step = (not calif) and all(n in trace.y for n in graph.neurons)
    all_chains = chains(graph)
    layers = []
    for name in graph.topo_order():
        node = graph.nodes[name]
        if node.ROLE not in ("neuron", "readout"):
            continue
        n = int(np.prod(node.shape))
        if isinstance(node, MaxPool2d):
            layers.append(_pool_layer(graph, name, node, trace, emitted, per_step, steps, batch))
            continue
        mine = [c for c in all_chains if c.dst == name]
        sops = np.zeros(batch, np.int64)
        macs = np.zeros(batch, np.int64)
        value_sops = np.zeros(batch, np.int64)
        touched = np.zeros((steps, batch, n), dtype=bool) if per_step else None
        ann = {"macs": 0, "adds": 0, "flops": 0}
        for c in mine:
            for k, v in ann_ops(graph, c, shapes).items():
                ann[k] += v
            src = graph.nodes[c.src]
            if src.ROLE == "source":
                e = emitted[c.src]
                if src.encoding == "analog":
                    macs += ((e != 0).astype(np.int64) @ c.fanout).sum(axis=0)
                    value_sops += (np.abs(e) @ c.fanout).sum(axis=0)
                else:
                    sops += (np.abs(e) @ c.fanout).sum(axis=0)
                v = np.abs(e)
            else:
                spikes = np.asarray(trace.spikes[c.src]).reshape(batch, -1).astype(np.int64)
                sops += spikes @ c.fanout
                v = np.abs(np.asarray(trace.y[c.src]).reshape(steps, batch, -1)) if per_step else None
            if per_step:
                v = _shift(v, c.delay).reshape(steps * batch, -1).astype(np.float64)
                got = np.asarray(v @ c.reach).reshape(steps, batch, n) > 0
                touched |= got
        counts = {k: None for k in KINDS}
        counts.update(decays=_decays(node, trace, name, steps, batch),
                      pool_compares=np.zeros(batch, np.int64), sops=sops, input_macs=macs,
                      input_value_sops=value_sops,
                      weight_reads=sops + macs)
        updates = np.full(batch, steps * n, np.int64)
        counts.update(updates=updates, state_reads=updates.copy(), state_writes=updates.copy())
        if node.ROLE == "neuron":
            counts["spikes"] = np.asarray(trace.spikes[name]).reshape(batch, -1).sum(axis=1).astype(np.int64)
        else:
            counts["spikes"] = np.zeros(batch, np.int64)
        if per_step:
            touched |= _release_mask(node, steps, net.ctx(name))[:, None, :]
            if isinstance(node, CaLIF) and np.any(np.asarray(node.leak) != 0):
                touched[:window] = True
            if node.ROLE == "neuron":
                touched |= np.asarray(trace.y[name]).reshape(steps, batch, n) != 0
            if isinstance(node, CUBALIF):
                touched |= _state_changed(trace, name, steps, batch, n)
            active = touched.sum(axis=(0, 2)).astype(np.int64)
            counts.update(active_updates=active, idle_updates=updates - active)
        layers.append(LayerEvents(name, node.type, n, tuple(c.label for c in mine), counts, ann))
    cycles = getattr(trace, "cycles", None)
    if cycles is None and isinstance(getattr(trace, "rtl", None), dict):
        cycles = trace.rtl.get("cycles")  # the RTL back end's clock-cycle total
    return EventCounts(graph.name, steps, batch, layers, input_events, cycles)
