"""Per-step semantics: every node updated once per step, in topological order."""

import numpy as np
import torch

from hwsnn.errors import RangeError, SimulationError
from hwsnn.ir import CUBALIF, ILIF, CaLIF, MaxPool2d, Schedule, Trace, int_range, source_length

from ._devices import on_device
from ._encode import check_input, emit
from ._maxpool import init_maxpool, step_maxpool
from ._neurons import STEP_RULES, init_state, settle_calif
from ._ops import SynapseOp

__all__ = ["run", "Network"]

RULES = {**STEP_RULES, MaxPool2d: step_maxpool}


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


class Network(Schedule):
    """A verified graph prepared for simulation: the IR's Schedule (order, timing, bounds) plus
    synapse ops and state dtypes that are exact for those bounds."""

    def __init__(self, graph):
        super().__init__(graph)
        self.ops, self.state_dtype = {}, {}
        for name in self.order:
            node, ins = graph.nodes[name], graph.inputs_of(name)
            if node.ROLE == "synapse":
                self.ops[name] = SynapseOp(name, node, self.bound[ins[0].src])
            elif node.ROLE != "source":
                exact32 = node.v_bits <= 24 and self.in_bound(name) < 2 ** 24
                self.state_dtype[name] = torch.float32 if exact32 else torch.float64
                if isinstance(node, CUBALIF):
                    self.state_dtype[name] = torch.int64  # Loihi's fixed point, see _neurons

    def synapse(self, name, now, prev, out):
        """Output of synapse `name` given spiking outputs this step (`now`), last step (`prev`)
        and synapse outputs computed so far this step (`out`)."""
        e = self.graph.inputs_of(name)[0]
        x = out[e.src] if e.src in self.ops else (prev if e.delay else now).get(e.src)
        return None if x is None else self.ops[name](x)

    def pool_input(self, name, now, prev):
        """What the one input edge of MaxPool2d `name` carries this step, in its state dtype."""
        e = self.graph.inputs_of(name)[0]
        x = (prev if e.delay else now).get(e.src)
        return None if x is None else x.to(self.state_dtype[name])

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


def _check_loihi_input(name, I, t):
    """A CUBALIF's input must fit int24 (docs/ir-format.md, "CUBALIF in detail")."""
    lo, hi = int_range(24)
    imin, imax = (int(v) for v in torch.aminmax(I))
    if imin < lo or imax > hi:
        raise RangeError(f"node '{name}': CUBALIF input I reached [{imin}, {imax}] at step {t}, "
                         f"outside int24 [{lo}, {hi}] (Lava's Conv and Dense disagree beyond it)")


class _Runner:
    """State of one run: neuron states, records, the step at which each sample last changed."""

    def __init__(self, net, batch, record):
        self.net, self.graph, self.batch, self.record = net, net.graph, batch, record
        g = self.graph
        self.stateful = [n for n in net.order if g.nodes[n].ROLE in ("neuron", "readout")]
        self.state = {n: (init_maxpool if isinstance(g.nodes[n], MaxPool2d) else init_state)(
            g.nodes[n], batch, net.state_dtype[n]) for n in self.stateful}
        self.rec = {v: {n: [] for n in self.stateful} for v in ("V", "S", "y", "U")}
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
                if "U" in st:
                    self.rec["U"][n].append(st["U"].clone())
                if node.ROLE == "neuron":
                    self.rec["S"][n].append(st["S"].to(torch.int32))
                    self.rec["y"][n].append(torch.zeros(st["S"].shape, dtype=torch.int8) if y is None
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
                I = (net.pool_input(name, now, prev) if isinstance(node, MaxPool2d)
                     else net.current(name, syn, self.batch))
                if isinstance(node, CUBALIF) and I is not None:
                    _check_loihi_input(name, I, t)
                y = RULES[type(node)](node, self.state[name], I, t, net.ctx(name))
                now[name] = ys[name] = y
        self.end_step(ys)
        return now

    def settle(self, prev, max_settle=None):
        """CaLIF settle phase, layer by layer in topological order (docs/ir-format.md, "Ca-LIF
        settle phase"): a layer absorbs the spikes still in flight from the window (delay 1)
        and all settle spikes of the layers before it, then fires one rounding spike per settle
        step until none fires, at most `settle_cap(...)` steps per layer (SimulationError beyond)."""
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
            cap = settle_cap(n, st, max_settle)
            for fired in range(cap + 1):
                V0, S0 = st["V"], st["S"]
                y = settle_calif(node, st)
                if not bool(y.any()):
                    st["V"], st["S"], st["changed"] = V0, S0, None
                    break
                if fired == cap:
                    raise SimulationError(
                        f"node '{n}': the Ca-LIF settle phase still fires after its cap of {cap} "
                        f"settle steps (step {self.nstep}); a settle rule that cannot settle, or "
                        f"raise max_settle")
                settle_y[n] += y
                self.end_step({n: y})


def settle_cap(name, st, max_settle=None):
    """Settle steps layer `name` may take: `max_settle` if given, else the default
    1 + max(|V| // theta) over its neurons as the settle phase starts (each settle spike moves
    V by theta toward 0 and the rule stops within theta/2 of 0, so a sound rule needs no more)."""
    if max_settle is not None:
        if int(max_settle) < 0:
            raise SimulationError(f"node '{name}': max_settle must be >= 0, not {max_settle!r}")
        return int(max_settle)
    if not st["V"].numel():
        return 1
    return 1 + int(torch.floor(st["V"].abs() / st["theta"]).max())


def run(graph, x, steps, record=True, device=None, max_settle=None):
    """Run `graph` for `steps` steps on integer input `x` ((batch, *shape), or a dict per Source).

    Returns a Trace. With `record=False` only final states, spike counts and t_eq are kept.
    A CaLIF network runs its window (steps must equal the nodes' T) and then its settle phase,
    which appends settle steps to the trace. `device` ("cpu" default, "cuda", "cuda:1"): where
    the tensors live; the dtypes and the results are the same everywhere (see `_devices`).
    `max_settle`: settle steps a Ca-LIF layer may fire before SimulationError (default None:
    1 + max |V| // theta of the layer when its settle phase starts, see `settle_cap`).
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
                r.settle(prev, max_settle)
        if net.calif_T:
            settled = torch.ones(batch, dtype=torch.bool)
        else:
            ends = [source_length(graph.nodes[s]) for s in graph.sources]
            ends += [getattr(graph.nodes[n], "bias_R", 0) for n in graph.neurons]
            ends += [sum(net.timing[n]) for n in graph.neurons if isinstance(graph.nodes[n], ILIF)]
            settled = (r.last_change < steps) & (max(ends) <= steps - 1)
    host = lambda t: t.cpu().numpy()  # noqa: E731
    final = {n: {k: host(r.state[n][k].to(torch.int64)) for k in ("V", "S", "U")
                 if k in r.state[n]} for n in r.stateful}
    trace = Trace(steps=r.nstep, batch=batch, final=final, t_eq=host(r.last_change),
                  settled=host(settled), readouts=tuple(graph.readouts), graph=graph,
                  spikes={n: host(s.to(torch.int64)) for n, s in r.spikes.items()})
    if record:
        for var in ("V", "S", "y", "U"):
            setattr(trace, var, {n: host(torch.stack(v)) for n, v in r.rec[var].items() if v})
    return trace
