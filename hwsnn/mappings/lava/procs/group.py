"""GroupProcess: one Lava process that hosts several IR nodes (a group of the grouped lowering,
`_group.py`), stepping them in the IR's order with the same rules as the one-node processes.

Each IR node of the group is computed exactly as its own process would compute it: Source
`encode`, synapse `apply` (synapse.py), the neuron rules of neurons.py (called on a small
state cell), MaxPool2d `window_maxima` (pool.py). An edge whose source node lives in another
group arrives on an InPort (one per source node and group), a value needed by other groups
leaves on an OutPort (one per source node, fanned out to every group that reads it).

Delays: an edge with delay d reads its source's value of step t - d (zero before). A port whose
edges all have delay 1 is *latched*: at step t the group receives the message its source sent
at step t - 1, which is already in the channel, so groups linked only by such edges step in
parallel; any other port is received in the same step (the sending group comes earlier in the
IR's order, so no group waits on a later one).

Plan entries (tuples, in the IR's order): ("source", name, q, encoding, R, T, window),
("synapse", name, src, delay, kind, w, op), ("maxpool", name, src, delay, params, in_shape,
shape), ("neuron", name, rule, [(src, delay)], params, v_init, shape); shapes with batch axis.

proc_params: `plan` (node entries, in order), `shapes` {node: (B, *shape)} of the values read,
`ins` [(port, source node, shape, dtype,
latched)], `outs` [(port, source node, shape, dtype)], `record` (one file; per step one row of
int64: V, S, y of every recorded node in plan order, a Readout's V alone), `error`.
"""

import os

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hwsnn.mappings.lava.procs.common import GuardedModel
from hwsnn.mappings.lava.procs.neurons import IFModel, ILIFModel, ReadoutModel, STBIFModel
from hwsnn.mappings.lava.procs.pool import window_maxima
from hwsnn.mappings.lava.procs.source import encode
from hwsnn.mappings.lava.procs.synapse import apply

__all__ = ["GroupProcess", "GroupModel", "model_class", "RULES"]

# the one-node models' step rules, applied to a state cell (p, v, s)
RULES = {"STBIF": STBIFModel.step, "IF": IFModel.step, "ILIF": ILIFModel.step,
         "Readout": ReadoutModel.step}
_TYPES = {"int8": (np.int8, 2), "int64": (np.int64, 53)}  # spike payload -1/0/+1, or values


class GroupProcess(AbstractProcess):
    """Several IR nodes in one process; ports named in `ins` / `outs` (see module doc)."""

    def __init__(self, *, plan, shapes, ins, outs, record, error, name=None):
        super().__init__(plan=plan, shapes=shapes, ins=ins, outs=outs, record=record, error=error,
                         name=name)
        for port, _, shape, _, _ in ins:
            setattr(self, port, InPort(shape=shape))
        for port, _, shape, _ in outs:
            setattr(self, port, OutPort(shape=shape))


class _Cell:
    """State of one neuron node, shaped like a one-node model (p, v, s) for the RULES."""

    def __init__(self, p, v, s):
        self.p, self.v, self.s = p, v, s


@implements(proc=GroupProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class GroupModel(GuardedModel):
    """Base model; `model_class(proc)` adds the LavaPyType of each of the process's ports."""

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.plan = proc_params["plan"]
        self.ins = [(p, src, lat) for p, src, _, _, lat in proc_params["ins"]]
        self.outs = [(p, src, shape, dt) for p, src, shape, dt in proc_params["outs"]]
        self.OUT = tuple(p for p, _, _, _ in self.outs)
        self._same_step = tuple(p for p, _, lat in self.ins if not lat)
        self._every = tuple(p for p, _, _ in self.ins)
        self._record_path = proc_params["record"]
        self._fd = None
        self.shapes = proc_params["shapes"]
        self.cells, self.prev = {}, {}
        for e in self.plan:
            if e[0] == "neuron":
                _, name, rule, ins, p, v_init, shape = e
                self.cells[name] = _Cell(p, v_init.copy(), np.zeros(shape, dtype=np.int64))
            elif e[0] == "maxpool":
                _, name, src, d, p, in_shape, shape = e
                self.cells[name] = _Cell(p, np.zeros(in_shape, dtype=np.int64),
                                         np.zeros(shape, dtype=np.int64))

    def zeros(self, name):
        for p, _, shape, dt in self.outs:
            if p == name:
                return np.zeros(shape, dtype=_TYPES[dt][0])
        raise KeyError(name)

    def run_spk(self):
        # a latched port has nothing to receive at the first step
        self.IN = self._every if self.time_step > 1 else self._same_step
        super().run_spk()

    def _value(self, now, src, delay):
        got = (now if delay == 0 else self.prev).get(src)
        return np.zeros(self.shapes[src], dtype=np.int64) if got is None else got

    def step_once(self):
        t = self.time_step - 1
        now = {}
        for port, src, latched in self.ins:
            if latched:
                if t > 0:
                    self.prev[src] = self.recv(port).astype(np.int64)
            else:
                now[src] = self.recv(port).astype(np.int64)
        rows = []
        for e in self.plan:
            try:
                self._node(e, now, t, rows)
            except Exception as exc:  # name the node; GuardedModel reports it to the host
                raise RuntimeError(f"node '{e[1]}': {type(exc).__name__}: {exc}") from exc
        for port, src, _, dt in self.outs:
            self.send(port, now[src].astype(_TYPES[dt][0]))
        self.prev = now
        if self._fd is None:
            self._fd = os.open(self._record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, b"".join(np.ascontiguousarray(r, dtype=np.int64).tobytes()
                                    for r in rows))

    def _node(self, e, now, t, rows):
        kind, name = e[0], e[1]
        if kind == "source":
            _, _, q, enc, R, T, window = e
            now[name] = encode(q, enc, R, T, window, t)
        elif kind == "synapse":
            _, _, src, d, syn, w, op = e
            now[name] = apply(syn, w, op, self._value(now, src, d))
        elif kind == "maxpool":
            _, _, src, d, p, _, _ = e
            c = self.cells[name]
            c.v = c.v + self._value(now, src, d)
            M = window_maxima(c.v, c.s.shape[2:], p["kernel"], p["stride"], p["padding"])
            now[name], c.s = M - c.s, M
            rows += [c.v, c.s, now[name]]
        else:  # neuron or readout: the current is the sum over its in-edges
            _, _, rule, ins, _, _, _ = e
            c = self.cells[name]
            I = np.zeros(c.v.shape, dtype=np.int64)
            for src, d in ins:
                I = I + self._value(now, src, d)
            y = RULES[rule](c, I, t)
            if rule == "Readout":
                rows.append(c.v)
                return
            now[name] = np.zeros(c.v.shape, dtype=np.int64) if y is None else y.astype(np.int64)
            rows += [c.v, c.s, now[name]]


def model_class(proc):
    """A GroupModel subclass with one LavaPyType per port of GroupProcess `proc`."""
    attrs = {}
    for port, _, _, dt, _ in proc.proc_params["ins"]:
        attrs[port] = LavaPyType(PyInPort.VEC_DENSE, *_TYPES[dt])
    for port, _, _, dt in proc.proc_params["outs"]:
        attrs[port] = LavaPyType(PyOutPort.VEC_DENSE, *_TYPES[dt])
    return type(f"GroupModel_{proc.name}", (GroupModel,), attrs)
