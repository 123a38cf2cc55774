"""The accumulate side of the neuron core: row decoding and the accumulate walk.

- `RowDecode` (decode stage): the accepted input event's row fields, one cycle after the
  event is taken (the row table is a synchronous ROM, or the same lookups computed,
  `_rows.row_decode`), so back-to-back events cost no bubble.
- `AccumulateWalk` (issue stage, then its write-back stage `a1_*`): one address per cycle of
  the row being walked. A dense row (or a bias row) takes the G addresses in order; a kernel
  row walks the kernel positions of its reach (first position, its output pixel; then steps
  of the stride) and the channel groups (positions outside the output take a cycle without
  SOPs).
"""

from amaranth.hdl import Const, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ._core_memory import select, ubits
from ._rom import rom_read_port
from ._rows import ROW_FIELDS, decode_rows, row_decode, row_table

__all__ = ["RowDecode", "AccumulateWalk"]


class RowDecode:
    """Decode stage. `accept` (an input event taken this cycle), `load` (the walk takes the
    decoded event), `d_valid`/`d_val` (a decoded event and its value), `got_last`; the row
    fields `row_valid`, `dense`, `tid`, `wa` and for kernel rows `fields["ky0"]` ... (widths
    in `widths`)."""

    def __init__(self, m, cfg, index, rom=None):
        G, lay = cfg.groups, cfg.conv
        got_last, d_valid, d_val = Signal(), Signal(), Signal(signed(cfg.x_bits))
        accept = Signal()
        load = Signal()            # the walk takes the decoded event this cycle
        self.got_last, self.d_valid, self.d_val, self.accept, self.load = got_last, d_valid, d_val, accept, load
        self.abits = abits = ubits(max(2, cfg.table_bases()[-1] + cfg.bias_R * G))
        self.fields, self.widths = {}, {}
        if lay is not None:
            dec = row_decode(cfg)
            if dec is None:
                names, widths, words = row_table(cfg)
                if rom is not None:  # loaded from an image file (see _rom)
                    rom_r = rom_read_port(m, rom, "row_rom", f"{cfg.name}.rows", None, sum(widths),
                                          max(2, len(words)), is_signed=False, wide_words=words)
                else:
                    m.submodules.row_rom = mem = Memory(shape=unsigned(sum(widths)), depth=max(2, len(words)),
                                                        init=words)
                    rom_r = mem.read_port()
                m.d.comb += [rom_r.addr.eq(index), rom_r.en.eq(accept)]
                f, pos = {}, 0
                for name, w in zip(names, widths):
                    f[name] = rom_r.data[pos:pos + w]
                    pos += w
            else:
                names, widths = ROW_FIELDS, dec[0]
                f = decode_rows(m, dec, index, accept)
            self.fields, self.widths = f, dict(zip(names, widths))
            self.row_valid, self.dense, self.tid, self.wa = f["valid"], f["dense"], f["tid"], f["wa"]
        else:
            d_wa = Signal(abits)
            d_row_valid, d_dense = Signal(init=1), Const(1, 1)
            with m.If(accept):
                m.d.sync += d_wa.eq(index * G)
                if cfg.first_zero < len(cfg.tables):  # rows of zero tables are dropped
                    m.d.sync += d_row_valid.eq(index < cfg.zero_row)
            self.row_valid, self.dense, self.wa = d_row_valid, d_dense, d_wa

    def handshake(self, m, inp, walk):
        """ACC phase: take an event while the decode register is free or handed on now."""
        m.d.comb += [self.load.eq(self.d_valid & (~walk.ev_active | walk.last_issue)),
                     inp.ready.eq(~self.got_last & (~self.d_valid | self.load)),
                     self.accept.eq(inp.valid & inp.ready)]

    def take(self, m, inp):
        """ACC phase: the accepted event (or its end-of-step marker) into the decode register."""
        with m.If(self.accept & inp.payload.last):
            m.d.sync += self.got_last.eq(1)
        with m.If(self.accept & ~inp.payload.last):
            m.d.sync += [self.d_valid.eq(1), self.d_val.eq(inp.payload.value)]
        with m.Elif(self.load):
            m.d.sync += self.d_valid.eq(0)


class AccumulateWalk:
    """Issue stage: `issue_addr`/`issue_valid` (a neuron address, all lanes), `w_addr` (its
    weight address), `n_sop` (synaptic operations of this cycle), `last_issue`; write-back
    stage `a1_valid`, `a1_addr`, `a1_val` one cycle later."""

    def __init__(self, m, cfg, dec):
        L, G, lay = cfg.lanes, cfg.groups, cfg.conv
        gbits, abits, xb = ubits(G), dec.abits, cfg.x_bits
        self.cfg, self.lay = cfg, lay
        last_count = cfg.n - (G - 1) * L  # real neurons in the last group (dense placement)
        ev_active, dense_walk, bias_walk = Signal(), Signal(), Signal()
        pc = cfg.per_channel
        val = Signal(signed(xb))
        g = Signal(gbits)            # dense walk: address
        wa = Signal(abits)           # dense walk: row base; kernel walk: address at (ky, kx, 0)
        a1_valid, a1_addr, a1_val = Signal(), Signal(gbits), Signal(signed(xb))
        issue_addr, issue_valid, last_issue, w_addr = Signal(gbits), Signal(), Signal(), Signal(abits)
        n_sop = Signal(range(L + 1))
        self.ev_active, self.dense_walk, self.bias_walk, self.val, self.g, self.wa = \
            ev_active, dense_walk, bias_walk, val, g, wa
        self.a1_valid, self.a1_addr, self.a1_val = a1_valid, a1_addr, a1_val
        self.issue_addr, self.issue_valid, self.last_issue, self.w_addr, self.n_sop = \
            issue_addr, issue_valid, last_issue, w_addr, n_sop
        if lay is None:
            m.d.comb += [issue_addr.eq(g), issue_valid.eq(ev_active), last_issue.eq(ev_active & (g == G - 1)),
                         w_addr.eq(wa + g), n_sop.eq(Mux(ev_active, Mux(g == G - 1, last_count, L), 0))]
            return

        def lv(cg):  # real lanes of channel group cg
            return Mux(cg == cfg.cgroups - 1, lay.C - (cfg.cgroups - 1) * L, L)
        Gc, HW = cfg.cgroups, lay.HW
        ktabs = [t.conv for t in cfg.tables]
        kshape = [(1, 1, 1, 1) if k is None else (k.K.shape[2], k.K.shape[3], k.stride[0], k.stride[1])
                  for k in ktabs]
        widths = dec.widths
        ybits = max(widths["y0"], widths["x0"], ubits(max(lay.H, lay.W)) + 1) + 1
        kb = max(widths["ky0"], widths["kx0"], max(max(s[0], s[1]) for s in kshape).bit_length()) + 1
        tid = Signal(range(max(2, len(cfg.tables))))
        ky, kx, kx0 = Signal(kb), Signal(kb), Signal(kb)
        oy, ox, ox0 = Signal(signed(ybits)), Signal(signed(ybits)), Signal(signed(ybits))
        cg, dcg, dp = Signal(range(max(2, Gc))), Signal(range(max(2, Gc))), Signal(range(max(2, HW)))
        wrow = Signal(abits)
        self.tid, self.ky, self.kx, self.kx0, self.oy, self.ox, self.ox0 = tid, ky, kx, kx0, oy, ox, ox0
        self.cg, self.dcg, self.dp, self.wrow = cg, dcg, dp, wrow

        def per_table(k):
            vals = [s[k] for s in kshape]
            return select([Const(v) for v in vals], tid)
        KH, KW, self.SH, self.SW = (per_table(k) for k in range(4))
        # a kernel table walks its own channel groups cg = 0 .. Gt - 1, the core's cg0 + cg
        # (all of them, cg0 = 0, unless it feeds one part of a concatenation: ConvTable.c0)
        parts = [cfg.table_cgroups(t) if t.conv is not None else (0, Gc) for t in cfg.tables]
        steps_ky = [s[2] * s[1] * gt for s, (_, gt) in zip(kshape, parts)]  # ky += sh: sh * KW * Gt
        steps_kx = [s[3] * gt for s, (_, gt) in zip(kshape, parts)]
        self.DKY, self.DKX = (select([Const(v) for v in steps], tid) for steps in (steps_ky, steps_kx))
        self.GT_LAST = select([Const(gt - 1, range(max(2, Gc))) for _, gt in parts], tid)
        CG0 = select([Const(g0, range(max(2, Gc))) for g0, _ in parts], tid)
        pos_valid = (oy >= 0) & (oy < lay.H) & (ox >= 0) & (ox < lay.W)
        self.k_last_x, k_last_y = kx + self.SW >= KW, ky + self.SH >= KH
        conv_addr, ccg = Signal(gbits), cg
        if any(g0 for g0, _ in parts):
            ccg = Signal(range(max(2, Gc)))
            m.d.comb += ccg.eq(cg + CG0)
        m.d.comb += conv_addr.eq(ccg * HW + oy * lay.W + ox)
        m.d.comb += [
            issue_addr.eq(Mux(dense_walk, g, conv_addr)),
            issue_valid.eq(ev_active & (dense_walk | pos_valid)),
            last_issue.eq(ev_active & Mux(dense_walk, g == G - 1, (cg == self.GT_LAST) & self.k_last_x & k_last_y)),
            w_addr.eq(Mux(dense_walk, Mux(bias_walk, wa + dcg, wa + g) if pc else wa + g, wa + cg)),
            n_sop.eq(Mux(issue_valid, Mux(dense_walk, lv(dcg), lv(ccg)), 0)),
        ]

    def start_dense(self, m, base, bias=0):
        """Walk the G addresses of the dense (or bias) row at weight address `base`."""
        m.d.sync += [self.ev_active.eq(1), self.dense_walk.eq(1), self.g.eq(0), self.wa.eq(base),
                     self.bias_walk.eq(bias)]
        if self.lay is not None:
            m.d.sync += [self.dcg.eq(0), self.dp.eq(0)]

    def step(self, m, dec):
        """ACC phase, every cycle: the next address, or the decoded event (`dec.load`), or idle."""
        lay = self.lay
        with m.If(dec.load):
            m.d.sync += self.val.eq(dec.d_val)
            with m.If(~dec.row_valid):  # a row without a connection does nothing
                m.d.sync += self.ev_active.eq(0)
            with m.Elif(dec.dense):
                self.start_dense(m, dec.wa)
            if lay is not None:
                with m.Else():
                    f = dec.fields
                    m.d.sync += [self.ev_active.eq(1), self.dense_walk.eq(0), self.tid.eq(dec.tid), self.cg.eq(0),
                                 self.ky.eq(f["ky0"]), self.kx.eq(f["kx0"]), self.kx0.eq(f["kx0"]),
                                 self.oy.eq(f["y0"]), self.ox.eq(f["x0"]), self.ox0.eq(f["x0"]),
                                 self.wa.eq(dec.wa), self.wrow.eq(dec.wa)]
        with m.Elif(self.last_issue):
            m.d.sync += self.ev_active.eq(0)
        with m.Elif(self.ev_active):
            if lay is None:
                m.d.sync += self.g.eq(self.g + 1)
            else:
                self._next_position(m)

    def _next_position(self, m):
        """Kernel-table core: the dense walk's next address (g, and its channel group dcg and
        pixel dp), or the kernel walk's next channel group, then kernel position."""
        lay = self.lay
        with m.If(self.dense_walk):
            m.d.sync += self.g.eq(self.g + 1)
            with m.If(self.dp == lay.HW - 1):
                m.d.sync += [self.dp.eq(0), self.dcg.eq(self.dcg + 1)]
            with m.Else():
                m.d.sync += self.dp.eq(self.dp + 1)
        with m.Elif(self.cg != self.GT_LAST):
            m.d.sync += self.cg.eq(self.cg + 1)
        with m.Else():
            m.d.sync += self.cg.eq(0)
            with m.If(~self.k_last_x):
                m.d.sync += [self.kx.eq(self.kx + self.SW), self.ox.eq(self.ox - 1), self.wa.eq(self.wa + self.DKX)]
            with m.Else():
                m.d.sync += [self.kx.eq(self.kx0), self.ox.eq(self.ox0), self.ky.eq(self.ky + self.SH),
                             self.oy.eq(self.oy - 1), self.wrow.eq(self.wrow + self.DKY),
                             self.wa.eq(self.wrow + self.DKY)]

    def write_back(self, m):
        """ACC phase: the issued address, one cycle later (its V read is then ready)."""
        m.d.sync += [self.a1_valid.eq(self.issue_valid), self.a1_addr.eq(self.issue_addr),
                     self.a1_val.eq(self.val)]
