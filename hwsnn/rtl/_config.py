"""Core configuration: plain data (widths, sizes, memory images) from which a NeuronCore is built.

`hwsnn.mappings.rtl.lower` fills these from the IR; tests may build them by hand.

A core computes one neuron/readout node. Its input rows are the concatenation of its tables,
one per spiking source (`Table`): source t's event with index i is row `offset(t) + i`. A table
is either dense (a weight row per input) or a shared kernel (`ConvTable`: a Conv2d of any
stride, 1x1 included, or an identity `Scale` as a diagonal 1x1 kernel). After the tables the
weight memory holds the bias rows (row b is issued at step t for t < bias_steps, b = min(t,
bias_R - 1)): ST-BIF/IF release their bias over bias_R rows, Ca-LIF issues -leak for the T
window steps from one row.

Weights are kept in the signed integer dtype they come in (the IR's int16, int64 from a
composed kernel; anything else becomes int64), so a layer is never widened to int64 in memory;
every sum over them (accumulator bounds) is taken in int64, and the memory images
(`weight_image`) are int64.
"""

from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.ir import bits_for, fits, int_range

from ._bounds import abs_sums as _abs_sums, kernel_abs_sums as _kernel_abs_sums

__all__ = ["CoreConfig", "Table", "ConvTable", "ConvLayout", "CORE_KINDS", "default_core"]

CORE_KINDS = ("stbif", "if", "calif", "cubalif", "readout")

_SIGNED = (np.int8, np.int16, np.int32, np.int64)


def _weights(a):
    """`a` as a signed integer array in its own dtype (int8..int64, no copy), else as int64."""
    a = np.asarray(a)
    return a if a.dtype.type in _SIGNED else np.asarray(a, dtype=np.int64)


def _ubits(n):
    """Address/index width for n entries (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


@dataclass(eq=False)
class ConvLayout:
    """Neuron placement of a core whose output is (C, H, W): neuron n = (co, y, x) lives in lane
    co % L at address (co // L) * H*W + y*W + x."""

    C: int
    H: int
    W: int

    @property
    def HW(self):
        return self.H * self.W


@dataclass(eq=False)
class ConvTable:
    """Shared kernel K (C, Cin, KH, KW) with `stride` and `pad`: input row r is the pixel
    rows[r] = (c, iy, ix) of the (Cin, Hi, Wi) conv input (-1s: no connection, e.g. cut by a
    pooling window) and adds K[co, c, ky, kx] to output (co, y, x) for every iy + pad_h =
    y * sh + ky, ix + pad_w = x * sw + kx inside the output. `src_shape` (Cs, Hs, Ws): the
    source's shape, row r = (cs * Hs + hs) * Ws + ws (None: unknown; the core then stores its
    row table instead of computing it, see `_rows.row_decode`). `c0`: the core's channel of
    K's output channel 0 (a multiple of the core's lanes): the table feeds channels c0 ..
    c0 + C - 1 only (one part of a concatenation the core computes whole)."""

    K: np.ndarray
    stride: tuple
    pad: tuple
    rows: np.ndarray
    src_shape: tuple = None
    c0: int = 0

    def __post_init__(self):
        self.K = _weights(self.K)
        self.c0 = int(self.c0)
        self.rows = np.asarray(self.rows, dtype=np.int64).reshape(-1, 3)
        self.stride, self.pad = tuple(int(s) for s in self.stride), tuple(int(p) for p in self.pad)
        if self.src_shape is not None:
            self.src_shape = tuple(int(d) for d in self.src_shape)

    def walk(self):
        """Per row: (ky0, y0, kx0, x0), the first kernel position of the row's reach and the
        output pixel it lands on (y = y0 - j at ky = ky0 + j * sh); -1s for unconnected rows."""
        (sh, sw), (ph, pw) = self.stride, self.pad
        c, iy, ix = self.rows.T
        ky0, kx0 = (iy + ph) % sh, (ix + pw) % sw
        y0, x0 = (iy + ph - ky0) // sh, (ix + pw - kx0) // sw
        out = np.stack([ky0, y0, kx0, x0], 1)
        out[c < 0] = -1
        return out


@dataclass(eq=False)
class Table:
    """The synapses of one spiking source into a core: `n_rows` input rows, either `dense`
    (n_rows, n) weights or a shared kernel `conv`. `source`: core index feeding it (-1: the
    network input), `name`: the source node (reports)."""

    n_rows: int
    dense: np.ndarray = None
    conv: ConvTable = None
    source: int = -1
    name: str = ""
    zero: bool = False  # every weight 0: its events are taken and dropped (no memory)

    @property
    def kind(self):
        return "zero" if self.zero else "conv" if self.conv is not None else "dense"


@dataclass(eq=False)
class CoreConfig:
    """One neuron core: `n` neurons of `kind`, fed by `tables` (or, for a single dense table,
    `n_in` rows of `weights`, whose rows n_in.. are the bias rows), plus `bias_R` bias rows.

    `weights` of a dense core: the (n_in + bias_R, n) matrix (tables then bias rows), None when a
    table is a kernel. theta, v0: (n,). Widths: x_bits (input event value), acc_bits (the V register while
    accumulating; proven not to wrap by `lower`), v_bits / s_bits (architectural registers:
    V and S saturate there and `ovf` rises). `layout` (a ConvLayout) places the neurons by
    channel (needed by conv tables). `window` > 0: the core belongs to a Ca-LIF network whose
    window is that many steps; it then has a pending-current memory for the settle phase.

    kind "cubalif" (Loihi's CUBA LIF, docs/ir-format.md): the events of a step go into the
    pending-current memory P (the synaptic input I = floor(2^w_exp P)); u (`u_bits`) and v
    (`v_bits` = 24) are the state, `du`/`dv` the decays, `cbias` (n,) the bias mant << exp,
    theta (n,) the threshold vth << 6; no bias rows.
    """

    name: str
    kind: str
    n: int
    n_in: int = None
    weights: np.ndarray = None
    theta: np.ndarray = 1
    v0: np.ndarray = 0
    bias_R: int = 0
    lanes: int = 1
    x_bits: int = 2
    v_bits: int = 16
    s_bits: int = 8
    s_min: int = 0
    s_max: int = 1
    gate: bool = True
    acc_bits: int = 0  # 0: derive from v_bits and the input bound
    in_bound: int = 1  # largest |value| of an input event
    tables: list = None
    bias: np.ndarray = None  # (bias_R, n) when `tables` is given
    bias_steps: int = None   # steps that issue a bias row (default bias_R)
    layout: ConvLayout = None
    window: int = 0
    settle_bound: int = 0  # largest |settle-phase pending count| of one input row (window > 0)
    row_rom: bool = False  # store the input-row table even where the core can compute it
    pack_lanes: bool = False  # one weight memory and one S memory for all lanes (word = lanes side by side)
    du: int = 0              # cubalif: current decay (12 bits)
    dv: int = 0              # cubalif: voltage decay (12 bits)
    w_exp: int = 0           # cubalif: I = floor(2^w_exp * P)
    cbias: np.ndarray = 0    # cubalif: bias_mant << bias_exp per neuron
    u_bits: int = 32         # cubalif: the u register (u leaves it: saturates, ovf)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in CORE_KINDS:
            raise MappingError(f"core '{self.name}': kind must be one of {CORE_KINDS}, not {self.kind!r}")
        if not isinstance(self.lanes, int) or self.lanes < 1:
            raise MappingError(f"core '{self.name}': lanes must be an integer >= 1, not {self.lanes!r}")
        if self.tables is None:  # one dense table; bias rows below it
            W = _weights(self.weights)
            rows = self.n_in + self.bias_R
            if W.shape != (rows, self.n):
                raise MappingError(f"core '{self.name}': weights must have shape ({rows}, {self.n}), "
                                   f"not {W.shape}")
            self.tables = [Table(self.n_in, dense=W[:self.n_in])]
            self.bias = W[self.n_in:].astype(np.int64)
        self.n_in = sum(t.n_rows for t in self.tables)
        self.bias = np.zeros((0, self.n), np.int64) if self.bias is None else np.asarray(self.bias, np.int64)
        if self.bias.shape != (self.bias_R, self.n):
            raise MappingError(f"core '{self.name}': bias must have shape ({self.bias_R}, {self.n}), "
                               f"not {self.bias.shape}")
        self.bias_steps = self.bias_R if self.bias_steps is None else int(self.bias_steps)
        for t in self.tables:
            if t.zero:
                continue
            if t.dense is not None:
                t.dense = _weights(t.dense)
                if t.dense.shape != (t.n_rows, self.n):
                    raise MappingError(f"core '{self.name}': table '{t.name}' must have shape "
                                       f"({t.n_rows}, {self.n}), not {t.dense.shape}")
            elif t.conv is None:
                raise MappingError(f"core '{self.name}': table '{t.name}' has neither dense weights nor a kernel")
            elif self.layout is None or not 0 <= t.conv.c0 <= self.layout.C - t.conv.K.shape[0]:
                raise MappingError(f"core '{self.name}': kernel table '{t.name}' needs a (C, H, W) layout "
                                   f"with C >= {t.conv.c0 + t.conv.K.shape[0]} (channels from c0 = {t.conv.c0})")
            elif t.conv.c0 % self.lanes or (t.conv.c0 + t.conv.K.shape[0] < self.layout.C
                                             and t.conv.K.shape[0] % self.lanes):
                raise MappingError(f"core '{self.name}': kernel table '{t.name}' feeds channels {t.conv.c0} .. "
                                   f"{t.conv.c0 + t.conv.K.shape[0] - 1}: a part must start and end on a "
                                   f"channel group of {self.lanes} lanes (or end at the last channel)")
        self.weights = None  # derived on read (`_dense_weights`)
        if any(t.zero for t in self.tables) and not all(t.zero for t in self.tables[self.first_zero:]):
            raise MappingError(f"core '{self.name}': zero tables must come after the others")
        if self.layout is not None and self.layout.C * self.layout.HW != self.n:
            raise MappingError(f"core '{self.name}': layout {self.layout.C}x{self.layout.H}x{self.layout.W} "
                               f"must hold {self.n} neurons")
        self.theta = np.broadcast_to(np.asarray(self.theta, dtype=np.int64), (self.n,)).copy()
        self.v0 = np.broadcast_to(np.asarray(self.v0, dtype=np.int64), (self.n,)).copy()
        self.cbias = np.broadcast_to(np.asarray(self.cbias, dtype=np.int64), (self.n,)).copy()
        lowest = 0 if self.kind == "cubalif" else 1  # Loihi: spike when v > vth << 6, vth >= 0
        if self.kind != "readout" and self.theta.min(initial=1) < lowest:
            raise MappingError(f"core '{self.name}': theta must be >= {lowest}, not {int(self.theta.min())}")
        if not fits(self.v0, self.v_bits):
            raise MappingError(f"core '{self.name}': v0 must fit int{self.v_bits}, not values in "
                               f"[{int(self.v0.min())}, {int(self.v0.max())}]")
        if not self.acc_bits:
            bound = self.in_bound * int(self.column_abs_sums().max(initial=0))
            bound += int(np.abs(self.bias).max(initial=0))
            lo, hi = int_range(self.v_bits)
            self.acc_bits = bits_for(lo - bound, hi + bound)

    def _dense_weights(self):
        """`weights` of a dense core: the (n_in + bias_R, n) int64 matrix (tables then bias rows),
        built when read (None when a table is a kernel)."""
        if not all(t.dense is not None or t.zero for t in self.tables):
            return None
        return np.concatenate([t.dense if not t.zero else np.zeros((t.n_rows, self.n), np.int64)
                               for t in self.tables] + [self.bias], axis=0).astype(np.int64, copy=False)

    @property
    def p_bits(self):
        """Width of the pending-current memory: of the settle phase (in-flight and settle spikes
        of every source, summed over the whole settle phase); of a cubalif core, one step's
        synaptic sum before its exponent."""
        per_row = self.in_bound if self.kind == "cubalif" else self.settle_bound
        bound = per_row * int(self.column_abs_sums().max(initial=0))
        return bits_for(-bound, bound)

    @property
    def has_p(self):
        """The core has a pending-current memory P (Ca-LIF settle phase, CUBA-LIF input)."""
        return bool(self.window) or self.kind == "cubalif"

    # --- structure -----------------------------------------------------------------------
    @property
    def conv(self):
        """The neuron layout when some table is a shared kernel (None: all dense)."""
        return self.layout if any(t.conv is not None for t in self.tables) else None

    @property
    def first_zero(self):
        """Index of the first zero table (len(tables) if none); its rows start at zero_row."""
        return next((i for i, t in enumerate(self.tables) if t.zero), len(self.tables))

    @property
    def zero_row(self):
        return sum(t.n_rows for t in self.tables[:self.first_zero])

    def offsets(self):
        """First input row of each table."""
        return np.cumsum([0] + [t.n_rows for t in self.tables])[:-1].tolist()

    def column_abs_sums(self):
        """sum_r |W[r, n]| over every input row, per neuron (the accumulator bound)."""
        total = np.zeros(self.n, dtype=np.int64)
        for t in self.tables:
            if t.zero:
                continue
            if t.dense is not None:
                total += _abs_sums(t.dense, 0)
            else:
                total += _kernel_abs_sums(t.conv, self.layout)
        return total

    # --- derived sizes -----------------------------------------------------------------
    @property
    def cgroups(self):
        """Channel groups of a conv-placed core (channels co with co // lanes equal)."""
        return -(-self.layout.C // self.lanes)

    def table_cgroups(self, t):
        """(first channel group, channel groups) a kernel table walks: its channels c0 .. c0 + C - 1."""
        return t.conv.c0 // self.lanes, -(-t.conv.K.shape[0] // self.lanes)

    @property
    def groups(self):
        """Addresses per lane. Dense: neuron n lives in lane n % lanes at address n // lanes."""
        if self.conv is not None:
            return self.cgroups * self.layout.HW
        return -(-self.n // self.lanes)

    @property
    def rows(self):
        return self.n_in + self.bias_R

    @property
    def w_bits(self):
        vals = [self.bias] + [t.dense if t.dense is not None else t.conv.K for t in self.tables if not t.zero]
        return bits_for(min(int(v.min(initial=0)) for v in vals), max(int(v.max(initial=0)) for v in vals))

    @property
    def theta_bits(self):
        return bits_for(int(self.theta.min(initial=1)), int(self.theta.max(initial=1)))

    @property
    def cbias_bits(self):
        return bits_for(int(self.cbias.min(initial=0)), int(self.cbias.max(initial=0)))

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
            lay, addr = self.layout, np.arange(self.groups)
            co = (addr // lay.HW) * self.lanes + lane
            return np.where(co < lay.C, co * lay.HW + addr % lay.HW, -1)
        idx = np.arange(self.groups) * self.lanes + lane
        return np.where(idx < self.n, idx, -1)

    def table_bases(self):
        """Weight-memory address of each table's image, then of the bias rows."""
        sizes = []
        for t in self.tables:
            if t.zero:
                sizes.append(0)
            elif t.dense is not None:
                sizes.append(t.n_rows * self.groups)
            else:
                C, Cin, KH, KW = t.conv.K.shape
                sizes.append(Cin * KH * KW * self.table_cgroups(t)[1])
        return np.cumsum([0] + sizes).tolist()

    def weight_image(self, lane):
        """Per table: dense rows at base + row * groups + g (W[row, neuron of (lane, g)]); a
        kernel at base + ((c * KH + ky) * KW + kx) * Gt + cg (K[cg * lanes + lane, c, ky, kx],
        Gt the table's channel groups, `table_cgroups`). Then the bias rows, like dense rows."""
        parts = []
        for t in self.tables:
            if t.zero:
                continue
            if t.dense is not None:
                parts.append(self._rows_image(t.dense, lane))
            else:
                K = t.conv.K
                C, Cin, KH, KW = K.shape
                img = np.zeros((Cin, KH, KW, self.table_cgroups(t)[1]), dtype=np.int64)
                mine = K[lane::self.lanes]  # channels c0 + cg * lanes + lane < c0 + C
                img[..., :len(mine)] = mine.transpose(1, 2, 3, 0)
                parts.append(img.reshape(-1))
        if self.per_channel:  # bias row b at base + b * cgroups + cg
            parts += [self.channel_image(lane, row) for row in self.bias]
        else:
            parts.append(self._rows_image(self.bias, lane))
        return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)

    def _rows_image(self, rows, lane):
        idx = self.lane_neurons(lane)
        return np.where(idx[None, :] >= 0, rows[:, np.maximum(idx, 0)], 0).reshape(-1)

    def fanout(self):
        """SOPs one event of each input row costs: n (dense row), or C x the kernel positions
        that land inside the output (kernel row)."""
        out = []
        for t in self.tables:
            if t.zero:
                out.append(np.zeros(t.n_rows, dtype=np.int64))
            elif t.dense is not None:
                out.append(np.full(t.n_rows, self.n, dtype=np.int64))
            else:
                m = _implied(t.conv, self.layout, ones=True)
                out.append(np.asarray(m.sum(axis=1)).reshape(-1).astype(np.int64))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def implied_weights(self, sparse=False):
        """The (n_in, n) matrix the tables compute (to check against the unrolled synapses)."""
        import scipy.sparse as sp
        mats = [sp.csr_matrix((t.n_rows, self.n), dtype=np.int64) if t.zero else
                sp.csr_matrix(t.dense) if t.dense is not None else _implied(t.conv, self.layout)
                for t in self.tables]
        m = sp.vstack(mats, format="csr") if mats else sp.csr_matrix((0, self.n), dtype=np.int64)
        return m if sparse else m.toarray()

    @property
    def per_channel(self):
        """A channel-placed core whose theta, v0 and bias rows are constant within each channel:
        those memories hold one word per channel group (address co // lanes)."""
        if self.conv is None:
            return False
        lay = self.layout
        arrs = [self.theta[None], self.v0[None], self.cbias[None], self.bias]
        return all((a.reshape(len(a), lay.C, lay.HW) == a.reshape(len(a), lay.C, lay.HW)[..., :1]).all()
                   for a in arrs if a.size)

    def channel_image(self, lane, values):
        """Per channel group cg: the value of channel cg * lanes + lane (0 past the last)."""
        lay = self.layout
        per_c = np.asarray(values, dtype=np.int64).reshape(lay.C, lay.HW)[:, 0]
        co = np.arange(self.cgroups) * self.lanes + lane
        return np.where(co < lay.C, per_c[np.minimum(co, lay.C - 1)], 0)

    def param_image(self, lane, field):
        idx = self.lane_neurons(lane)
        arr = getattr(self, field)
        return np.where(idx >= 0, arr[np.maximum(idx, 0)], 0)

    def param_constant(self, lane, field):
        """The one value parameter `field` ("theta", "v0", "cbias") has at every real neuron of `lane`
        (0 for a lane of padding only), or None where they differ. The core then holds it as a
        constant instead of a memory (padding slots are never decided or read back)."""
        if self.per_channel:
            real = np.arange(self.cgroups) * self.lanes + lane < self.layout.C
            vals = np.asarray(self.channel_image(lane, getattr(self, field)))[real]
        else:
            vals = self.param_image(lane, field)[self.lane_neurons(lane) >= 0]
        if vals.size == 0:
            return 0
        return int(vals[0]) if (vals == vals[0]).all() else None

    def fingerprint(self):
        """Bytes of everything the Verilog of this core depends on (for build caches)."""
        parts = [repr(sorted(self.summary().items())).encode(),
                 repr((self.s_min, self.s_max, self.gate, self.in_bound, self.bias_steps, self.window,
                       None if self.layout is None else (self.layout.C, self.layout.H, self.layout.W),
                       [(t.kind, t.n_rows, t.source, None if t.conv is None else (t.conv.src_shape, t.conv.c0))
                        for t in self.tables], self.row_rom, self.pack_lanes)).encode()]
        if self.kind == "cubalif":
            parts.append(repr((self.du, self.dv, self.w_exp, self.u_bits)).encode())
            parts.append(np.ascontiguousarray(self.cbias, dtype=np.int64).tobytes())
        for t in self.tables:
            arrs = [] if t.zero else [t.dense] if t.dense is not None else [
                t.conv.K, t.conv.rows, np.array(t.conv.stride + t.conv.pad)]
            parts += [np.ascontiguousarray(a, dtype=np.int64).tobytes() for a in arrs]
        parts += [np.ascontiguousarray(a, dtype=np.int64).tobytes() for a in (self.bias, self.theta, self.v0)]
        return b"|".join(parts)

    def summary(self):
        words = sum(len(self.weight_image(lane)) for lane in range(self.lanes))
        return {"name": self.name, "kind": self.kind, "neurons": self.n, "inputs": self.n_in,
                "bias_rows": self.bias_R, "lanes": self.lanes, "w_bits": self.w_bits,
                "x_bits": self.x_bits, "acc_bits": self.acc_bits, "v_bits": self.v_bits,
                "s_bits": self.s_bits, "theta_bits": self.theta_bits, "weight_words": words,
                "tables": [t.kind for t in self.tables], "pack_lanes": bool(self.pack_lanes and self.lanes > 1),
                "layout": "conv" if self.conv is not None else "dense"}


def _get_weights(self):
    given = self.__dict__.get("_weights_given")
    return given if given is not None else self._dense_weights()


def _set_weights(self, value):
    self.__dict__["_weights_given"] = value


# `weights` stays a constructor argument (a dataclass field) but reads as the dense matrix derived
# from the tables, so lowering never copies a large layer into a second int64 matrix
CoreConfig.weights = property(_get_weights, _set_weights, doc=CoreConfig._dense_weights.__doc__)


def _implied(ct, layout, ones=False):
    """Sparse (n_rows, C*H*W) matrix of a kernel table (the reach of every row)."""
    import scipy.sparse as sp
    C, Cin, KH, KW = ct.K.shape
    (sh, sw), (ph, pw) = ct.stride, ct.pad
    n_rows = len(ct.rows)
    c, iy, ix = ct.rows.T
    r, ky, kx, co = np.meshgrid(np.arange(n_rows), np.arange(KH), np.arange(KW), np.arange(C), indexing="ij")
    cc, yn, xn = c[r], iy[r] + ph - ky, ix[r] + pw - kx
    y, x = yn // sh, xn // sw
    ok = (cc >= 0) & (yn % sh == 0) & (xn % sw == 0) & (y >= 0) & (y < layout.H) & (x >= 0) & (x < layout.W)
    vals = np.ones(ok.sum(), np.int64) if ones else ct.K[co[ok], cc[ok], ky[ok], kx[ok]]
    cols = (ct.c0 + co[ok]) * layout.HW + y[ok] * layout.W + x[ok]
    m = sp.csr_matrix((vals, (r[ok], cols)), shape=(n_rows, layout.C * layout.HW), dtype=np.int64)
    if not ones:
        m.eliminate_zeros()
    return m


def default_core(lanes=1, n_in=64, n=32, seed=0, name="core"):
    """The reference core of the synthesis table: n_in x n random int8 weights, one bias row,
    ST-BIF with s_max 15, int16 V, int6 S, theta 64 (seeded, so the Verilog is reproducible)."""
    rng = np.random.default_rng(seed)
    weights = rng.integers(-128, 128, (n_in + 1, n))
    return CoreConfig(name=name, kind="stbif", n=n, n_in=n_in, weights=weights, theta=64, v0=32,
                      bias_R=1, lanes=lanes, x_bits=2, v_bits=16, s_bits=6, s_min=0, s_max=15)
