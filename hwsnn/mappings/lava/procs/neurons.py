"""Neuron and readout Processes with fixed-point (int64 numpy) models, one per IR neuron kind.

Rules copy sim/_neurons.py exactly; order within a step: integrate, decide, reset. Container
widths (LavaPyType precision) are the largest the IR allows (MAX_V_BITS = 48 for V); the
node's own v_bits / s_bits are checked at lowering (params) and after the run (V), as the
golden simulator does. No arithmetic here wraps: int64 holds 48-bit V plus any current.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from hwsnn.mappings.lava.procs.common import StatefulModel, StatefulProcess, release

__all__ = ["STBIFProcess", "IFProcess", "ILIFProcess", "CaLIFProcess", "ReadoutProcess",
           "STBIFModel", "IFModel", "ILIFModel", "CaLIFModel", "ReadoutModel"]


class STBIFProcess(StatefulProcess):
    """ST-BIF: V' = V + I + b_t; y = +1 if V' >= theta and S < s_max, -1 if V' < 0 and
    S > s_min; V = V' - y*theta; S += y. y is a Loihi 2 graded spike with a 2-bit payload."""


class IFProcess(StatefulProcess):
    """IF, soft reset: V' = V + I + b_t; y = V' >= theta (and S < s_max if s_max > 0)."""


class ILIFProcess(StatefulProcess):
    """iLIF, k = 2: accumulate V = 2V + I for T steps from `start` (bias at the last one), then
    generate V = 2V; y = V >= theta; V -= y*theta for T steps; S = 2S + y (the output code)."""


class CaLIFProcess(StatefulProcess):
    """Ca-LIF: V = V + I - leak; +1 if V >= theta (S < s_max if s_max > 0); -1 if V <= -theta
    (and S > 0 with the calcium gate); reset by -y*theta. Settle: +1 while 2V >= theta, -1
    while 2V < -theta (gated)."""


class ReadoutProcess(StatefulProcess):
    """Readout: V = V + I (horner: V = 2V + I inside its input's window, else unchanged)."""

    SPIKES = False


class _Ports:
    # a_in: synaptic current, the sum of every synapse ending here (int64 container)
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=63)
    # s_out: graded spike -1/0/+1 (2-bit signed payload)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int8, precision=2)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)     # node v_bits <= 48
    s: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)     # node s_bits
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=63)   # settle-phase current
    mode: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    fired: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)


def _bias(p, t):
    return release(p["bias"], t, p["bias_R"]) if t < p["bias_R"] else 0


@implements(proc=STBIFProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class STBIFModel(_Ports, StatefulModel):
    def step(self, I, t):
        p = self.p
        V = self.v + I + _bias(p, t)
        y = ((V >= p["theta"]) & (self.s < p["s_max"])).astype(np.int64) \
            - ((V < 0) & (self.s > p["s_min"])).astype(np.int64)
        self.v = V - y * p["theta"]
        self.s = self.s + y
        return y


@implements(proc=IFProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class IFModel(_Ports, StatefulModel):
    def step(self, I, t):
        p = self.p
        V = self.v + I + _bias(p, t)
        fire = V >= p["theta"]
        if p["s_max"] > 0:
            fire &= self.s < p["s_max"]
        y = fire.astype(np.int64)
        self.v = V - y * p["theta"]
        self.s = self.s + y
        return y


@implements(proc=ILIFProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class ILIFModel(_Ports, StatefulModel):
    def step(self, I, t):
        p = self.p
        a, T = p["start"], p["T"]
        if a <= t < a + T:
            V = 2 * self.v + I
            if t == a + T - 1:
                V = V + p["bias"]
            self.v = V
            return None
        if a + T <= t < a + 2 * T:
            V = 2 * self.v
            y = (V >= p["theta"]).astype(np.int64)
            self.v = V - y * p["theta"]
            self.s = 2 * self.s + y
            return y
        return None


@implements(proc=CaLIFProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class CaLIFModel(_Ports, StatefulModel):
    def _fire(self, V, pos, neg):
        p = self.p
        if p["s_max"] > 0:
            pos &= self.s < p["s_max"]
        if p["gate"]:
            neg &= self.s > 0
        y = pos.astype(np.int64) - neg.astype(np.int64)
        self.v = V - y * p["theta"]
        self.s = self.s + y
        return y

    def step(self, I, t):
        V = self.v + I - self.p["leak"]
        return self._fire(V, V >= self.p["theta"], V <= -self.p["theta"])

    def settle(self):
        V = self.v
        return self._fire(V, 2 * V >= self.p["theta"], 2 * V < -self.p["theta"])


@implements(proc=ReadoutProcess, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class ReadoutModel(StatefulModel):
    SPIKES = False
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int64, precision=63)
    v: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=48)     # node v_bits <= 48
    s: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)      # unused, always 0
    acc: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=63)
    mode: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=2)
    fired: np.ndarray = LavaPyType(np.ndarray, np.int64, precision=1)

    def step(self, I, t):
        p = self.p
        if p["horner"]:
            if p["start"] <= t < p["start"] + p["T"]:
                self.v = 2 * self.v + I
        else:
            self.v = self.v + I
        return None
