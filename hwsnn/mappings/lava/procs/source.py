"""Source Process: emits the encoded input of a whole batch, one Lava step per IR step."""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hwsnn.mappings.lava.procs.common import GuardedModel, release

__all__ = ["SourceProcess", "SourceModel", "encode"]


def encode(q, enc, R, T, window, t):
    """The graded spikes a Source sends at step t (see SourceProcess), int64."""
    out = np.zeros_like(q)
    if t < window:
        if enc == "analog":
            out = release(q, t, R)
        elif enc == "rate":
            out = release(q, t, T)
        elif t < T:
            out = (q >> (T - 1 - t)) & 1
    return out


class SourceProcess(AbstractProcess):
    """Input q (B, *shape), signed x_bits wide, sent as graded spikes at step t < window:
    analog: floor((t+1)q/R) - floor(tq/R) (t < R); rate: the same with R = T (0/1 spikes);
    bits: bit T-1-t of q (MSB first, t < T). Nothing after the window (Ca-LIF settle phase)."""

    def __init__(self, *, q, encoding, R, T, window, error, name=None):
        super().__init__(shape=q.shape, q=q, encoding=encoding, R=R, T=T, window=window,
                         error=error, name=name)
        self.s_out = OutPort(shape=q.shape)


@implements(proc=SourceProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class SourceModel(GuardedModel):
    IN, OUT = (), ("s_out",)

    # graded spike; payload up to x_bits <= 32 (checked at lowering), int64 container
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.q = np.asarray(proc_params["q"], dtype=np.int64)
        self.enc = proc_params["encoding"]
        self.R, self.T, self.window = proc_params["R"], proc_params["T"], proc_params["window"]

    def zeros(self, name):
        return np.zeros_like(self.q)

    def step_once(self):
        self.send("s_out", encode(self.q, self.enc, self.R, self.T, self.window, self.time_step - 1))
