"""Core configuration: plain data (widths, sizes, memory images) from which a NeuronCore is built.

`hwsnn.mappings.rtl.lower` fills these from the IR; tests may build them by hand.
"""

from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.ir import bits_for, fits, int_range

__all__ = ["CoreConfig", "ConvLayout", "CORE_KINDS", "default_core"]

CORE_KINDS = ("stbif", "if", "readout")


def _ubits(n):
    """Address/index width for n entries (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


@dataclass(eq=False)
class ConvLayout:
    """Weight sharing for a Conv2d (stride 1, groups 1) core: neuron n = (co, y, x) of the
    (C, H, W) output lives in lane co % L at address (co // L) * H*W + y*W + x. Input row r
    reads (c, ph, pw) = rows[r] (-1: no connection) and adds K[co, c, ph + pad_h - y,
    pw + pad_w - x] to every output in the kernel's reach. K: (C, Cin, KH, KW)."""

    C: int
    H: int
    W: int
    K: np.ndarray
    pad: tuple
    rows: np.ndarray  # (n_in, 3) int: c, ph, pw of each input row, or -1s

    @property
    def HW(self):
        return self.H * self.W


@dataclass(eq=False)
class CoreConfig:
    """One neuron core: `n` neurons of `kind`, fed by `n_in` input rows plus `bias_R` bias rows.

    weights: int array (n_in + bias_R, n): row r holds the weights of input r to every neuron;
    row n_in + t holds the bias released at step t (b_t of hwsnn.sim). theta, v0: (n,).
    Widths: w_bits (weights), x_bits (input event value), acc_bits (the V register while
    accumulating; proven not to wrap by `lower`), v_bits / s_bits (architectural registers:
    V and S saturate there and `ovf` rises), theta_bits.
    """

    name: str
    kind: str
    n: int
    n_in: int
    weights: np.ndarray
    theta: np.ndarray
    v0: np.ndarray
    bias_R: int = 0
    lanes: int = 1
    x_bits: int = 2
    v_bits: int = 16
    s_bits: int = 8
    s_min: int = 0
    s_max: int = 1
    acc_bits: int = 0  # 0: derive from v_bits and the input bound
    in_bound: int = 1  # largest |value| of an input event
    conv: ConvLayout = None  # weight sharing instead of the dense weight image
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in CORE_KINDS:
            raise MappingError(f"core '{self.name}': kind must be one of {CORE_KINDS}, not {self.kind!r}")
        if not isinstance(self.lanes, int) or self.lanes < 1:
            raise MappingError(f"core '{self.name}': lanes must be an integer >= 1, not {self.lanes!r}")
        self.weights = np.asarray(self.weights, dtype=np.int64)
        rows = self.n_in + self.bias_R
        if self.weights.shape != (rows, self.n):
            raise MappingError(f"core '{self.name}': weights must have shape ({rows}, {self.n}), "
                               f"not {self.weights.shape}")
        self.theta = np.broadcast_to(np.asarray(self.theta, dtype=np.int64), (self.n,)).copy()
        self.v0 = np.broadcast_to(np.asarray(self.v0, dtype=np.int64), (self.n,)).copy()
        if self.kind != "readout" and self.theta.min(initial=1) < 1:
            raise MappingError(f"core '{self.name}': theta must be >= 1, not {int(self.theta.min())}")
        if not fits(self.v0, self.v_bits):
            raise MappingError(f"core '{self.name}': v0 must fit int{self.v_bits}, not values in "
                               f"[{int(self.v0.min())}, {int(self.v0.max())}]")
        if not self.acc_bits:
            bound = self.in_bound * int(np.abs(self.weights[:self.n_in]).sum(axis=0).max(initial=0))
            bound += int(np.abs(self.weights[self.n_in:]).max(initial=0))
            lo, hi = int_range(self.v_bits)
            self.acc_bits = bits_for(lo - bound, hi + bound)

    # --- derived sizes -----------------------------------------------------------------
    @property
    def cgroups(self):
        """Channel groups of a conv core (channels co with co // lanes equal)."""
        return -(-self.conv.C // self.lanes)

    @property
    def groups(self):
        """Addresses per lane. Dense: neuron n lives in lane n % lanes at address n // lanes."""
        if self.conv is not None:
            return self.cgroups * self.conv.HW
        return -(-self.n // self.lanes)

    @property
    def rows(self):
        return self.n_in + self.bias_R

    @property
    def w_bits(self):
        if self.conv is not None:
            vals = [self.conv.K, self.weights[self.n_in:]]
            return bits_for(min(int(v.min(initial=0)) for v in vals), max(int(v.max(initial=0)) for v in vals))
        return bits_for(int(self.weights.min(initial=0)), int(self.weights.max(initial=0)))

    @property
    def theta_bits(self):
        return bits_for(int(self.theta.min(initial=1)), int(self.theta.max(initial=1)))

    @property
    def in_index_bits(self):
        return _ubits(self.n_in)

    @property
    def out_index_bits(self):
        return _ubits(self.n)

    # --- memory images -----------------------------------------------------------------
    def lane_neurons(self, lane):
        """Neuron index at each address of `lane` (-1 for padding)."""
        if self.conv is not None:
            addr = np.arange(self.groups)
            co = (addr // self.conv.HW) * self.lanes + lane
            return np.where(co < self.conv.C, co * self.conv.HW + addr % self.conv.HW, -1)
        idx = np.arange(self.groups) * self.lanes + lane
        return np.where(idx < self.n, idx, -1)

    def weight_image(self, lane):
        """Dense: address row * groups + g holds W[row, neuron of (lane, g)]. Conv: address
        ((c * KH + ky) * KW + kx) * cgroups + cg holds K[cg * lanes + lane, c, ky, kx]."""
        if self.conv is not None:
            K = self.conv.K
            C, Cin, KH, KW = K.shape
            img = np.zeros((Cin, KH, KW, self.cgroups), dtype=np.int64)
            for cg in range(self.cgroups):
                co = cg * self.lanes + lane
                if co < C:
                    img[..., cg] = K[co]
            return img.reshape(-1)
        return self._rows_image(self.weights, lane)

    def _rows_image(self, rows, lane):
        idx = self.lane_neurons(lane)
        return np.where(idx[None, :] >= 0, rows[:, np.maximum(idx, 0)], 0).reshape(-1)

    def bias_image(self, lane):
        """Conv cores: bias row t at addresses t * groups + g (dense cores keep it in the weights)."""
        return self._rows_image(self.weights[self.n_in:], lane)

    def fanout(self):
        """SOPs one event of each input row costs: n (dense), or C x the kernel positions that
        land inside the output (conv)."""
        if self.conv is None:
            return np.full(self.n_in, self.n, dtype=np.int64)
        cv = self.conv
        C, Cin, KH, KW = cv.K.shape
        out = np.zeros(self.n_in, dtype=np.int64)
        for r, (c, ph, pw) in enumerate(cv.rows):
            if c >= 0:
                ys = ph + cv.pad[0] - np.arange(KH)
                xs = pw + cv.pad[1] - np.arange(KW)
                out[r] = C * int(((ys >= 0) & (ys < cv.H)).sum()) * int(((xs >= 0) & (xs < cv.W)).sum())
        return out

    def implied_weights(self):
        """The dense (n_in, n) matrix a conv layout computes (to check it against the unrolled one)."""
        cv = self.conv
        C, Cin, KH, KW = cv.K.shape
        W = np.zeros((self.n_in, self.n), dtype=np.int64)
        for r, (c, ph, pw) in enumerate(cv.rows):
            if c < 0:
                continue
            for ky in range(KH):
                for kx in range(KW):
                    y, x = ph + cv.pad[0] - ky, pw + cv.pad[1] - kx
                    if 0 <= y < cv.H and 0 <= x < cv.W:
                        W[r, np.arange(C) * cv.HW + y * cv.W + x] += cv.K[:, c, ky, kx]
        return W

    def param_image(self, lane, field):
        idx = self.lane_neurons(lane)
        arr = getattr(self, field)
        return np.where(idx >= 0, arr[np.maximum(idx, 0)], 0)

    def summary(self):
        return {"name": self.name, "kind": self.kind, "neurons": self.n, "inputs": self.n_in,
                "bias_rows": self.bias_R, "lanes": self.lanes, "w_bits": self.w_bits,
                "x_bits": self.x_bits, "acc_bits": self.acc_bits, "v_bits": self.v_bits,
                "s_bits": self.s_bits, "theta_bits": self.theta_bits,
                "weight_words": (self.conv.K.size + self.bias_R * self.n) if self.conv is not None
                else self.rows * self.groups * self.lanes, "layout": "conv" if self.conv is not None else "dense"}


def default_core(lanes=1, n_in=64, n=32, seed=0, name="core"):
    """The reference core of the synthesis table: n_in x n random int8 weights, one bias row,
    ST-BIF with s_max 15, int16 V, int6 S, theta 64 (seeded, so the Verilog is reproducible)."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(-128, 128, (n_in + 1, n))
    return CoreConfig(name=name, kind="stbif", n=n, n_in=n_in, weights=weights, theta=64, v0=32,
                      bias_R=1, lanes=lanes, x_bits=2, v_bits=16, s_bits=6, s_min=0, s_max=15)
