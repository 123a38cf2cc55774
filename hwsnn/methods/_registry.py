"""The methods as objects that lower the digits model for a step budget T.

`get(name).lower(T)` returns a `Lowered` (IR graph, input encoder, steps to run) or None when
the method cannot run within T steps. Budgets count every step a sample occupies:
  stbif     ST-BIF, SpikeZIP evenly-release (R = bias_R = n); the readout after T steps
  spikezip  the same on the QANN trained with Paths-Ensemble Training (n = 8, 4, 2)
  qcfs      IF (v0 = theta/2), QCFS QANN re-levelled to L = T, input and bias over T steps
  sliprelu  IF (v0 = (1/2 + delta) theta), SlipReLU QANN re-levelled to L = T
  dualphase IF with calibrated v0 and weights, one calibrated QC-ANN per T
  ilif      ILIF with b = T // (hidden layers + 1) bits: 2^b - 1 levels, b-step windows
  calif     Ca-LIF window of T steps (the settle phase adds steps: reported separately)
"""

from dataclasses import dataclass, field

import numpy as np

from ..compile import compile_qann
from ..errors import ConversionError
from .dualphase import load_dualphase, lower_calibrated
from ._digits import RANGE, SCALE, compile_fit, encode_levels
from ._digits import identity as _identity
from ..compile import to_if, to_ilif
from ..convert import with_levels

__all__ = ["Lowered", "METHODS", "get", "encode_levels", "compile_fit"]

ILIF_MAX_BITS = 12


@dataclass
class Lowered:
    graph: object
    encode: object          # integer pixels (N, 1, 8, 8) -> the Source's integer input
    steps: int              # steps to run for this budget
    info: dict = field(default_factory=dict)


def _record(graph, steps, input_range):
    """Note in the graph's meta the steps the method runs and the range of its encoded input
    (what `hwsnn energy` and `hwsnn verify` read when a lowered graph is saved)."""
    graph.meta["steps"] = int(steps)
    graph.meta["input_range"] = [int(v) for v in input_range]
    return graph


class STBIFMethod:
    """ST-BIF on the bundled QANN (`stbif`) or on the PET-trained QANN (`spikezip`)."""

    neuron = "STBIF"

    def __init__(self, qann=None, name="stbif"):
        self.name = name
        if qann is None and name == "spikezip":
            from ._digits import load_method_qann
            qann = load_method_qann("spikezip")
        elif qann is None:
            from ..examples import load_digits_model
            qann = load_digits_model()[1]
        self.qann = qann
        n = qann.levels
        self.graph = compile_qann(qann, input_scale=SCALE, input_range=RANGE, R=n, bias_R=n)

    def lower(self, T):
        return Lowered(self.graph, _identity, T, {"levels": self.qann.levels, "R": self.qann.levels})


class IFMethod:
    """IF neurons on a QANN trained with `kind` activations (bundled `<name>.safetensors`)."""

    neuron = "IF"

    def __init__(self, name, qann=None):
        self.name = name
        if qann is None:
            from ._digits import load_method_qann
            qann = load_method_qann(name)
        self.qann = qann

    def phi(self):
        return {op.name: getattr(self.qann.layers[op.key], "phi", 0.5) for op in self.qann.qrelus}

    def lower(self, T):
        q = with_levels(self.qann, T)
        g = compile_fit(q, input_scale=SCALE, input_range=RANGE, R=T, bias_R=T)
        return Lowered(_record(to_if(g, self.phi()), T, RANGE), _identity, T, {"levels": T})


class DualPhaseMethod:
    """One Phase-I QC-ANN per T with Phase-II calibrated v0 (bundled dualphase.safetensors)."""

    name, neuron = "dualphase", "IF"

    def __init__(self, per_T=None):
        if per_T is None:
            per_T = load_dualphase()
        self.per_T = per_T     # {T: (qann, {layer: v0 float array or None})}

    def lower(self, T):
        if T not in self.per_T:
            return None
        qann, v0 = self.per_T[T]
        return Lowered(_record(lower_calibrated(qann, v0, T), T, RANGE), _identity, T, {"levels": T})


class ILIFMethod:
    name, neuron = "ilif", "ILIF"

    def __init__(self, qann=None):
        if qann is None:
            from ..examples import load_digits_model
            qann = load_digits_model()[1]
        self.qann = qann
        self.windows = len(qann.qrelus) + 1

    def lower(self, T):
        b = min(T // self.windows, ILIF_MAX_BITS)
        if b < 1:
            return None
        n = 2 ** b - 1
        q = with_levels(self.qann, n)
        scale, rng = (SCALE, RANGE) if n >= 16 else (1.0 / n, (0, n))
        g = compile_fit(q, input_scale=scale, input_range=rng)
        return Lowered(_record(to_ilif(g, b), self.windows * b, rng), encode_levels(n),
                       self.windows * b, {"levels": n, "bits": b})


class CaLIFMethod:
    name, neuron = "calif", "CaLIF"

    def __init__(self, imported=None):
        if imported is None:
            from .calif import load_calif
            imported = load_calif()
        self.imported = imported

    def lower(self, T):
        from .calif import calif_graph
        g, encode = calif_graph(self.imported, T)
        lo, hi = (int(encode(np.full((1, 1, 8, 8), p)).min()) for p in RANGE)   # codes of pixels 0, 16
        return Lowered(_record(g, T, (lo, hi)), encode, T, {"window": T})


METHODS = {
    "stbif": STBIFMethod,
    "spikezip": lambda: STBIFMethod(name="spikezip"),
    "qcfs": lambda: IFMethod("qcfs"),
    "sliprelu": lambda: IFMethod("sliprelu"),
    "dualphase": DualPhaseMethod,
    "ilif": ILIFMethod,
    "calif": CaLIFMethod,
}


def get(name):
    """The method object `name` (one of METHODS), with its bundled weights loaded."""
    if name not in METHODS:
        raise ConversionError(f"method must be one of {', '.join(METHODS)}, not {name!r}")
    return METHODS[name]()
