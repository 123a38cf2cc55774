"""Per-step semantics: every node updated once per step, in topological order."""

import numpy as np
import torch

from hwsnn.errors import RangeError, SimulationError
from hwsnn.ir import ILIF, CaLIF, Readout, int_range, verify

from ._devices import on_device
from ._encode import check_input, emit, source_bound, source_length
from ._neurons import STEP_RULES, init_state, settle_calif
from ._ops import SynapseOp
from ._trace import Trace

__all__ = ["run", "Network"]


def _as_inputs(graph, x):
    if isinstance(x, dict):
        missing = set(graph.sources) - set(x)
        if missing:
            raise SimulationError(f"no input given for source(s) {sorted(missing)}")
        return {name: check_input(name, graph.nodes[name], x[name]) for name in graph.sources}
    if len(graph.sources) != 1:
        raise SimulationError(f"graph has sources {graph.sources}: pass inputs as a dict")
    name = graph.sources[0]
    return {name: check_input(name, graph.nodes[name], x)}


class Network:
    """A verified graph prepared for simulation: synapse ops with exact dtypes, timing."""

    def __init__(self, graph):
        verify(graph)
        self.graph = graph
        self.order = graph.topo_order()
        self.ops, self.timing, self.contexts, self.state_dtype, bound = {}, {}, {}, {}, {}
        for name in self.order:
            node, ins = graph.nodes[name], graph.inputs_of(name)
            if node.ROLE == "source":
                bound[name] = source_bound(node, 2 ** (node.x_bits - 1))
                if node.encoding == "bits":
                    self.timing[name] = (0, node.T)  # emission window (first step, length)
            elif node.ROLE == "synapse":
                self.ops[name] = SynapseOp(name, node, bound[ins[0].src])
                bound[name] = self.ops[name].bound
            else:
                bound[name] = 1  # spikes are -1, 0, +1
                in_bound = sum(bound[e.src] for e in ins)
                exact32 = node.v_bits <= 24 and in_bound < 2 ** 24
                self.state_dtype[name] = torch.float32 if exact32 else torch.float64
                self._set_timing(name, node)
        self.calif_T = {graph.nodes[n].T for n in graph.neurons if isinstance(graph.nodes[n], CaLIF)}
        if len(self.calif_T) > 1:
            raise SimulationError(f"all CaLIF nodes must share one window T, not {sorted(self.calif_T)}")
        others = [n for n in graph.neurons if not isinstance(graph.nodes[n], CaLIF)]
        if self.calif_T and others:  # the settle phase is defined for CaLIF neurons only
            raise SimulationError(f"a graph with CaLIF nodes must have no other neurons, not {others}")

    def spiking_inputs(self, name):
        """(spiking node, delay) pairs feeding neuron `name` through synapse chains."""
        out, stack = [], [(e.src, e.delay) for e in self.graph.inputs_of(name)]
        while stack:
            src, delay = stack.pop()
            node = self.graph.nodes[src]
            if node.ROLE == "synapse":
                stack += [(e.src, delay + e.delay) for e in self.graph.inputs_of(src)]
            else:
                out.append((src, delay))
        return out

    def _set_timing(self, name, node):
        if not (isinstance(node, ILIF) or (isinstance(node, Readout) and node.horner)):
            return
        starts = {}
        for src, delay in self.spiking_inputs(name):
            if src not in self.timing:
                raise SimulationError(f"node '{name}': input '{src}' has no fixed emission window "
                                      f"(an ILIF/horner input must come from a bits Source or ILIF)")
            s0, length = self.timing[src]
            starts[src] = (s0 + delay, length)
        if len(set(starts.values())) != 1:
            raise SimulationError(f"node '{name}': inputs arrive in different windows {starts}")
        start, length = next(iter(starts.values()))
        if isinstance(node, ILIF):
            if length != node.T:
                raise SimulationError(f"node '{name}': accumulates T={node.T} steps but its input "
                                      f"emits {length}")
            self.timing[name] = (start + node.T, node.T)
        self.contexts[name] = {"start": start, "T": length}

    def check_steps(self, steps):
        """SimulationError unless `steps` is a valid run length for this network (every
        executor uses the same rule)."""
        if steps < 1:
            raise SimulationError(f"steps must be >= 1, not {steps}")
        if self.calif_T and steps != next(iter(self.calif_T)):
            raise SimulationError(f"a CaLIF network runs its window of T={next(iter(self.calif_T))} "
                                  f"steps, not steps={steps}")

    def ctx(self, name):
        return self.contexts.get(name, {})

    def synapse(self, name, now, prev, out):
        """Output of synapse `name` given spiking outputs this step (`now`), last step (`prev`)
        and synapse outputs computed so far this step (`out`)."""
        e = self.graph.inputs_of(name)[0]
        x = out[e.src] if e.src in self.ops else (prev if e.delay else now).get(e.src)
        return None if x is None else self.ops[name](x)

    def current(self, name, syn_out, batch):
        """Sum of the synapse outputs ending in `name`, in the node's state dtype."""
        dtype = self.state_dtype[name]
        parts = [syn_out[e.src] for e in self.graph.inputs_of(name) if syn_out.get(e.src) is not None]
        if not parts:
            return None  # no input this step
        I = parts[0].to(dtype)
        for p in parts[1:]:
            I = I + p.to(dtype)
        return I


def _check_width(name, node, st):
    lo, hi = int_range(node.v_bits)
    vmin, vmax = (float(v) for v in torch.aminmax(st["V"]))
    if vmin < lo or vmax > hi:
        raise RangeError(f"node '{name}': membrane V reached [{int(vmin)}, {int(vmax)}], outside its "
                         f"int{node.v_bits} register [{lo}, {hi}] (range analysis should have widened it)")


class _Runner:
    """State of one run: neuron states, records, the step at which each sample last changed."""

    def __init__(self, net, batch, record):
        self.net, self.graph, self.batch, self.record = net, net.graph, batch, record
        g = self.graph
        self.stateful = [n for n in net.order if g.nodes[n].ROLE in ("neuron", "readout")]
        self.state = {n: init_state(g.nodes[n], batch, net.state_dtype[n]) for n in self.stateful}
        self.rec = {v: {n: [] for n in self.stateful} for v in ("V", "S", "y")}
        self.spikes = {n: torch.zeros((batch, *g.nodes[n].shape), dtype=net.state_dtype[n])
                       for n in g.neurons}
        self.last_change = torch.zeros(batch, dtype=torch.int64)
        self.nstep = 0

    def end_step(self, ys):
        """Check widths, record, note which samples changed state; advance the step count."""
        changed = torch.zeros(self.batch, dtype=torch.bool)
        for n in self.stateful:
            st, node = self.state[n], self.graph.nodes[n]
            _check_width(n, node, st)
            if st.get("changed") is not None:
                changed |= st["changed"]
                st["changed"] = None
            y = ys.get(n)
            if y is not None:
                self.spikes[n].add_(y.abs())
            if self.record:
                vdt = torch.int32 if node.v_bits <= 32 else torch.int64
                self.rec["V"][n].append(st["V"].to(vdt))
                if node.ROLE == "neuron":
                    self.rec["S"][n].append(st["S"].to(torch.int32))
                    self.rec["y"][n].append(torch.zeros(st["V"].shape, dtype=torch.int8) if y is None
                                            else y.to(torch.int8))
        self.last_change[changed] = self.nstep + 1
        self.nstep += 1

    def step(self, q, t, prev):
        """One step in topological order; returns this step's spiking outputs."""
        net, g = self.net, self.graph
        now, syn, ys = {}, {}, {}
        for name in net.order:
            node = g.nodes[name]
            if node.ROLE == "source":
                # None once the source is done: its synapses then skip work
                now[name] = emit(node, q[name], t) if t < source_length(node) else None
            elif node.ROLE == "synapse":
                syn[name] = net.synapse(name, now, prev, syn)
            else:
                I = net.current(name, syn, self.batch)
                y = STEP_RULES[type(node)](node, self.state[name], I, t, net.ctx(name))
                now[name] = ys[name] = y
        self.end_step(ys)
        return now

    def settle(self, prev):
        """CaLIF settle phase, layer by layer in topological order (docs/ir-format.md, "Ca-LIF
        settle phase"): a layer absorbs the spikes still in flight from the window (delay 1)
        and all settle spikes of the layers before it, then fires one rounding spike per settle
        step until none fires."""
        net, g = self.net, self.graph
        settle_y = {n: torch.zeros((self.batch, *g.nodes[n].shape), dtype=net.state_dtype[n])
                    for n in g.neurons}
        for n in self.stateful:
            node, st = g.nodes[n], self.state[n]
            # a delay-0 edge carries the settle spikes; a delay-1 edge also the window's last
            # output, still in flight (per edge: one source may feed `n` with both delays)
            settled = {s: settle_y.get(s) for s, _ in net.spiking_inputs(n)}
            in_flight = {s: v if prev.get(s) is None else (prev[s] if v is None else v + prev[s])
                         for s, v in settled.items()}
            syn = {}
            for name in net.order:
                if name in net.ops:
                    syn[name] = net.synapse(name, settled, in_flight, syn)
            I = net.current(n, syn, self.batch)
            if I is None:
                I = torch.zeros_like(st["V"])
            st["V"] = st["V"] + I
            st["changed"] = (I != 0).flatten(1).any(1)
            self.end_step({})
            if node.ROLE == "readout":
                continue
            while True:
                V0, S0 = st["V"], st["S"]
                y = settle_calif(node, st)
                if not bool(y.any()):
                    st["V"], st["S"], st["changed"] = V0, S0, None
                    break
                settle_y[n] += y
                self.end_step({n: y})


def run(graph, x, steps, record=True, device=None):
    """Run `graph` for `steps` steps on integer input `x` ((batch, *shape), or a dict per Source).

    Returns a Trace. With `record=False` only final states, spike counts and t_eq are kept.
    A CaLIF network runs its window (steps must equal the nodes' T) and then its settle phase,
    which appends settle steps to the trace. `device` ("cpu" default, "cuda", "cuda:1"): where
    the tensors live; the dtypes and the results are the same everywhere (see `_devices`).
    """
    net = graph if isinstance(graph, Network) else Network(graph)
    graph = net.graph
    with on_device(device):
        q = _as_inputs(graph, x)
        batch = next(iter(q.values())).shape[0]
        net.check_steps(steps)
        r = _Runner(net, batch, record)
        prev = {}
        with torch.no_grad():
            for t in range(steps):
                prev = r.step(q, t, prev)
            if net.calif_T:
                r.settle(prev)
        if net.calif_T:
            settled = torch.ones(batch, dtype=torch.bool)
        else:
            ends = [source_length(graph.nodes[s]) for s in graph.sources]
            ends += [getattr(graph.nodes[n], "bias_R", 0) for n in graph.neurons]
            ends += [sum(net.timing[n]) for n in graph.neurons if isinstance(graph.nodes[n], ILIF)]
            settled = (r.last_change < steps) & (max(ends) <= steps - 1)
    host = lambda t: t.cpu().numpy()  # noqa: E731
    final = {n: {"V": host(r.state[n]["V"].to(torch.int64)),
                 "S": host(r.state[n]["S"].to(torch.int64))} for n in r.stateful}
    trace = Trace(steps=r.nstep, batch=batch, final=final, t_eq=host(r.last_change),
                  settled=host(settled), readouts=tuple(graph.readouts), graph=graph,
                  spikes={n: host(s.to(torch.int64)) for n, s in r.spikes.items()})
    if record:
        for var in ("V", "S", "y"):
            setattr(trace, var, {n: host(torch.stack(v)) for n, v in r.rec[var].items() if v})
    return trace
