"""MaxPool2d Process and its fixed-point model: exact max pooling over spike counts.

Written from docs/ir-format.md ("MaxPool2d in detail"), not from the golden simulator: the
input counts C (Var v, (B, *in_shape)) integrate what the input edge carries; each output
keeps the maximum S (Var s, (B, *shape)) of C over its window, a position outside the input
(padding, ceil-mode overhang) counting 0; y = new maximum - S. The input edge has no synapse,
so the edge's delay is kept here: delay 1 takes the spikes received one step earlier.
All int64; a count beyond its s_bits register is reported after the run (as V).
"""

import os

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hwsnn.mappings.lava.procs.common import GuardedModel

__all__ = ["MaxPoolProcess", "MaxPoolModel"]


class MaxPoolProcess(AbstractProcess):
    """`in_shape`, `shape`: (B, C, H, W) of the counts and of the maxima; `params`: kernel,
    stride, padding (pairs), delay (0 or 1); `record`: file of per-step rows (C, S, y)."""

    def __init__(self, *, in_shape, shape, params, record, error, name=None):
        super().__init__(in_shape=in_shape, shape=shape, params=params, record=record, error=error,
                         name=name)
        self.a_in = InPort(shape=in_shape)
        self.s_out = OutPort(shape=shape)
        self.v = Var(shape=in_shape, init=np.zeros(in_shape, dtype=np.int64))
        self.s = Var(shape=shape, init=np.zeros(shape, dtype=np.int64))
        self.held = Var(shape=in_shape, init=np.zeros(in_shape, dtype=np.int64))


def window_maxima(C, out_hw, kernel, stride, padding):
    """Max of C (B, C, H, W) over each window; outside positions count 0 (loops over taps)."""
    (Ho, Wo), (kh, kw), (sh, sw), (ph, pw) = out_hw, kernel, stride, padding
    B, Ch, H, W = C.shape
    padded = np.zeros((B, Ch, ph + max(H + ph, (Ho - 1) * sh + kh - ph),
                       pw + max(W + pw, (Wo - 1) * sw + kw - pw)), dtype=np.int64)
    padded[:, :, ph:ph + H, pw:pw + W] = C
    out = None
    for a in range(kh):
        for b in range(kw):
            tap = padded[:, :, a:a + (Ho - 1) * sh + 1:sh, b:b + (Wo - 1) * sw + 1:sw]
            out = tap.copy() if out is None else np.maximum(out, tap)
    return out


@implements(proc=MaxPoolProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class MaxPoolModel(GuardedModel):
    IN, OUT = ("a_in",), ("s_out",)

    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)   # spikes (or values)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=32)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)     # input counts C
    s: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)     # window maxima S
    held: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=32)  # delay 1: last input

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.p = proc_params["params"]
        self._record_path = proc_params["record"]
        self._fd = None

    def zeros(self, name):
        return np.zeros(self.s.shape, dtype=np.int64)

    def step_once(self):
        x = self.recv("a_in").astype(np.int64)
        if self.p["delay"]:
            x, self.held = self.held, x
        self.v = self.v + x
        M = window_maxima(self.v, self.s.shape[2:], self.p["kernel"], self.p["stride"], self.p["padding"])
        y = M - self.s
        self.s = M
        self.send("s_out", y)
        if self._fd is None:
            self._fd = os.open(self._record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.write(self._fd, b"".join(np.ascontiguousarray(r, dtype=np.int64).tobytes()
                                    for r in (self.v, self.s, y)))
