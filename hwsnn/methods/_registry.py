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
from ..errors import CompileError, ConversionError
from ._lower import hidden_layers, to_if, to_ilif
from ._qann import with_levels

__all__ = ["Lowered", "METHODS", "get", "encode_levels", "compile_fit"]

SCALE, RANGE = 1.0 / 16, (0, 16)   # digits: pixel values 0..16, float input pixel / 16
ILIF_MAX_BITS = 12


@dataclass
class Lowered:
    graph: object
    encode: object          # integer pixels (N, 1, 8, 8) -> the Source's integer input
    steps: int              # steps to run for this budget
    info: dict = field(default_factory=dict)


def compile_fit(qann, **kw):
    """compile_qann with the smallest weight width in (8, 12, 16) that represents the QANN's
    weights at the even thresholds it needs (fine steps need wider weights)."""
    for w_bits in (8, 12, 16):
        try:
            return compile_qann(qann, w_bits=w_bits, **kw)
        except CompileError as exc:
            if "weights need" not in str(exc) or w_bits == 16:
                raise


def _identity(x):
    return np.asarray(x, dtype=np.int64)


def encode_levels(n):
    """Encoder of pixels 0..16 into n levels: round_half_up(p * n / 16) (identity if n >= 16)."""
    if n >= 16:
        return _identity
    return lambda x: np.floor(np.asarray(x, dtype=np.int64) * n / 16 + 0.5).astype(np.int64)


class STBIFMethod:
    """ST-BIF on the bundled QANN (`stbif`) or on the PET-trained QANN (`spikezip`)."""

    neuron = "STBIF"

    def __init__(self, qann=None, name="stbif"):
        self.name = name
        if qann is None and name == "spikezip":
            from ._train import load_method_qann
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
            from ._train import load_method_qann
            qann = load_method_qann(name)
        self.qann = qann

    def phi(self):
        return {op.name: getattr(self.qann.layers[op.key], "phi", 0.5) for op in self.qann.qrelus}

    def lower(self, T):
        q = with_levels(self.qann, T)
        g = compile_fit(q, input_scale=SCALE, input_range=RANGE, R=T, bias_R=T)
        return Lowered(to_if(g, self.phi()), _identity, T, {"levels": T})


class DualPhaseMethod:
    """One Phase-I QC-ANN per T with Phase-II calibrated v0 (bundled dualphase.safetensors)."""

    name, neuron = "dualphase", "IF"

    def __init__(self, per_T=None):
        if per_T is None:
            from ._dualphase import load_dualphase
            per_T = load_dualphase()
        self.per_T = per_T     # {T: (qann, {layer: v0 float array or None})}

    def lower(self, T):
        if T not in self.per_T:
            return None
        from ._dualphase import lower_calibrated
        qann, v0 = self.per_T[T]
        return Lowered(lower_calibrated(qann, v0, T), _identity, T, {"levels": T})


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
        return Lowered(to_ilif(g, b), encode_levels(n), self.windows * b,
                       {"levels": n, "bits": b})


class CaLIFMethod:
    name, neuron = "calif", "CaLIF"

    def __init__(self, imported=None):
        if imported is None:
            from ._calif import load_calif
            imported = load_calif()
        self.imported = imported

    def lower(self, T):
        from ._calif import calif_graph
        g, encode = calif_graph(self.imported, T)
        return Lowered(g, encode, T, {"window": T})


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
