"""`run_calif(graph, x, steps)`: a Ca-LIF network in RTL simulation, window and settle phase.

The network (hwsnn.rtl.Network with `window` T) runs the T window steps, then settle steps
until it raises `settled` (docs/ir-format.md: core by core in topological order, an absorb
step, then one rounding spike per step while some neuron still fires). The golden run of a
batch gives each core as many settle steps as its slowest sample needs; the RTL runs one
sample at a time, so a first pass measures each sample's settle steps per core (from the
network's `settle_core`) and, when they differ, a second pass inserts `hold` steps (the
hardware keeps every state and shows it on the monitors) so that every sample's records line
up with the batch. The V and S memories are read back (`dump`) after each sample.
The source events come from `_images` (the IR's encoding rules, never hwsnn.sim).
"""

import hashlib
from pathlib import Path

import numpy as np

from hwsnn.errors import BackendError, MappingError
from hwsnn.ir import CaLIF
from hwsnn.sim import Trace
from hwsnn.sim.benches._network_bench import design_key, network_verilog
from hwsnn.sim.benches._runner import BUILD_ROOT, build, check_simulator, default_sim, run_bench

from ._images import check_input, source_events
from ._lower import DELAY, lower
from ._run import check_overflow

__all__ = ["run_calif", "settle_passes"]


def _bench(net, x, events, sim, pad, max_steps):
    """One bench run; returns the records (npz dict)."""
    from cocotb_tools.runner import get_runner
    tag = design_key(net.cores)
    build_dir = BUILD_ROOT / "rtl-calif" / f"{sim}-{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / "built.ok"
    if stamp.exists():
        check_simulator(sim)
        runner = get_runner(sim)
    else:
        src = build_dir / "hwsnn_network.v"
        network_verilog(net, src)
        runner = build([src], "hwsnn_network", build_dir, sim)
        stamp.write_text(tag)
    first = net.cores[0]
    data = {"T": net.meta["window"], "batch": len(x), "ncores": len(net.cores), "max_steps": max_steps,
            "in_index_bits": first.in_index_bits, "x_bits": first.x_bits, "pad": pad,
            "ev_sample": events[:, 0], "ev_step": events[:, 1], "ev_index": events[:, 2],
            "ev_value": events[:, 3],
            "max_cycles": 64 + 4 * sum((c.rows + 1) * c.groups + c.n + 8 for c in net.cores)}
    data.update({f"n{k}": c.n for k, c in enumerate(net.cores)})
    run_id = hashlib.sha1(np.ascontiguousarray(events).tobytes() + pad.tobytes()).hexdigest()[:10]
    data_path, out_path = build_dir / f"data-{run_id}.npz", build_dir / f"out-{run_id}.npz"
    np.savez(data_path, **data)
    if out_path.exists():
        out_path.unlink()
    import sys
    here = str(Path(__file__).parent)  # calif_bench.py lives beside this module
    sys.path.insert(0, here)
    try:
        ok = run_bench(runner, "hwsnn_network", "calif_bench", build_dir, data_path, out_path)
    finally:
        sys.path.remove(here)
    if not out_path.exists():
        raise BackendError(f"rtl ({sim}): the Ca-LIF bench produced no records; see {build_dir / 'run' / 'sim.log'}")
    rec = dict(np.load(out_path))
    check_overflow(net, rec)
    if not ok:
        raise BackendError(f"rtl ({sim}): the Ca-LIF bench failed; see {build_dir / 'run' / 'sim.log'}")
    return rec


def settle_passes(rec, ncores):
    """(batch, ncores): settle steps each sample spent on each core (absorb + fire passes)."""
    phase = rec["phase"]
    return np.stack([(phase == k).sum(axis=1) for k in range(ncores)], axis=1)


def run_calif(graph, x, steps, sim=None, lanes=16, conv=True, max_steps=None):
    """Run the Ca-LIF `graph` (window T = steps) on integer input x; returns a Trace like the
    golden run's (window steps, then the batch-aligned settle steps) with `trace.graph` =
    `graph.with_delays(1)`, `trace.rtl` (settle steps per core and sample, cycles) and
    `trace.final_readback` {node: {"V", "S"}} (the memories read back after the last step)."""
    sim = default_sim(sim)
    check_simulator(sim)
    net = lower(graph, lanes=lanes, conv=conv)
    T = net.meta["window"]
    if not T:
        raise MappingError(f"graph '{graph.name}': run_calif needs a Ca-LIF network")
    if steps != T:
        raise MappingError(f"graph '{graph.name}': a CaLIF network runs its window of T={T} steps, "
                           f"not steps={steps}")
    g = net.graph
    x = check_input(net.source, g.nodes[net.source], x[net.source] if isinstance(x, dict) else x)
    batch, ncores = x.shape[0], len(net.cores)
    events = source_events(g.nodes[net.source], x, T + 1, delay=DELAY)  # step T: still in flight
    if max_steps is None:  # each settle pass moves some neuron's S by one: a generous watchdog
        max_steps = T + sum(1 + (1 << c.s_bits) for c in net.cores)
    pad = np.zeros((batch, ncores), dtype=np.int64)
    rec = _bench(net, x, events, sim, pad, max_steps)
    passes = settle_passes(rec, ncores)
    if (passes != passes.max(axis=0)).any():  # line the samples up with the slowest one
        pad = passes.max(axis=0)[None, :] - passes
        rec = _bench(net, x, events, sim, pad, max_steps)
    n = int(rec["nsteps"][0])
    if (rec["nsteps"] != n).any():
        raise BackendError(f"rtl ({sim}): samples ran {sorted(set(rec['nsteps'].tolist()))} steps after "
                           f"alignment")
    return _trace(net, rec, batch, n, passes)


def _trace(net, rec, batch, n, passes):
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
                 "window": net.meta["window"], "cores": [{"node": m, "layout": "shared-kernel" if c.conv is not None
                                                         else "dense"} for m, c in zip(net.nodes, net.cores)]}
    return trace


def is_calif(graph):
    return any(isinstance(graph.nodes[n], CaLIF) for n in graph.neurons)
