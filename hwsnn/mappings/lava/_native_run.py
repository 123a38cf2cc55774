"""Build and run a Loihi-native graph on Lava's own processes (see `_native`), and read u, v
and spikes back as a golden-shaped Trace.

The Trace holds U (u), V (v) and y of every CUBALIF as `procs.StateRecorder` read them from
Lava's LIF (RefPorts on u and v after each step, as Lava's Monitor reads them; one recorder per
layer where Monitor needs one worker per variable), and V of every Readout. A CUBALIF's spike
count S is no state of Lava's LIF: it is marked not valid (`trace.valid`), so `compare` neither
compares nor counts it.
"""

import multiprocessing
import multiprocessing.util
import os
import tempfile

import numpy as np

from hwsnn.errors import BackendError, MappingError
from hwsnn.ir import (CUBALIF, Conv2d, Dense, Flatten, Readout, Scale, Schedule, Source, Trace,
                      source_length)
from hwsnn.mappings._inputs import as_inputs

from ._compat import require_lava

__all__ = ["run_native", "lower_native"]


def _emission(node, q, steps):
    """(steps, B, *shape) int32: what a Source emits at each step (docs/ir-format.md)."""
    from .procs.common import release
    R = node.R if node.encoding == "analog" else node.T
    return np.stack([release(q, t, R) for t in range(steps)]).astype(np.int32)


def lower_native(graph, x, steps, record_dir):
    """Processes for `graph` with delay 1 on every edge leaving a Source or neuron (Loihi).
    Returns (graph run, batch, procs, recorders {node: (StateRecorder, Lava shape)},
    readout records {node: file})."""
    require_lava()
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense as LavaDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF

    from . import _native as N
    from . import procs as P
    from ._lower import _check_connected

    why = N.native_reason(graph)
    if why:
        raise MappingError(f"graph '{graph.name}' is not Loihi-native: {why}")
    g = graph.with_delays(1)
    _check_connected(g)  # Lava compiles only what is connected to the process it runs
    sched = Schedule(g)
    sched.check_steps(steps)
    q = as_inputs(g, x)
    B = next(iter(q.values())).shape[0]
    shapes = {}
    procs, outs, recorders, records = {}, {}, {}, {}
    for name in sched.order:
        node = g.nodes[name]
        if isinstance(node, Source):
            data = _emission(node, q[name], steps)  # (steps, B, *shape)
            lav = np.stack([N.to_lava(d, node.shape) for d in data], axis=-1)
            procs[name] = RingBuffer(data=lav)
            shapes[name] = node.shape
            outs[name] = procs[name].s_out
        elif isinstance(node, Flatten):
            src = g.inputs_of(name)[0].src
            shapes[name] = (int(np.prod(shapes[src])),)
            outs[name] = outs[src].flatten()
            shapes[f"{name}:layout"] = shapes.get(f"{src}:layout", shapes[src])
        elif isinstance(node, Dense):
            src = g.inputs_of(name)[0].src
            in_layout = shapes.get(f"{src}:layout", shapes[src])
            M = N.dense_weights(node.W.astype(np.int64), in_layout, B)
            from_source = isinstance(g.nodes[N._spiking_input(g, name)], Source)
            procs[name] = LavaDense(weights=M, weight_exp=int(node.w_exp), num_weight_bits=8,
                                    num_message_bits=24 if from_source else 0, name=name)
            outs[src].connect(procs[name].s_in)
            shapes[name] = (node.W.shape[0],)
            outs[name] = procs[name].a_out
        elif isinstance(node, Conv2d):
            src = g.inputs_of(name)[0].src
            C, H, W = shapes[src]
            from_source = isinstance(g.nodes[src], Source)
            procs[name] = Conv(weight=N.conv_weights(node.W, int(node.w_exp), B),
                               input_shape=(W, H, B * C), padding=node.padding[::-1],
                               stride=node.stride[::-1], groups=B * node.groups,
                               num_message_bits=24 if from_source else 0, name=name)
            outs[src].connect(procs[name].s_in)
            Wo, Ho = procs[name].output_shape[:2]
            shapes[name] = (node.W.shape[0], Ho, Wo)
            outs[name] = procs[name].a_out
        elif isinstance(node, Scale):
            src = g.inputs_of(name)[0].src
            n = shapes[src][0]
            procs[name] = P.SynapseProcess(
                in_shape=(B, n), out_shape=(B, n), kind="scale",
                w=np.atleast_1d(np.asarray(node.w, dtype=np.float64)), op={}, delay=1,
                error=os.path.join(record_dir, f"{name}.err"), name=name)
            outs[src].reshape((B, n)).connect(procs[name].s_in)
            shapes[name] = (n,)
            outs[name] = procs[name].a_out
        elif isinstance(node, CUBALIF):
            lshape = N.lava_shape(node.shape, B)
            bias = {f: N.to_lava(np.broadcast_to(getattr(node, f), (B, *node.shape)), node.shape)
                    for f in ("bias_mant", "bias_exp")}
            procs[name] = LIF(shape=lshape, du=int(node.du), dv=int(node.dv), vth=int(node.vth),
                              bias_mant=np.ascontiguousarray(bias["bias_mant"], dtype=np.int32),
                              bias_exp=np.ascontiguousarray(bias["bias_exp"], dtype=np.int32),
                              name=name)
            for e in g.inputs_of(name):
                outs[e.src].connect(procs[name].a_in)
            rec = P.StateRecorder(shape=lshape, record=os.path.join(record_dir, f"{name}.lif"))
            rec.u_ref.connect_var(procs[name].u)
            rec.v_ref.connect_var(procs[name].v)
            procs[name].s_out.connect(rec.s_in)
            recorders[name] = (rec, lshape)
            shapes[name] = node.shape
            outs[name] = procs[name].s_out
        elif isinstance(node, Readout):
            n = node.shape[0]
            records[name] = os.path.join(record_dir, f"{name}.bin")
            procs[name] = P.ReadoutProcess(
                shape=(B, n), v_init=np.zeros((B, n), dtype=np.int64),
                params={"node": name, "horner": False, "start": 0, "T": 0},
                record=records[name], error=os.path.join(record_dir, f"{name}.err"), name=name)
            for e in g.inputs_of(name):
                port = outs[e.src]
                port = port if isinstance(g.nodes[e.src], Scale) else port.reshape((B, n))
                port.connect(procs[name].a_in)
            shapes[name] = node.shape
    return g, B, procs, recorders, records


def _check_errors(record_dir):
    for f in sorted(os.listdir(record_dir)):
        if f.endswith(".err"):
            with open(os.path.join(record_dir, f)) as fh:
                raise BackendError(f"lava: the process model of node '{f[:-4]}' failed at "
                                   f"{fh.read()}")


def _trace(g, B, steps, rec):
    final, changed = {}, np.zeros((steps, B), dtype=bool)
    for n, r in rec.items():
        prev = {k: np.concatenate([np.zeros_like(a[:1]), a[:-1]]) for k, a in r.items()}
        for k, a in r.items():
            changed |= (a != prev[k]).reshape(steps, B, -1).any(2)
        final[n] = {k: r[k][-1].copy() for k in ("V", "U") if k in r}
        final[n]["S"] = r["y"].sum(axis=0) if "y" in r else np.zeros_like(r["V"][-1])
    steps_idx = np.arange(1, steps + 1)[:, None]
    t_eq = np.where(changed, steps_idx, 0).max(axis=0).astype(np.int64)
    neurons = g.neurons
    ends = max(source_length(g.nodes[s]) for s in g.sources)
    trace = Trace(steps=steps, batch=B, final=final, t_eq=t_eq,
                  settled=(t_eq < steps) & (ends <= steps - 1), readouts=tuple(g.readouts), graph=g,
                  spikes={n: rec[n]["y"].sum(axis=0) for n in neurons})
    trace.V = {n: rec[n]["V"] for n in rec}
    trace.U = {n: rec[n]["U"] for n in neurons}
    trace.y = {n: rec[n]["y"] for n in neurons}
    trace.S = {n: np.zeros_like(rec[n]["V"]) for n in neurons}
    # the spike count is no Lava state: not valid, so neither compared nor counted
    trace.valid = {n: {"S": np.zeros((1,) * rec[n]["V"].ndim, dtype=bool)} for n in neurons}
    return trace


def _worker_errors(proc):
    """The last line of each exception Lava's workers raised (Lava itself only logs them)."""
    try:
        actors = proc.runtime._messaging_infrastructure.actors
        return "; ".join(str(a.exception[1]).strip().splitlines()[-1]
                         for a in actors if a.exception)
    except Exception:  # noqa: BLE001 (a private Lava structure: best effort)
        return ""


def run_native(graph, x, steps):
    """Run a Loihi-native `graph` on Lava's own LIF/Dense/Conv for `steps` steps; a Trace with
    `trace.graph` = the graph run (delay 1 on every edge leaving a Source or neuron)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    from . import _native as N
    from ._run import _sigint_deferred, _stop
    with tempfile.TemporaryDirectory(prefix="hwsnn-lava-native-") as tmp:
        g, B, procs, recorders, records = lower_native(graph, x, steps, tmp)
        cfg = Loihi2SimCfg(select_tag="fixed_pt")
        any_proc = next(iter(procs.values()))
        multiprocessing.util.get_temp_dir()
        before = {p.pid for p in multiprocessing.active_children()}
        graceful, rec = True, {}
        try:
            with _sigint_deferred():
                any_proc.create_runtime(run_cfg=cfg)
            any_proc.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            _check_errors(tmp)
            for n, (_, lshape) in recorders.items():
                raw = np.fromfile(os.path.join(tmp, f"{n}.lif"), dtype=np.int64)
                per_step = 3 * int(np.prod(lshape))
                if raw.size != steps * per_step:
                    raise BackendError(f"lava: node '{n}' recorded {raw.size // per_step} "
                                       f"steps, expected {steps}")
                rows = raw.reshape(steps, 3, *lshape)
                rec[n] = {var: N.from_lava(rows[:, i], g.nodes[n].shape, B)
                          for i, var in enumerate(("U", "V", "y"))}
        except KeyboardInterrupt:
            graceful = False
            raise
        except RuntimeError as exc:
            graceful = False
            raise BackendError(f"lava: the runtime failed: {_worker_errors(any_proc) or exc}") \
                from exc
        finally:
            _stop(any_proc, before, graceful)
        for n, path in records.items():
            shape = g.nodes[n].shape
            raw = np.fromfile(path, dtype=np.int64)
            if raw.size != steps * B * int(np.prod(shape)):
                raise BackendError(f"lava: Readout '{n}' recorded {raw.size} values, expected "
                                   f"{steps * B * int(np.prod(shape))}")
            rec[n] = {"V": raw.reshape(steps, B, *shape)}
    return _trace(g, B, steps, rec)
