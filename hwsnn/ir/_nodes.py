"""IR node types: sources, synapses (stateless), neurons (stateful), readout.

Every node is a frozen dataclass. Integer arrays are numpy int64 in memory, except the weights
W of Dense and Conv2d: the smallest signed dtype holding w_bits + 1 bits (int16 for 8-bit
weights, so |W| and -W cannot wrap; a VGG-16 then takes 277 MB, not 1.1 GB). Each array has a
declared signed two's-complement bit width (`*_bits`). Per-neuron parameters (`theta`,
`v0`, `bias`) are arrays broadcastable to the node's `shape` (a scalar, per channel
``(C, 1, 1)``, or full). Equations: see docs/ir-format.md and DESIGN.md.
"""

from dataclasses import dataclass, fields

import numpy as np

from ._bits import dtype_for
from ._params import is_int

__all__ = [
    "Node", "Source", "Dense", "Conv2d", "SumPool2d", "Scale", "Flatten",
    "STBIF", "IF", "ILIF", "CaLIF", "MaxPool2d", "CUBALIF", "Readout", "NODE_TYPES", "SYNAPSES",
    "NEURONS",
    "ENCODINGS", "pool_out_shape",
]

ENCODINGS = ("analog", "rate", "bits")


def _int_array(value):
    arr = np.asarray(value)
    if arr.dtype == np.int64 and not arr.flags.writeable:
        return arr  # read-only already (a loaded file's array, a broadcast placeholder)
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"expected an integer array, not dtype {arr.dtype}")
    return arr.astype(np.int64)


def _weight_array(value, bits):
    """W in dtype_for(bits + 1), a copy unless it is read-only already; int64 (as any array)
    when bits is not a width or a value does not fit, so verify can name it."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" or not is_int(bits) or not 2 <= bits <= 62:
        return _int_array(arr)
    dt = dtype_for(int(bits) + 1)
    if arr.dtype == dt and not arr.flags.writeable:
        return arr
    info = np.iinfo(dt)
    if arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
        return _int_array(arr)
    return arr.astype(dt)


def _ints(value, n=None):
    """Tuple of Python ints from a list/tuple/array (an int repeated `n` times if `n`). Entries
    that are not integers stay as they are, so `verify` can name them (no silent coercion)."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if n and is_int(value):
        return (int(value),) * n
    if isinstance(value, (list, tuple)):  # torch.Size is a tuple
        return tuple(int(x) if is_int(x) else x for x in value)
    return value


@dataclass(frozen=True, eq=False)
class Node:
    """Base of all IR nodes. `ARRAYS` names the fields holding integer arrays, `NARROW` those
    kept in the dtype of their width (weights)."""

    ARRAYS = ()
    NARROW = ()
    ROLE = ""

    def __post_init__(self):
        if hasattr(self, "shape"):
            object.__setattr__(self, "shape", _ints(self.shape))
        for name in self.ARRAYS:
            value = getattr(self, name)
            value = _weight_array(value, self.w_bits) if name in self.NARROW else _int_array(value)
            object.__setattr__(self, name, value)

    @property
    def type(self):
        return type(self).__name__

    def scalars(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self.ARRAYS}

    def arrays(self):
        return {name: getattr(self, name) for name in self.ARRAYS}


# --- source --------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Source(Node):
    """Input of integer values q (shape `shape`, signed `x_bits` wide).

    analog: releases floor((t+1)q/R) - floor(tq/R) at step t < R (total exactly q).
    rate:   the same formula with R = T, 0 <= q <= T, so each step carries a 0/1 spike.
    bits:   q in [0, 2^T) sent MSB first as 0/1 spikes over steps 0..T-1 (for ILIF).
    """

    shape: tuple
    encoding: str = "analog"
    R: int = 1
    T: int = 0
    x_bits: int = 8
    ROLE = "source"


# --- synapses (stateless, integer) ---------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dense(Node):
    """out[o] = floor(2^w_exp * sum_i W[o, i] * in[i]); W is (out, in), signed `w_bits` wide.
    `w_exp` (Loihi's weight exponent, shifts the sum) is 0 except into CUBALIF nodes."""

    W: np.ndarray
    w_bits: int = 8
    w_exp: int = 0
    ARRAYS = NARROW = ("W",)
    ROLE = "synapse"


@dataclass(frozen=True, eq=False)
class Conv2d(Node):
    """2-D cross-correlation; W is (C_out, C_in / groups, kh, kw), signed `w_bits` wide; the sum
    times 2^w_exp, floored, as Dense."""

    W: np.ndarray
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    groups: int = 1
    w_bits: int = 8
    w_exp: int = 0
    ARRAYS = NARROW = ("W",)
    ROLE = "synapse"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "stride", _ints(self.stride, 2))
        object.__setattr__(self, "padding", _ints(self.padding, 2))


@dataclass(frozen=True, eq=False)
class SumPool2d(Node):
    """Sum over k x k windows (average pooling without the 1/k^2, which goes into theta)."""

    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    ROLE = "synapse"

    def __post_init__(self):
        object.__setattr__(self, "kernel", _ints(self.kernel, 2))
        object.__setattr__(self, "stride", _ints(self.stride, 2))


@dataclass(frozen=True, eq=False)
class Scale(Node):
    """out = w * in, w broadcastable to the input shape (identity shortcut when w = 1)."""

    w: np.ndarray = 1
    w_bits: int = 8
    ARRAYS = ("w",)
    ROLE = "synapse"


@dataclass(frozen=True, eq=False)
class Flatten(Node):
    """Reshape (C, H, W) to (C*H*W,) in C order."""

    ROLE = "synapse"


# --- neurons (stateful) --------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class STBIF(Node):
    """Spike-tracer bipolar IF (SpikeZIP). Per step, with b_t the bias released over bias_R:

    V' = V + I + b_t
    y  = +1 if V' >= theta and S < s_max; -1 if V' < 0 and S > s_min; else 0
    V  = V' - y*theta;  S = S + y
    V starts at v0, S at 0. Count: S = clip(floor((sum I + bias + v0) / theta), s_min, s_max).
    """

    shape: tuple
    theta: np.ndarray
    v0: np.ndarray = 0
    bias: np.ndarray = 0
    bias_R: int = 1
    s_min: int = 0
    s_max: int = 1
    v_bits: int = 16
    s_bits: int = 8
    ARRAYS = ("theta", "v0", "bias")
    ROLE = "neuron"


@dataclass(frozen=True, eq=False)
class IF(Node):
    """Integrate-and-fire with soft reset, binary spikes (QCFS, dual-phase, SlipReLU).

    V' = V + I + b_t;  y = 1 if V' >= theta (and S < s_max when s_max > 0);  V = V' - y*theta.
    S counts spikes. Count semantics is the ideal clip(floor((z + v0)/theta), 0, s_max) that
    the per-step run only approximates (residual-potential error).
    """

    shape: tuple
    theta: np.ndarray
    v0: np.ndarray = 0
    bias: np.ndarray = 0
    bias_R: int = 1
    s_max: int = 0
    v_bits: int = 16
    s_bits: int = 16
    ARRAYS = ("theta", "v0", "bias")
    ROLE = "neuron"


@dataclass(frozen=True, eq=False)
class ILIF(Node):
    """Inverse-leak IF, k = 2 (SpikeConverter). T accumulate steps V = 2V + I (bias added at the
    last one), then T generate steps V = 2V; y = V >= theta; V -= y*theta.
    Output code = clip(floor((Horner(I) + bias) * 2^T / theta), 0, 2^T - 1)."""

    shape: tuple
    theta: np.ndarray
    T: int
    bias: np.ndarray = 0
    v_bits: int = 24
    ARRAYS = ("theta", "bias")
    ROLE = "neuron"


@dataclass(frozen=True, eq=False)
class CaLIF(Node):
    """Bipolar leaky IF with calcium gate (Ca-LIF). For T window steps:
    V = V + I - leak; y = +1 if V >= theta; -1 if V <= -theta and S > 0 (gate); V -= y*theta.
    Then a settle phase (layer by layer) fires +1 while V >= theta/2 (S < s_max if s_max > 0),
    -1 while V < -theta/2 and S > 0. Count: max(0, round_half_up(z/theta)), clipped at s_max.
    `gate=False` drops the S > 0 condition (pooling layers)."""

    shape: tuple
    theta: np.ndarray
    leak: np.ndarray = 0
    T: int = 1
    s_max: int = 0
    gate: bool = True
    v_bits: int = 16
    s_bits: int = 16
    ARRAYS = ("theta", "leak")
    ROLE = "neuron"


def pool_out_shape(in_shape, kernel, stride, padding, ceil_mode):
    """Output shape of a max pool over (C, H, W), as torch.nn.MaxPool2d (dilation 1): per axis
    floor (or ceil) of (n + 2p - k) / s, plus 1; in ceil mode a last window that would start
    in the right padding is dropped."""
    c, *hw = in_shape
    out = []
    for n, k, s, p in zip(hw, kernel, stride, padding):
        span = n + 2 * p - k
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= n + p:
            o -= 1
        out.append(o)
    return (c, *out)


@dataclass(frozen=True, eq=False)
class MaxPool2d(Node):
    """Exact max pooling over spike counts; a stateful node with spiking output.

    Input: one spiking node (Source or neuron, no synapse between) of shape `in_shape` (C, H, W).
    State: C_i, the running count of each input (its V record, `in_shape`) and, per output, the
    window maximum S = max_i C_i (zero padded: a padding or ceil-mode position counts 0).
    Per step: C_i += x_i;  S' = max over the window of C_i;  y = S' - S;  S = S'.
    y is -1, 0 or +1 when every C_i moves by at most 1 per step. Count: S = max of the input
    totals over the window (the QANN's max pool after a Q-ReLU, which is monotone)."""

    shape: tuple
    in_shape: tuple
    kernel: tuple = (2, 2)
    stride: tuple = (2, 2)
    padding: tuple = (0, 0)
    ceil_mode: bool = False
    s_bits: int = 8
    ROLE = "neuron"

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "in_shape", _ints(self.in_shape))
        for f in ("kernel", "stride", "padding"):
            object.__setattr__(self, f, _ints(getattr(self, f), 2))

    @property
    def v_bits(self):
        """The input counts C_i (the V record) live in s_bits registers too."""
        return self.s_bits


@dataclass(frozen=True, eq=False)
class CUBALIF(Node):
    """Loihi's current-based LIF, bit for bit as Lava's PyLifModelBitAcc (docs/ir-format.md).
    u, v are 24-bit; du, dv 12-bit decays; per step, I = sum of the synapses (delay-1 edges):

    u = wrap24(trunc0(u * (4095 - du) / 2^12) + I * 2^6)      (du = 4095: no current state)
    v = sat24(trunc0(v * (4096 - dv) / 2^12) + u + bias_mant * 2^bias_exp)
    y = 1 if v > vth * 2^6;  v = 0 where y
    trunc0 rounds toward zero; wrap24 subtracts 2^24 once above 2^23, adds it once at or below
    -2^23; sat24 clips to [-(2^23 - 1), 2^23 - 1]. S counts spikes. Starts u = v = 0."""

    shape: tuple
    vth: int
    du: int = 0
    dv: int = 0
    bias_mant: np.ndarray = 0
    bias_exp: np.ndarray = 0
    v_bits: int = 24
    s_bits: int = 24
    ARRAYS = ("bias_mant", "bias_exp")
    ROLE = "neuron"


@dataclass(frozen=True, eq=False)
class Readout(Node):
    """Integrates only: V = V + I (or V = 2V + I while its ILIF input generates, `horner`)."""

    shape: tuple
    v_bits: int = 32
    horner: bool = False
    ROLE = "readout"


NODE_TYPES = {cls.__name__: cls for cls in (
    Source, Dense, Conv2d, SumPool2d, Scale, Flatten, STBIF, IF, ILIF, CaLIF, MaxPool2d, CUBALIF,
    Readout)}
SYNAPSES = tuple(c for c in NODE_TYPES.values() if c.ROLE == "synapse")
NEURONS = tuple(c for c in NODE_TYPES.values() if c.ROLE == "neuron")
