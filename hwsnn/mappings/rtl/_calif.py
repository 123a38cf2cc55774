"""`run_calif(graph, x, steps)`: a Ca-LIF network in RTL simulation, window and settle phase.

The network (hwsnn.rtl.Network with `window` T) runs the T window steps, then settle steps
until it raises `settled` (docs/ir-format.md: core by core in topological order, an absorb
step, then one rounding spike per step while some neuron still fires). The golden run of a
batch gives each core as many settle steps as its slowest sample needs; the RTL runs one
sample after the other, so a first pass measures each sample's settle steps per core (from the
network's `settle_core`) and, when they differ, a second pass inserts `hold` steps (the
hardware keeps every state and shows it on the monitors) so that every sample's records line
up with the batch. The V and S memories are read back (`dump`) after each sample. Both passes
run the whole batch in one simulation on the generated testbench wrapper
(`hwsnn.rtl.sim._calif_fast`). The source events come from `_images` (the IR's encoding
rules, never the oracle's code).
"""

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.ir import Trace, CaLIF
from hwsnn.rtl.sim._calif_fast import run_calif_fast
from hwsnn.rtl.sim._runner import check_simulator, default_sim

from ._images import check_input, source_events
from ._lower import DELAY, lower
from ._overflow import check_overflow

__all__ = ["run_calif", "run_calif_lowered", "is_calif"]


def run_calif(graph, x, steps, sim=None, lanes=16, conv=True, max_steps=None, _mutate_ge=False):
    """Run the Ca-LIF `graph` (window T = steps) on integer input x; returns a Trace like the
    golden run's (window steps, then the batch-aligned settle steps) with `trace.graph` =
    `graph.with_delays(1)`, `trace.rtl` (settle steps per core and sample, cycles) and
    `trace.final_readback` {node: {"V", "S"}} (the memories read back after the last step).
    `max_steps` bounds the settle steps of a sample (a watchdog; default from the S widths)."""
    return run_calif_lowered(lower(graph, lanes=lanes, conv=conv), x, steps, sim, max_steps, _mutate_ge)


def run_calif_lowered(net, x, steps, sim=None, max_steps=None, _mutate_ge=False):
    """`run_calif` on an RtlNetwork from `lower` (tests may alter its memory images first)."""
    sim = default_sim(sim)
    check_simulator(sim)
    g = net.graph
    T = net.meta["window"]
    if not T:
        raise MappingError(f"graph '{g.name}': run_calif needs a Ca-LIF network")
    if steps != T:
        raise MappingError(f"graph '{g.name}': a CaLIF network runs its window of T={T} steps, "
                           f"not steps={steps}")
    x = check_input(net.source, g.nodes[net.source], x[net.source] if isinstance(x, dict) else x)
    batch = x.shape[0]
    events = source_events(g.nodes[net.source], x, T + 1, delay=DELAY)  # step T: still in flight
    if max_steps is None:  # each settle pass moves some neuron's S by one: a generous watchdog
        max_steps = sum(1 + (1 << c.s_bits) for c in net.cores)
    rec, info = run_calif_fast(net, events, batch, T, sim, settle_limit=max_steps, _mutate_ge=_mutate_ge)
    check_overflow(net, rec)
    return _trace(net, rec, batch, int(rec["nsteps"][0]), info)


def _trace(net, rec, batch, n, info):
    passes = info["passes"]
    g = net.graph
    V, S, Y, final, spikes, readback = {}, {}, {}, {}, {}, {}
    for k, (name, c) in enumerate(zip(net.nodes, net.cores)):
        shape = g.nodes[name].shape
        to_trace = lambda a: a[:, :n].transpose(1, 0, 2).reshape(n, batch, *shape)  # noqa: E731
        V[name] = to_trace(rec[f"V{k}"])
        readback[name] = {"V": rec[f"DV{k}"].reshape(batch, *shape)}
        if c.kind == "readout":
            final[name] = {"V": V[name][-1], "S": np.zeros_like(V[name][-1])}
            continue
        S[name], Y[name] = to_trace(rec[f"S{k}"]), to_trace(rec[f"Y{k}"]).astype(np.int8)
        readback[name]["S"] = rec[f"DS{k}"].reshape(batch, *shape)
        final[name] = {"V": V[name][-1], "S": S[name][-1]}
        spikes[name] = np.abs(rec[f"Y{k}"][:, :n]).sum(axis=1).reshape(batch, *shape)
    trace = Trace(steps=n, batch=batch, final=final, t_eq=np.full(batch, n), settled=np.ones(batch, dtype=bool),
                  spikes=spikes, V=V, S=S, y=Y, readouts=tuple(x for x in net.nodes if x in g.readouts), graph=g)
    trace.final_readback = readback
    trace.rtl = {"settle_steps": passes.tolist(), "cycles": int(rec["cycles"].sum()),
                 "cycles_per_step": float(rec["cycles"][:, :n].mean()), "steps": n, "samples": batch,
                 "sim_seconds": info["sim_seconds"], "build_seconds": info["build_seconds"],
                 "measure_seconds": info["measure_seconds"],
                 "window": net.meta["window"], "cores": [{"node": m, "layout": "shared-kernel" if c.conv is not None
                                                         else "dense"} for m, c in zip(net.nodes, net.cores)]}
    return trace


def is_calif(graph):
    return any(isinstance(graph.nodes[n], CaLIF) for n in graph.neurons)
