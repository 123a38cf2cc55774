"""`run(graph, x, steps)`: the whole network in RTL simulation (cocotb + Icarus or Verilator),
returned as a golden-style Trace of the graph the RTL computes (every edge delay 1).

The source events come from `_images.source_events` (the IR's encoding rules, not the oracle's code).
By default the whole batch runs in one simulation through the generated testbench wrapper
(no Python per clock cycle); `fast=False` uses the per-cycle cocotb bench instead.
"""

import numpy as np

from hwsnn.errors import BackendError
from hwsnn.ir import ILIF, Trace
from hwsnn.rtl.sim._network_bench import run_network_bench, run_network_fast
from hwsnn.rtl.sim._runner import check_simulator, default_sim

from ._images import check_input, source_events, source_length
from ._lower import DELAY, layout_of, lower
from ._overflow import check_overflow

__all__ = ["run", "run_lowered", "stats", "stated_delay"]


def stated_delay(graph):
    """The delay of every edge in the graph `run` computes: the iLIF pipeline delivers directly
    (0), the core chain one step later (DELAY = 1)."""
    return 0 if any(isinstance(graph.nodes[n], ILIF) for n in graph.neurons) else DELAY


def _inputs(graph, source, x):
    if isinstance(x, dict):
        x = x[source]
    return check_input(source, graph.nodes[source], x)


def stats(records, rtl_net):
    """Cycle and SOP counts of a run: per step totals and per core accumulate figures, and
    each core's layout ("shared-kernel" or "dense", with the reason)."""
    cycles = records["cycles"]
    per_core = []
    for k, (name, c) in enumerate(zip(rtl_net.nodes, rtl_net.cores)):
        sops, acc = records[f"sops{k}"], records[f"acc_cycles{k}"]
        per_core.append({"node": name, "lanes": c.lanes, "layout": layout_of(c),
                         "layout_reason": c.meta.get("layout_reason", ""), "sops": int(sops.sum()),
                         "acc_cycles": int(acc.sum()),
                         "sops_per_acc_cycle": float(sops.sum() / max(1, acc.sum())),
                         "sops_per_step": sops.tolist(), "acc_cycles_per_step": acc.tolist()})
    total_sops = sum(p["sops"] for p in per_core)
    return {"steps": int(cycles.shape[1]), "samples": int(cycles.shape[0]),
            "cycles": int(cycles.sum()), "cycles_per_step": float(cycles.mean()),
            "sops": total_sops, "sops_per_cycle": float(total_sops / max(1, cycles.sum())),
            "cores": per_core}


def run(graph, x, steps, sim=None, lanes=16, conv=True, fast=True, _mutate_ge=False):
    """Run `graph` on integer input x ((batch, *shape) or {source: ...}) for `steps` steps in
    RTL simulation (`sim`: "icarus" or "verilator"; None: Verilator when installed). Returns a Trace with
    V, S, y of every neuron node and V of the Readout at every step; `trace.graph` is
    `graph.with_delays(1)`, `trace.rtl` the cycle/SOP counts and core layouts (see `stats`),
    `trace.final_readback` {node: {"V", "S"}} the state memories read back after the last
    step (when the network has the `dump` command). A network of ILIF nodes runs on the iLIF
    pipeline instead (delays 0, see `run_ilif`)."""
    sim = default_sim(sim)
    check_simulator(sim)
    if any(isinstance(graph.nodes[n], ILIF) for n in graph.neurons):  # the iLIF pipeline
        from ._ilif import run_ilif
        return run_ilif(graph, x, steps, sim)[0]
    from ._calif import is_calif, run_calif
    if is_calif(graph):  # window + settle phase (the fast testbench wrapper)
        return run_calif(graph, x, steps, sim, lanes=lanes, conv=conv, _mutate_ge=_mutate_ge)
    return run_lowered(lower(graph, lanes=lanes, conv=conv), x, steps, sim, fast=fast, _mutate_ge=_mutate_ge)


def run_lowered(net, x, steps, sim=None, fast=True, _mutate_ge=False):
    """`run` on an RtlNetwork from `lower` (tests may alter its memory images first)."""
    sim = default_sim(sim)
    g = net.graph
    x = _inputs(g, net.source, x)
    batch = x.shape[0]
    events = source_events(g.nodes[net.source], x, steps, delay=DELAY)
    info = {}
    if fast:
        rec, info = run_network_fast(net, events, batch, steps, sim, _mutate_ge=_mutate_ge)
    else:
        ok, rec = run_network_bench(net, events, batch, steps, sim, _mutate_ge=_mutate_ge)
        if rec is None:
            raise BackendError(f"rtl ({sim}): the bench produced no records; see build/rtl/*/run/sim.log")
    check_overflow(net, rec)
    if not fast and not ok:
        raise BackendError(f"rtl ({sim}): the network bench failed; see build/rtl/*/run/sim.log")
    return _trace(net, rec, batch, steps, info)


def _pool_records(node, c, rec, k, steps, batch, V, S, Y, final, spikes, readback):
    """A max-pool unit's monitor: entries 0..n_in-1 are its counts (the node's V, in_shape),
    then its maxima S and spikes y. Returns (batch, steps) whether its state changed."""
    n_in = c.n_in
    split = lambda a, lo, hi, shape: a[:, :, lo:hi].transpose(1, 0, 2).reshape(steps, batch, *shape)  # noqa: E731
    V[c.name] = split(rec[f"V{k}"], 0, n_in, node.in_shape)
    S[c.name] = split(rec[f"S{k}"], n_in, c.n, node.shape)
    Y[c.name] = split(rec[f"Y{k}"], n_in, c.n, node.shape)
    final[c.name] = {"V": V[c.name][-1], "S": S[c.name][-1]}
    spikes[c.name] = np.abs(Y[c.name]).sum(axis=0)
    if f"DV{k}" in rec:
        readback[c.name] = {"V": rec[f"DV{k}"][:, :n_in].reshape(batch, *node.in_shape),
                            "S": rec[f"DS{k}"][:, n_in:].reshape(batch, *node.shape)}
    state = np.concatenate([rec[f"V{k}"][:, :, :n_in], rec[f"S{k}"][:, :, n_in:]], axis=2)
    prev = np.concatenate([np.zeros_like(state[:, :1]), state[:, :-1]], axis=1)
    return (state != prev).any(axis=2)


def _trace(net, rec, batch, steps, info):
    g = net.graph
    V, S, Y, U, final, spikes, readback = {}, {}, {}, {}, {}, {}, {}
    changed = np.zeros((batch, steps), dtype=bool)
    for k, c in enumerate(net.cores):
        v, s = rec[f"V{k}"], rec[f"S{k}"]
        if c.kind == "maxpool":
            name = net.nodes[k]
            changed |= _pool_records(g.nodes[name], c, rec, k, steps, batch, V, S, Y, final, spikes, readback)
            continue
        prev_v = np.concatenate([np.broadcast_to(c.v0, (batch, 1, c.n)), v[:, :-1]], axis=1)
        prev_s = np.concatenate([np.zeros((batch, 1, c.n), dtype=np.int64), s[:, :-1]], axis=1)
        changed |= ((v != prev_v) | (s != prev_s)).any(axis=2)
        if f"U{k}" in rec:  # CUBA-LIF: the current u too
            u = rec[f"U{k}"]
            changed |= (u != np.concatenate([np.zeros_like(u[:, :1]), u[:, :-1]], axis=1)).any(axis=2)
        for name, lo, hi in net.parts[k]:  # the IR nodes of the core: neurons lo .. hi - 1 each
            shape = g.nodes[name].shape
            to_trace = lambda a: a[..., lo:hi].transpose(1, 0, 2).reshape(steps, batch, *shape)  # noqa: E731
            V[name] = to_trace(v)
            if f"U{k}" in rec:
                U[name] = to_trace(rec[f"U{k}"])
            if f"DV{k}" in rec:  # what the V (and S) memories hold after the last step
                readback[name] = {"V": rec[f"DV{k}"][:, lo:hi].reshape(batch, *shape)}
                if c.kind != "readout":
                    readback[name]["S"] = rec[f"DS{k}"][:, lo:hi].reshape(batch, *shape)
            if c.kind == "readout":
                final[name] = {"V": V[name][-1], "S": np.zeros_like(V[name][-1])}
                continue
            S[name], Y[name] = to_trace(s), to_trace(rec[f"Y{k}"])
            final[name] = {"V": V[name][-1], "S": S[name][-1]}
            spikes[name] = np.abs(rec[f"Y{k}"][..., lo:hi]).sum(axis=1).reshape(batch, *shape)
    t_eq = np.array([int(np.nonzero(row)[0].max()) + 1 if row.any() else 0 for row in changed])
    ends = [source_length(g.nodes[net.source])] + [c.bias_R for c in net.cores]
    settled = (t_eq < steps) & (max(ends) <= steps - 1)
    trace = Trace(steps=steps, batch=batch, final=final, t_eq=t_eq, settled=settled, spikes=spikes,
                  V=V, S=S, y=Y, U=U, readouts=tuple(n for n in net.nodes if n in g.readouts), graph=g)
    trace.rtl = stats(rec, net)
    trace.rtl.update({k: v for k, v in info.items() if k in ("sim_seconds", "build_seconds", "parse_seconds", "readback",
                                                                  "emit_seconds", "compile_seconds", "cxx_opt")})
    trace.final_readback = readback
    return trace
