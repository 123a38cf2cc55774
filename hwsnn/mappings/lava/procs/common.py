"""Shared pieces of the neuron process models: run modes, the bias release, the record sink.

Modes (host-set Var ``mode``, one int): WINDOW runs the neuron's step rule at t = time_step - 1;
after the window a Ca-LIF network settles layer by layer (sim/_step.py `_Runner.settle`): HOLD
adds the incoming current to the accumulator ``acc`` and leaves V, S alone, ABSORB adds
``acc`` plus this step's current to V, FIRE runs one settle step (rounding spike).

Failures: an exception inside a model would leave the other Lava processes blocked on their
channels (Lava 0.10 then hangs instead of reporting it). `GuardedModel` catches it, writes
"step T: Type: message" to the file named in proc_params ``error`` and from then on keeps the
network stepping with zero messages; the host reads the file after the run and raises.

State capture: Var.get() crosses Lava's runtime channel one element at a time (~30 us each),
so every stateful model appends its V, S, y of each step as raw int64 rows to a file named in
its proc_params (``record``); the host reads the file once after the run.
"""

import os

import numpy as np
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var

__all__ = ["WINDOW", "HOLD", "ABSORB", "FIRE", "release", "GuardedModel", "StatefulProcess",
           "StatefulModel"]

WINDOW, HOLD, ABSORB, FIRE = 0, 1, 2, 3


def release(q, t, R):
    """floor((t+1)q/R) - floor(tq/R) for 0 <= t < R, else 0 (int64, exact; sums to q)."""
    if t >= R:
        return np.zeros_like(q)
    return ((t + 1) * q) // R - (t * q) // R


def _one_blas_thread():
    """Models are built inside Lava's worker processes, one per Process: a multi-threaded BLAS
    in each of them oversubscribes the cores (a 100x128 @ 128x66 product took 16 ms instead of
    0.05 ms on 2 busy cores). One thread per worker."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)


class _Failed(Exception):
    pass


class GuardedModel(PyLoihiProcessModel):
    """Base of every hwsnn model: `step_once()` does the work of one time step, receiving and
    sending through `recv(port)` / `send(port, x)`; on an exception the ports not yet served
    this step get a receive / a zero message, now and at every later step."""

    IN = ()  # names of the in ports
    OUT = ()  # names of the out ports; `zeros(name)` gives their idle message

    def __init__(self, proc_params):
        super().__init__(proc_params)
        _one_blas_thread()
        self._error_path = proc_params["error"]
        self._failed = False
        self._served = set()

    def recv(self, name):
        x = getattr(self, name).recv()
        self._served.add(name)
        return x

    def send(self, name, x):
        getattr(self, name).send(x)
        self._served.add(name)

    def step_once(self):
        raise NotImplementedError

    def zeros(self, name):
        raise NotImplementedError

    def run_spk(self):
        self._served = set()
        try:
            if self._failed:
                raise _Failed
            self.step_once()
        except Exception as exc:  # noqa: BLE001 (reported to the host through the error file)
            if not self._failed:
                self._failed = True
                with open(self._error_path, "w") as f:
                    f.write(f"step {self.time_step - 1}: {type(exc).__name__}: {exc}")
            for name in self.IN:
                if name not in self._served:
                    getattr(self, name).recv()
            for name in self.OUT:
                if name not in self._served:
                    getattr(self, name).send(self.zeros(name))


class StatefulProcess(AbstractProcess):
    """A neuron or readout node with a batch axis: shape (B, *node_shape).

    Vars (int64 containers; the IR widths are the node's v_bits / s_bits, checked at lowering):
    v, s: membrane and spike tracer; acc: current held during the settle phase;
    mode: run mode (2 bits); fired: 1 if the last FIRE step fired anywhere (1 bit).
    Params go to the model through proc_params (node parameters, record file).
    """

    SPIKES = True

    def __init__(self, *, shape, v_init, params, record, error, name=None):
        super().__init__(shape=shape, params=params, record=record, error=error, name=name)
        self.a_in = InPort(shape=shape)
        if self.SPIKES:
            self.s_out = OutPort(shape=shape)
        self.v = Var(shape=shape, init=v_init)
        self.s = Var(shape=shape, init=np.zeros(shape, dtype=np.int64))
        self.acc = Var(shape=shape, init=np.zeros(shape, dtype=np.int64))
        self.mode = Var(shape=(1,), init=np.array([WINDOW]))
        self.fired = Var(shape=(1,), init=np.array([0]))


class StatefulModel(GuardedModel):
    """Runs one step per Lava time step: receive current, apply the mode, send y, record."""

    SPIKES = True
    IN = ("a_in",)
    OUT = ("s_out",)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.p = proc_params["params"]
        self._record_path = proc_params["record"]
        self._fd = None
        if not self.SPIKES:
            self.OUT = ()

    def zeros(self, name):
        return np.zeros(self.v.shape, dtype=np.int8)

    # subclasses: step(I, t) -> y (int64 array) or None; settle() -> y
    def step(self, I, t):
        raise NotImplementedError

    def settle(self):
        raise NotImplementedError

    def step_once(self):
        I = self.recv("a_in").astype(np.int64)
        mode = int(self.mode[0])
        y = None
        if mode == WINDOW:
            y = self.step(I, self.time_step - 1)
        elif mode == HOLD:
            self.acc = self.acc + I
        elif mode == ABSORB:
            self.v = self.v + self.acc + I
            self.acc = np.zeros_like(self.acc)
        else:  # FIRE: upstream is done, so I is zero; keep it anyway
            self.acc = self.acc + I
            y = self.settle()
            self.fired = np.array([int(np.any(y))])
        if y is None:
            y = np.zeros_like(self.v)
        if self.SPIKES:
            self.send("s_out", y.astype(np.int8))  # graded spike, payload -1/0/+1 (2 bits)
        self._record(y)

    def _record(self, y):
        if self._fd is None:
            self._fd = os.open(self._record_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        rows = (self.v, self.s, y) if self.SPIKES else (self.v,)
        os.write(self._fd, b"".join(np.ascontiguousarray(r, dtype=np.int64).tobytes() for r in rows))
