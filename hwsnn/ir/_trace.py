"""Result of a golden (or back-end) run: per-step V, S, y of every neuron node."""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Trace"]


@dataclass
class Trace:
    """`V`, `S`, `y`: {node: int array (steps, batch, *shape)} when recorded (readouts have V
    only); `U`: the same for the current u of every CUBALIF. `final`: {node: {"V": ..., "S": ...}}
    (and "U" for a CUBALIF) after the last step. `t_eq`: per sample, the
    number of steps after which no state changed any more; `settled`: whether that is final
    (nothing still in flight). `spikes`: {node: int array (batch, *shape)} of sum |y|.

    What `hwsnn.backends.compare` reads from a back end's trace besides V, S, y:
    `valid`: {node: bool mask} or {node: {"V"/"S"/"y": bool mask}}, each mask broadcastable to
    (steps, batch, *shape): True where the value was read from the executor's state; values
    under False are neither compared nor counted. A node (or variable) not listed is valid
    everywhere. `final_readback`: {node: {"V": (batch, *shape), "S": ...}}: the state memories
    read back after the last step (RTL), compared with golden's `final` as "V(readback)",
    "S(readback)"."""

    steps: int
    batch: int
    final: dict
    t_eq: np.ndarray
    settled: np.ndarray
    spikes: dict
    V: dict = field(default_factory=dict)
    S: dict = field(default_factory=dict)
    y: dict = field(default_factory=dict)
    U: dict = field(default_factory=dict)  # CUBALIF currents u (the one second state variable)
    readouts: tuple = ()
    graph: object = None  # the graph that was run (a back end states its delays through it)
    valid: dict = field(default_factory=dict)
    final_readback: dict = field(default_factory=dict)

    @property
    def output(self):
        """Final V of the (first) Readout: the integer logits, (batch, *shape)."""
        return self.final[self.readouts[0]]["V"]

    def predict(self):
        return self.output.reshape(self.batch, -1).argmax(axis=1)

    def variables(self):
        """Iterate (node, variable, array (steps, batch, *shape)) over everything recorded."""
        for var in ("V", "S", "y", "U"):
            for node, arr in getattr(self, var).items():
                yield node, var, arr

    def mask(self, node, var):
        """The validity mask of `node`'s `var` (see `valid`), or None when all of it is valid."""
        m = self.valid.get(node)
        return m.get(var) if isinstance(m, dict) else m
