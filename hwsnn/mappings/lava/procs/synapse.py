"""Synapse Process: one stateless integer synapse of the IR (Dense, Conv2d, SumPool2d, Scale,
Flatten) applied to a batch, with the delay of its input edge.

Why not Lava's Dense / Conv: they have no batch axis; their fixed-point models always deliver
one step late (an IR edge may have delay 0, and synapse chains such as Flatten -> Dense must
add no delay); Dense drops the lowest weight bit when signs are mixed ((W >> 1) << 1 with a
weight exponent); and they need num_message_bits > 0 for -1 spikes. This model is exact:
the lowering proves every partial sum below 2^53, so float64 BLAS sums integers exactly, and
the result is sent as int64.

delay = 1 (Loihi style): at each step send the result computed last step, then compute this
step's; delay = 0: receive, compute and send in the same step.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from numpy.lib.stride_tricks import sliding_window_view

from hwsnn.mappings.lava.procs.common import GuardedModel

__all__ = ["SynapseProcess", "SynapseModel", "apply"]


class SynapseProcess(AbstractProcess):
    """`kind` in dense/conv/pool/scale/flatten; `w`: weights (signed w_bits, checked at
    lowering); `op`: stride, padding, groups, kernel; `delay`: 0 or 1."""

    def __init__(self, *, in_shape, out_shape, kind, w, op, delay, error, name=None):
        super().__init__(in_shape=in_shape, out_shape=out_shape, kind=kind, op=op, delay=delay,
                         error=error, name=name)
        self.s_in = InPort(shape=in_shape)
        self.a_out = OutPort(shape=out_shape)
        self.w = Var(shape=w.shape, init=w)
        self.buf = Var(shape=out_shape, init=np.zeros(out_shape, dtype=np.int64))


def _conv(x, W, stride, padding, groups):
    """im2col + one matrix product per group (float64, exact below 2^53)."""
    B = x.shape[0]
    co, cig, kh, kw = W.shape
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]  # B,C,Ho,Wo,kh,kw
    ho, wo = win.shape[2], win.shape[3]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(B * ho * wo, groups, cig * kh * kw)
    Wg = W.reshape(groups, co // groups, cig * kh * kw)
    out = np.concatenate([cols[:, g] @ Wg[g].T for g in range(groups)], axis=1)
    return out.reshape(B, ho, wo, co).transpose(0, 3, 1, 2)


def apply(kind, w, op, x):
    """Exact integer synapse on x (B, *in_shape) -> (B, *out_shape), int64."""
    xf = x.astype(np.float64)
    if kind == "dense":
        out = xf.reshape(x.shape[0], -1) @ w.T
    elif kind == "conv":
        out = _conv(xf, w, op["stride"], op["padding"], op["groups"])
    elif kind == "pool":
        (kh, kw), (sh, sw) = op["kernel"], op["stride"]
        out = sliding_window_view(xf, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].sum(axis=(4, 5))
    elif kind == "scale":
        out = xf * w
    else:  # flatten
        out = xf.reshape(x.shape[0], -1)
    return out.astype(np.int64)


@implements(proc=SynapseProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class SynapseModel(GuardedModel):
    IN, OUT = ("s_in",), ("a_out",)

    s_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=32)   # spikes or current
    a_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int64, precision=53)  # |sum| < 2^53
    w: np.ndarray = LavaPyType(np.ndarray, np.float64, precision=32)  # integers, w_bits <= 32
    buf: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=53)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.kind, self.op, self.delay = proc_params["kind"], proc_params["op"], proc_params["delay"]

    def zeros(self, name):
        return np.zeros_like(self.buf)

    def step_once(self):
        if self.delay:
            self.send("a_out", self.buf)
            self.buf = apply(self.kind, self.w, self.op, self.recv("s_in"))
        else:
            self.send("a_out", apply(self.kind, self.w, self.op, self.recv("s_in")))
