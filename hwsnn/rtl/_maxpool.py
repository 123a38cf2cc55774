"""MaxPoolUnit: exact max pooling over spike counts (IR MaxPool2d), a core of the Network.

It has NeuronCore's ports and commands (docs/ir-format.md, "MaxPool2d in detail"):

- ``init``: C = 0 (count memory, n_in words) and S = 0 (maxima memory, n_out words), one
  address per cycle; then an end-of-step marker on `out`.
- ``acc``: every input event (index i, value x) until `last`: C[i] += x (read, then write:
  two cycles per event). A count that leaves its signed s_bits register sets `ovf`.
- ``fire``: first every count on `mon` (index i < n_in, v = C[i]); then per output o = (c, i,
  j) the window's taps in turn (one count read per cycle, a tap outside the input counts 0),
  M = their maximum, y = M - S[o], S[o] = M: `mon` shows (index n_in + o, s = M, y) and a
  nonzero y goes out as event (o, y). Then a marker with `last`. |y| > 1 sets `ovf`.
- ``dump``: every C then every S on `mon` with `mon.dump` set.

So `mon` indices 0..n_in-1 are the node's V (its input counts), n_in.. its S and y; the
mapping splits them (mappings/rtl/_run.py). No weights: `sops` stays 0.
"""

from dataclasses import dataclass, field

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwsnn.ir import int_range

from ._core import event_layout, monitor_signature

__all__ = ["PoolConfig", "PoolInput", "MaxPoolUnit"]


def _ubits(n):
    return max(1, (int(n) - 1).bit_length())


@dataclass(eq=False)
class PoolInput:
    """The unit's one input: `source` core (-1: the Source), `n_rows` spike inputs (n_in)."""

    n_rows: int
    source: int = None
    name: str = ""
    zero: bool = False
    conv: object = None
    dense: object = None


@dataclass(eq=False)
class PoolConfig:
    """Plain data of one MaxPoolUnit, with the attributes the Network and benches read from a
    CoreConfig (n, index widths, x_bits, v_bits/s_bits, tables, lanes, window, ...)."""

    name: str
    in_shape: tuple
    shape: tuple
    kernel: tuple
    stride: tuple
    padding: tuple
    s_bits: int
    tables: list = None
    meta: dict = field(default_factory=dict)
    kind = "maxpool"
    lanes = 1
    window = 0
    bias_R = 0
    x_bits = 2
    pack_lanes = False
    conv = None
    layout = None

    def __post_init__(self):
        self.in_shape, self.shape = tuple(self.in_shape), tuple(self.shape)
        self.n_in, self.n_out = int(np.prod(self.in_shape)), int(np.prod(self.shape))
        self.n = self.n_in + self.n_out           # monitor entries per step: counts, then outputs
        self.n_spikes = self.n_out                # what a consumer's table has rows for
        self.v0 = np.zeros(self.n, np.int64)
        if self.tables is None:
            self.tables = [PoolInput(self.n_in)]
        self.rows = self.n_in                      # watchdog: events per step at most n_in,
        self.groups = 4 + self.kernel[0] * self.kernel[1]  # each costing < groups cycles

    @property
    def v_bits(self):
        return self.s_bits

    @property
    def in_index_bits(self):
        return _ubits(self.n_in)

    @property
    def out_index_bits(self):
        return _ubits(self.n)

    def offsets(self):
        return [0]

    def weight_image(self, lane):
        return np.zeros(0, np.int64)

    def fingerprint(self):
        return repr(("maxpool", self.in_shape, self.shape, self.kernel, self.stride, self.padding,
                     self.s_bits)).encode()

    def summary(self):
        return {"name": self.name, "kind": "maxpool", "n": self.n_out, "n_in": self.n_in,
                "kernel": list(self.kernel), "stride": list(self.stride),
                "padding": list(self.padding), "s_bits": self.s_bits, "lanes": 1}


class MaxPoolUnit(wiring.Component):
    """The max-pool unit of `cfg` (a PoolConfig); see the module docstring."""

    def __init__(self, cfg, *, counters=True, _mutate_ge=False):
        self.cfg, self.counters = cfg, counters
        super().__init__({
            "inp": In(stream.Signature(event_layout(cfg.in_index_bits, cfg.x_bits))),
            "out": Out(stream.Signature(event_layout(cfg.out_index_bits, 2))),
            "init": In(1), "acc": In(1), "acc_p": In(1), "fire": In(1), "fire_mode": In(2),
            "dump": In(1), "busy": Out(1), "more": Out(1),
            "mon": Out(monitor_signature(cfg.out_index_bits, cfg.v_bits, cfg.s_bits)),
            "ovf": Out(1), "sops": Out(32), "acc_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        sb = cfg.s_bits
        lo, hi = int_range(sb)
        C, H, W = cfg.in_shape
        _, Ho, Wo = cfg.shape
        (kh, kw), (sh, sw), (ph, pw) = cfg.kernel, cfg.stride, cfg.padding
        m.submodules.cmem = cmem = Memory(shape=signed(sb), depth=cfg.n_in, init=[])
        m.submodules.smem = smem = Memory(shape=signed(sb), depth=cfg.n_out, init=[])
        crd, cwr = cmem.read_port(), cmem.write_port()
        srd, swr = smem.read_port(), smem.write_port()

        ovf, acc_cycles = Signal(), Signal(32)
        m.d.comb += [self.ovf.eq(ovf), self.more.eq(0), self.sops.eq(0)]
        if self.counters:
            m.d.comb += self.acc_cycles.eq(acc_cycles)
        addr = Signal(range(max(cfg.n_in, cfg.n_out) + 1))       # init / count scan address
        shown = Signal()                                           # a count read last cycle
        shown_at = Signal(range(cfg.n_in + 1))
        ev_i = Signal(range(cfg.n_in))
        ev_x = Signal(signed(cfg.x_bits))
        # output (c, i, j) and tap (a, b) counters; o the flat output index
        oc, oi, oj = Signal(range(C + 1)), Signal(range(Ho + 1)), Signal(range(Wo + 1))
        o = Signal(range(cfg.n_out + 1))
        ta, tb = Signal(range(kh + 1)), Signal(range(kw + 1))
        tap = Signal(range(kh * kw + 2))
        inside_prev = Signal()
        best = Signal(signed(sb + 1))
        y = Signal(signed(sb + 2))
        dump_s = Signal()                                          # dump: the S half

        r = Signal(signed(max(H, Ho * sh, 1).bit_length() + 3))
        q = Signal(signed(max(W, Wo * sw, 1).bit_length() + 3))
        m.d.comb += [r.eq(oi * sh - ph + ta), q.eq(oj * sw - pw + tb)]
        inside = Signal()
        m.d.comb += inside.eq((r >= 0) & (r < H) & (q >= 0) & (q < W))
        tap_addr = Signal(range(cfg.n_in + 1))
        m.d.comb += tap_addr.eq(Mux(inside, (oc * H + r[:r.shape().width - 1]) * W + q[:q.shape().width - 1], 0))
        m.d.comb += [self.mon.dump.eq(0), self.mon.ovf.eq(ovf), self.mon.y.eq(0),
                     self.mon.v.eq(0), self.mon.s.eq(0)]

        with m.FSM(name="pool") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.init):
                    m.d.sync += [addr.eq(0), ovf.eq(0)]
                    m.next = "INIT"
                with m.Elif(self.acc):
                    m.next = "ACC"
                with m.Elif(self.fire):
                    m.d.sync += [addr.eq(0), shown.eq(0)]
                    m.next = "SHOW"
                with m.Elif(self.dump):
                    m.d.sync += [addr.eq(0), shown.eq(0), dump_s.eq(0)]
                    m.next = "DUMP"
            with m.State("INIT"):
                m.d.comb += [cwr.addr.eq(addr), cwr.data.eq(0), cwr.en.eq(addr < cfg.n_in),
                             swr.addr.eq(addr), swr.data.eq(0), swr.en.eq(addr < cfg.n_out)]
                m.d.sync += addr.eq(addr + 1)
                with m.If(addr == max(cfg.n_in, cfg.n_out) - 1):
                    m.next = "MARK"
            with m.State("ACC"):
                m.d.sync += acc_cycles.eq(acc_cycles + 1)
                m.d.comb += [self.inp.ready.eq(1), crd.addr.eq(self.inp.payload.index),
                             crd.en.eq(self.inp.valid & ~self.inp.payload.last)]
                with m.If(self.inp.valid):
                    with m.If(self.inp.payload.last):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [ev_i.eq(self.inp.payload.index), ev_x.eq(self.inp.payload.value)]
                        m.next = "ACC_WRITE"
            with m.State("ACC_WRITE"):  # the count read last cycle, plus the event
                m.d.sync += acc_cycles.eq(acc_cycles + 1)
                new = Signal(signed(sb + 2))
                m.d.comb += [new.eq(crd.data + ev_x), cwr.addr.eq(ev_i), cwr.data.eq(new), cwr.en.eq(1)]
                with m.If((new < lo) | (new > hi)):
                    m.d.sync += ovf.eq(1)
                m.next = "ACC"
            with m.State("SHOW"):  # every count on the monitor, one read ahead
                m.d.comb += [crd.addr.eq(addr), crd.en.eq(addr < cfg.n_in),
                             self.mon.valid.eq(shown), self.mon.index.eq(shown_at), self.mon.v.eq(crd.data)]
                m.d.sync += [shown.eq(addr < cfg.n_in), shown_at.eq(addr), addr.eq(addr + 1)]
                with m.If(addr == cfg.n_in):
                    m.d.sync += [oc.eq(0), oi.eq(0), oj.eq(0), o.eq(0), ta.eq(0), tb.eq(0), tap.eq(0)]
                    m.next = "TAPS"
            with m.State("TAPS"):  # issue tap `tap`, take tap `tap - 1`
                m.d.comb += [crd.addr.eq(tap_addr), crd.en.eq(tap < kh * kw),
                             srd.addr.eq(o), srd.en.eq(tap == 0)]
                m.d.sync += [inside_prev.eq(inside), tap.eq(tap + 1)]
                with m.If(tb == kw - 1):
                    m.d.sync += [tb.eq(0), ta.eq(ta + 1)]
                with m.Else():
                    m.d.sync += tb.eq(tb + 1)
                value = Mux(inside_prev, crd.data, 0)
                with m.If(tap == 1):
                    m.d.sync += best.eq(value)
                with m.Elif(tap > 1):
                    m.d.sync += best.eq(Mux(value > best, value, best))
                with m.If(tap == kh * kw):
                    m.next = "EMIT"
            with m.State("EMIT"):  # y = M - S[o]; S[o] = M; monitor; spike out if y != 0
                m.d.comb += [y.eq(best - srd.data), swr.addr.eq(o), swr.data.eq(best), swr.en.eq(1),
                             self.mon.valid.eq(1), self.mon.index.eq(cfg.n_in + o),
                             self.mon.s.eq(best), self.mon.y.eq(y)]
                m.d.sync += ovf.eq(ovf | (y < -1) | (y > 1))
                with m.If(y != 0):
                    m.d.sync += ev_x.eq(y)
                    m.next = "SEND"
                with m.Else():
                    m.next = "NEXT"
            with m.State("SEND"):
                m.d.comb += [self.out.valid.eq(1), self.out.payload.index.eq(o),
                             self.out.payload.value.eq(ev_x), self.out.payload.last.eq(0)]
                with m.If(self.out.ready):
                    m.next = "NEXT"
            with m.State("NEXT"):  # the next output window, or the end-of-step marker
                m.d.sync += [o.eq(o + 1), ta.eq(0), tb.eq(0), tap.eq(0)]
                with m.If(oj == Wo - 1):
                    m.d.sync += oj.eq(0)
                    with m.If(oi == Ho - 1):
                        m.d.sync += [oi.eq(0), oc.eq(oc + 1)]
                    with m.Else():
                        m.d.sync += oi.eq(oi + 1)
                with m.Else():
                    m.d.sync += oj.eq(oj + 1)
                with m.If(o == cfg.n_out - 1):
                    m.next = "MARK"
                with m.Else():
                    m.next = "TAPS"
            with m.State("MARK"):
                m.d.comb += [self.out.valid.eq(1), self.out.payload.last.eq(1)]
                with m.If(self.out.ready):
                    m.next = "IDLE"
            with m.State("DUMP"):  # counts (v), then maxima (s), one read ahead, mon.dump set
                n_half = Mux(dump_s, cfg.n_out, cfg.n_in)
                m.d.comb += [crd.addr.eq(addr), crd.en.eq(~dump_s & (addr < cfg.n_in)),
                             srd.addr.eq(addr), srd.en.eq(dump_s & (addr < cfg.n_out)),
                             self.mon.valid.eq(shown), self.mon.dump.eq(1),
                             self.mon.index.eq(Mux(dump_s, cfg.n_in + shown_at, shown_at)),
                             self.mon.v.eq(Mux(dump_s, 0, crd.data)), self.mon.s.eq(Mux(dump_s, srd.data, 0))]
                m.d.sync += [shown.eq(addr < n_half), shown_at.eq(addr), addr.eq(addr + 1)]
                with m.If(addr == n_half):
                    m.d.sync += [addr.eq(0), shown.eq(0)]
                    with m.If(dump_s):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += dump_s.eq(1)
        return m
