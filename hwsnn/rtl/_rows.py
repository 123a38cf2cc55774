"""The input-row table of a core with kernel tables: stored (a ROM, `row_table`) or computed
from the row index (`row_decode`, `decode_rows`).

Per input row the core needs: valid, dense, table id, the weight address of the row's first
kernel position, and ky0, y0, kx0, x0 (the walk's start, see `ConvTable.walk`). A ROM holds
one word per row (n_in words: the largest memory of a big conv core). When a table's source is
(Cs, Hs, Ws) with Hs, Ws powers of two, the row index splits into bit fields (cs, hs, ws) and
every field is a lookup by hs or ws (or cs for the address): small constant tables in logic.
"""

import numpy as np
from amaranth.hdl import Array, Const, Signal

from ._config import _ubits

__all__ = ["ROW_FIELDS", "row_table", "row_decode", "decode_rows"]


ROW_FIELDS = ("valid", "dense", "tid", "wa", "ky0", "y0", "kx0", "x0")


def _row_entries(cfg):
    """Per input row of a core with kernel tables: valid, dense, table id, weight address of its
    first position, and for kernel rows ky0, y0, kx0, x0; and the field widths."""
    G = cfg.groups
    bases = cfg.table_bases()
    entries = []
    for t, tab in enumerate(cfg.tables):
        if tab.zero:
            entries += [(0, 0, t, 0, 0, 0, 0, 0)] * tab.n_rows
            continue
        if tab.dense is not None:
            for r in range(tab.n_rows):
                entries.append((1, 1, t, bases[t] + r * G, 0, 0, 0, 0))
            continue
        C, Cin, KH, KW = tab.conv.K.shape
        Gc = cfg.table_cgroups(tab)[1]  # the table's channel groups: its kernel image's word stride
        walk = tab.conv.walk()
        for (c, _, _), (ky0, y0, kx0, x0) in zip(tab.conv.rows, walk):
            if c < 0 or ky0 >= KH or kx0 >= KW:
                entries.append((0, 0, t, 0, 0, 0, 0, 0))
            else:
                wa = bases[t] + ((int(c) * KH + int(ky0)) * KW + int(kx0)) * Gc
                entries.append((1, 0, t, wa, int(ky0), int(y0), int(kx0), int(x0)))
    widths = [1, 1, _ubits(len(cfg.tables)), _ubits(max(2, bases[-1] + cfg.bias_R * G))]
    for k in range(4, 8):
        widths.append(max(1, max((e[k] for e in entries), default=0).bit_length()))
    return entries, widths


def row_table(cfg):
    """The row ROM of a core with kernel tables: (fields, widths, words), the fields of
    `_row_entries` packed LSB first."""
    entries, widths = _row_entries(cfg)
    words = []
    for e in entries:
        w, shift = 0, 0
        for v, b in zip(e, widths):
            w |= int(v) << shift
            shift += b
        words.append(w)
    return ROW_FIELDS, widths, words


def _pow2(n):
    return n >= 1 and n & (n - 1) == 0


def row_decode(cfg):
    """The row table computed instead of stored, or None (the core then keeps the ROM).

    A kernel table whose source is (Cs, Hs, Ws) with Hs, Ws powers of two splits the table's
    local row i = (cs * Hs + hs) * Ws + ws into bit fields; each row's entry must then be
    valid = vy[hs] & vx[ws], (ky0[hs], y0[hs]), (kx0[ws], x0[ws]) and the weight address
    base[cs] + ya[hs] + xa[ws] (ya = ky0 * KW * Gc, xa = kx0 * Gc, Gc the table's channel groups). Returns (widths, per table
    None for a zero table or (offset, n_rows, bh, bw, base, (vy, ky0, y0, ya), (vx, kx0, x0,
    xa))), only when rebuilding every row from these lookups gives exactly `_row_entries`
    (checked here; cores with a dense table, a table without src_shape, or `cfg.row_rom`
    keep the ROM)."""
    if cfg.conv is None or cfg.row_rom:
        return None
    entries, widths = _row_entries(cfg)
    E = np.array(entries, dtype=np.int64).reshape(-1, 8)
    bases, out = cfg.table_bases(), []
    for t, (tab, off) in enumerate(zip(cfg.tables, cfg.offsets())):
        if tab.zero:
            out.append(None)
            continue
        if tab.conv is None or tab.conv.src_shape is None:
            return None
        Cs, Hs, Ws = tab.conv.src_shape
        if not (_pow2(Hs) and _pow2(Ws)) or Cs * Hs * Ws != tab.n_rows:
            return None
        _, _, KH, KW = tab.conv.K.shape
        Gc = cfg.table_cgroups(tab)[1]
        e = E[off:off + tab.n_rows].reshape(Cs, Hs, Ws, 8)
        valid = e[..., 0].astype(bool)
        vy, vx = valid.any(axis=(0, 2)), valid.any(axis=(0, 1))
        if not (valid == (vy[None, :, None] & vx[None, None, :])).all():
            return None
        cy = np.argmax(valid.any(axis=2), axis=0)          # some channel and column per row hs
        wy = np.argmax(valid, axis=2)[cy, np.arange(Hs)]
        ky0, y0 = (np.where(vy, e[cy, np.arange(Hs), wy, k], 0) for k in (4, 5))
        cx = np.argmax(valid.any(axis=1), axis=0)
        hx = np.argmax(valid, axis=1)[cx, np.arange(Ws)]
        kx0, x0 = (np.where(vx, e[cx, hx, np.arange(Ws), k], 0) for k in (6, 7))
        ya, xa = ky0 * KW * Gc, kx0 * Gc
        base = bases[t] + np.arange(Cs) * KH * KW * Gc
        rebuilt = np.zeros_like(e)
        rebuilt[..., 0], rebuilt[..., 2] = valid, t
        rebuilt[..., 3] = base[:, None, None] + ya[None, :, None] + xa[None, None, :]
        rebuilt[..., 4], rebuilt[..., 5] = ky0[None, :, None], y0[None, :, None]
        rebuilt[..., 6], rebuilt[..., 7] = kx0[None, None, :], x0[None, None, :]
        if not (rebuilt[valid] == e[valid]).all():
            return None
        out.append((off, tab.n_rows, (Hs - 1).bit_length(), (Ws - 1).bit_length(), base,
                    (vy, ky0, y0, ya), (vx, kx0, x0, xa)))
    return widths, out



def decode_rows(m, dec, idx, accept):
    """The row table's fields for the event accepted with row index `idx`, computed by the
    lookups of `row_decode` and registered (one cycle, as the ROM's synchronous read)."""
    widths, tabs = dec
    f = {name: Signal(w, name=f"row_{name}") for name, w in zip(ROW_FIELDS, widths)}

    def lut(values, at, width):
        values = [int(v) for v in values]
        if len(set(values)) == 1:
            return Const(values[0], width)
        return Array(Const(v, width) for v in values)[at]
    local = {}
    for t, tab in enumerate(tabs):  # the table's local row i = idx - offset, split into fields
        if tab is not None:
            i = local[t] = Signal(len(idx), name=f"row_i{t}")
            m.d.comb += i.eq(idx - tab[0])
    with m.If(accept):
        m.d.sync += f["valid"].eq(0)  # dense is always 0: such cores keep the ROM
        for t, tab in enumerate(tabs):
            if tab is None:  # a zero table: its rows do nothing
                continue
            off, n_rows, bh, bw, base, (vy, ky0, y0, ya), (vx, kx0, x0, xa) = tab
            i = local[t]
            hs, ws, cs = i[bw:bw + bh], i[:bw], i[bw + bh:]
            with m.If((idx >= off) & (idx < off + n_rows)):
                m.d.sync += [f["valid"].eq(lut(vy, hs, 1) & lut(vx, ws, 1)), f["tid"].eq(t),
                             f["wa"].eq(lut(base, cs, widths[3]) + lut(ya, hs, widths[3]) +
                                        lut(xa, ws, widths[3])),
                             f["ky0"].eq(lut(ky0, hs, widths[4])), f["y0"].eq(lut(y0, hs, widths[5])),
                             f["kx0"].eq(lut(kx0, ws, widths[6])), f["x0"].eq(lut(x0, ws, widths[7]))]
    return f
