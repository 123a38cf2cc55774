"""Execute a LavaNetwork under Lava's runtime (Loihi2SimCfg fixed_pt, RunSteps) and read the
recorded states back as a golden-shaped hwsnn.ir.Trace.

The runtime is always stopped (try/finally, also on error or Ctrl-C); Lava's worker processes
that outlive the stop are terminated, so nothing is left hanging.
"""

import contextlib
import ctypes
import multiprocessing
import multiprocessing.util
import os
import signal
import tempfile
import threading

import numpy as np

from hwsnn.errors import BackendError, MappingError, RangeError
from hwsnn.ir import ILIF, int_range

from ._compat import require_lava
from ._lower import lower

__all__ = ["run", "execute", "MODEL_OVERRIDES"]

# {kind: ProcessModel class} used by every run unless `models=` is given: lets a test (or an
# experiment) select another model for one kind, e.g. a deliberately corrupted one.
MODEL_OVERRIDES = {}


def _run_config(models):
    from lava.magma.core.run_configs import Loihi2SimCfg

    from . import procs as P
    kinds = {"STBIF": P.STBIFProcess, "IF": P.IFProcess, "ILIF": P.ILIFProcess,
             "CaLIF": P.CaLIFProcess, "Readout": P.ReadoutProcess, "Source": P.SourceProcess,
             "Synapse": P.SynapseProcess}
    exceptions = {}
    for kind, model in (MODEL_OVERRIDES if models is None else models).items():
        if kind not in kinds:
            raise BackendError(f"models: kind must be one of {sorted(kinds)}, not {kind!r}")
        exceptions[kinds[kind]] = model
    return Loihi2SimCfg(select_tag="fixed_pt", exception_proc_model_map=exceptions)


def _check_errors(lnet):
    """BackendError naming the first node (topological order) whose model failed."""
    for n in lnet.sim_net.order:
        path = lnet.errors.get(n)
        if path and os.path.exists(path):
            with open(path) as f:
                msg = f.read()
            raise BackendError(f"lava: the process model of node '{n}' failed at {msg}")


def settle_cap(node, max_settle=None):
    """Settle steps Ca-LIF `node` may fire: `max_settle` if given, else 1 + 2^(v_bits-1) //
    min(theta) from the IR (|V| fits v_bits; each settle spike moves V by theta toward 0 and the
    rule stops within theta/2 of 0, so a sound rule needs no more)."""
    if max_settle is not None:
        if int(max_settle) < 0:
            raise BackendError(f"lava: max_settle must be >= 0, not {max_settle!r}")
        return int(max_settle)
    return 1 + (1 << (node.v_bits - 1)) // max(1, int(np.min(node.theta)))


def _settle(lnet, any_proc, cfg, max_settle=None):
    """Ca-LIF settle phase (sim/_step.py `_Runner.settle`), one node at a time in topological
    order: HOLD everyone, ABSORB the node's pending current for one step, then FIRE steps until
    one fires nowhere in the batch, at most `settle_cap` firing steps per node (BackendError
    naming the node and step beyond). Returns the Lava step indices (0-based) to drop: those
    final non-firing attempts, which the golden run does not record (they change no state)."""
    from lava.magma.core.run_conditions import RunSteps

    from .procs import ABSORB, FIRE, HOLD
    g, done, drop = lnet.graph, lnet.steps, []

    def step():
        nonlocal done
        any_proc.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
        done += 1
        _check_errors(lnet)

    for n in lnet.stateful():
        lnet.procs[n].mode.set(np.array([HOLD]))
    for n in lnet.stateful():
        proc = lnet.procs[n]
        proc.mode.set(np.array([ABSORB]))
        step()
        if g.nodes[n].ROLE == "neuron":
            proc.mode.set(np.array([FIRE]))
            cap = settle_cap(g.nodes[n], max_settle)
            for fired in range(cap + 1):
                step()
                if not int(proc.fired.get()[0]):
                    drop.append(done - 1)
                    break
                if fired == cap:
                    raise BackendError(
                        f"lava: node '{n}': the Ca-LIF settle phase still fires after its cap of {cap} "
                        f"settle steps (step {done - 1 - len(drop)}); a settle rule that cannot settle, or raise "
                        f"max_settle")
        proc.mode.set(np.array([HOLD]))
    return done, drop


def _read(lnet, total, drop):
    """{node: {"V"/"S"/"y": (steps, B, *shape)}} from the record files."""
    g, out = lnet.graph, {}
    keep = np.setdiff1d(np.arange(total), np.asarray(drop, dtype=np.int64))
    for n, path in lnet.records.items():
        node = g.nodes[n]
        # one row per step: V, then S and y for a neuron (a MaxPool2d's V has its in_shape)
        shapes = [tuple(getattr(node, "in_shape", node.shape))]
        if node.ROLE == "neuron":
            shapes += [tuple(node.shape)] * 2
        sizes = [lnet.batch * int(np.prod(s)) for s in shapes]
        raw = np.fromfile(path, dtype=np.int64)
        per_step = sum(sizes)
        if raw.size != total * per_step:
            raise BackendError(f"lava: node '{n}' recorded {raw.size // max(per_step, 1)} steps, "
                               f"expected {total}")
        rows = raw.reshape(total, per_step)[keep]
        parts = np.split(rows, np.cumsum(sizes)[:-1], axis=1)
        # int64 as recorded: never narrowed before the comparison
        out[n] = {var: p.reshape(len(rows), lnet.batch, *s) for var, p, s in zip(("V", "S", "y"), parts, shapes)}
    return out


def _trace(lnet, rec):
    """Assemble a Trace exactly as the golden run does (final, spikes, t_eq, settled)."""
    from hwsnn.ir import Trace, source_length

    g, B = lnet.graph, lnet.batch
    nsteps = next(iter(rec.values()))["V"].shape[0]
    changed = np.zeros((nsteps, B), dtype=bool)
    final = {}
    for n in lnet.stateful():
        node, r = g.nodes[n], rec[n]
        lo, hi = int_range(node.v_bits)
        if r["V"].size and (r["V"].min() < lo or r["V"].max() > hi):
            raise RangeError(f"node '{n}': membrane V reached [{int(r['V'].min())}, "
                             f"{int(r['V'].max())}], outside its int{node.v_bits} register "
                             f"[{lo}, {hi}] (range analysis should have widened it)")
        S = r.get("S", np.zeros_like(r["V"]))
        vshape = r["V"].shape[2:]  # a MaxPool2d's V (its input counts) has its in_shape
        v0 = np.broadcast_to(np.asarray(getattr(node, "v0", 0), dtype=np.int64), vshape)
        V_prev = np.concatenate([np.broadcast_to(v0, (1, B, *vshape)), r["V"][:-1]])
        S_prev = np.concatenate([np.zeros((1, B, *S.shape[2:]), np.int64), S[:-1]])
        changed |= (r["V"] != V_prev).reshape(nsteps, B, -1).any(2)
        changed |= (S != S_prev).reshape(nsteps, B, -1).any(2)
        final[n] = {"V": r["V"][-1].copy(), "S": S[-1].copy()}
    steps_idx = np.arange(1, nsteps + 1)[:, None]
    t_eq = np.where(changed, steps_idx, 0).max(axis=0).astype(np.int64)
    if lnet.calif:
        settled = np.ones(B, dtype=bool)
    else:
        net = lnet.sim_net
        ends = [source_length(g.nodes[s]) for s in g.sources]
        ends += [getattr(g.nodes[n], "bias_R", 0) for n in g.neurons]
        ends += [sum(net.timing[n]) for n in g.neurons if isinstance(g.nodes[n], ILIF)]
        settled = (t_eq < lnet.steps) & (max(ends) <= lnet.steps - 1)
    spikes = {n: np.abs(rec[n]["y"].astype(np.int64)).sum(axis=0) for n in g.neurons}
    trace = Trace(steps=nsteps, batch=B, final=final, t_eq=t_eq, settled=settled,
                  spikes=spikes, readouts=tuple(g.readouts), graph=g)
    for var in ("V", "S", "y"):
        setattr(trace, var, {n: rec[n][var] for n in lnet.stateful() if var in rec[n]})
    return trace


def execute(lnet, models=None, max_settle=None):
    """Run a lowered network for its steps (plus the Ca-LIF settle phase); return a Trace.
    `models` {kind: ProcessModel class} overrides the model of one kind (tests, experiments);
    `max_settle`: settle steps a Ca-LIF node may fire (default: `settle_cap`, from the IR)."""
    from lava.magma.core.run_conditions import RunSteps

    cfg = _run_config(models)
    any_proc = next(iter(lnet.procs.values()))
    # Create multiprocessing's pymp-* folder here, before Lava forks: the workers then share it
    # and this process removes it at exit. A worker that made its own would leave it behind
    # when it is terminated.
    multiprocessing.util.get_temp_dir()
    before = {p.pid for p in multiprocessing.active_children()}
    graceful = True
    try:
        with _sigint_deferred():
            any_proc.create_runtime(run_cfg=cfg)  # compile and fork the workers
        any_proc.run(condition=RunSteps(num_steps=lnet.steps), run_cfg=cfg)
        _check_errors(lnet)
        total, drop = _settle(lnet, any_proc, cfg, max_settle) if lnet.calif else (lnet.steps, [])
    except KeyboardInterrupt:
        graceful = False  # the runtime may be mid-step: do not wait for its replies
        raise
    except RuntimeError as exc:  # a ProcessModel raised inside Lava's runtime
        graceful = False
        raise BackendError(f"lava: the runtime failed: {exc}") from exc
    finally:
        _stop(any_proc, before, graceful)
    return _trace(lnet, _read(lnet, total, drop))


_FORKING = []  # non-empty while Lava forks its workers


def _die_with_parent():
    """In a Lava worker (Linux): get SIGTERM when the parent dies, even by SIGKILL, instead of
    waiting forever on a channel."""
    if _FORKING:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_die_with_parent)


@contextlib.contextmanager
def _sigint_deferred():
    """While Lava forks its workers, Ctrl-C only sets a flag (raised as KeyboardInterrupt on
    exit). The workers inherit that handler, so a terminal's Ctrl-C (sent to the whole process
    group) never kills one half-way through start-up, which would leave Lava waiting forever;
    this process alone handles Ctrl-C and then ends them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    _FORKING.append(1)
    try:
        yield
    finally:
        _FORKING.clear()
        signal.signal(signal.SIGINT, old)
    if pending:
        raise KeyboardInterrupt


def _stop(any_proc, before, graceful, wait_s=10.0):
    """Stop Lava's runtime (in a thread, so a dead worker cannot hang us); then end, by pid,
    every worker process this run started that is still alive."""
    def stop():
        try:
            if any_proc.runtime is not None:
                any_proc.stop()
        except Exception:  # noqa: BLE001 (the runtime is torn down below either way)
            pass

    if graceful:
        th = threading.Thread(target=stop, daemon=True)
        th.start()
        th.join(wait_s)
    for p in multiprocessing.active_children():
        if p.pid not in before and p.is_alive():
            # BaseProcess.join: Lava's SystemProcess.join() takes no timeout
            p.terminate()
            multiprocessing.process.BaseProcess.join(p, wait_s)
            if p.is_alive():
                p.kill()
                multiprocessing.process.BaseProcess.join(p, wait_s)


# graphs with more nodes than this run grouped (`_group.py`) unless `groups=` says otherwise;
# grouped was faster at every size measured (7 to 2657 nodes), so every graph qualifies
GROUP_ABOVE = 0


def run(graph, x, steps, *, delay=1, models=None, max_settle=None, groups=None):
    """Run IR `graph` on integer input `x` for `steps` steps under Lava; return a Trace shaped
    like the golden run's, with `trace.graph` = the graph Lava ran (every edge leaving a Source
    or neuron has `delay`, default 1; None keeps the graph's delays). `max_settle`: settle steps
    a Ca-LIF node may fire before BackendError (default 1 + 2^(v_bits-1) // min theta).
    `groups`: 0 = one Lava process per IR node; n > 0 = n processes hosting the nodes
    (`_group.lower_grouped`); None = grouped (DEFAULT_GROUPS) for a graph of more than
    GROUP_ABOVE nodes without Ca-LIF neurons and without model overrides (`models`,
    MODEL_OVERRIDES), one per node otherwise."""
    require_lava()
    if any(n.type == "CUBALIF" for n in graph.nodes.values()):
        # Loihi-native: Lava's own LIF/Dense/Conv (delay 1 by construction); MappingError
        # naming why when the graph cannot map (_native.native_reason)
        from ._native import run_native
        if delay != 1 or models:
            raise MappingError("a CUBALIF graph runs on Lava's own processes: delay 1, no models=")
        return run_native(graph, x, steps)
    overrides = MODEL_OVERRIDES if models is None else models
    if groups is None:
        calif = any(n.type == "CaLIF" for n in graph.nodes.values())
        groups = None if len(graph.nodes) > GROUP_ABOVE and not calif and not overrides else 0
    elif int(groups) < 0:
        raise BackendError(f"lava: groups must be >= 0, not {groups!r}")
    with tempfile.TemporaryDirectory(prefix="hwsnn-lava-") as tmp:
        if groups != 0:
            if overrides:
                raise MappingError("lava: models (or MODEL_OVERRIDES) replace one-node process "
                                   "models; use groups=0")
            from ._group import execute_grouped, lower_grouped
            return execute_grouped(lower_grouped(graph, x, steps, delay=delay, record_dir=tmp,
                                                 groups=groups))
        lnet = lower(graph, x, steps, delay=delay, record_dir=tmp)
        return execute(lnet, models, max_settle)
