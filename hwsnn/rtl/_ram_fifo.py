"""`RamFIFO`: Amaranth's `SyncFIFOBuffered` (amaranth.lib.fifo, 0.5) on an `hwsnn_ram` storage.

The simulation path's spike-event FIFOs between cores (`Network(..., rom=RomFiles(...))`):
the same interface as `Network` uses it (`w_data`, `w_en`, `w_rdy`, `r_data`, `r_rdy`,
`r_en`, `level`; emptied by a `ResetInserter`) and the same cycle behaviour, written out
below as `SyncFIFOBuffered.elaborate` does it: a storage of depth - 1 words with a
synchronous, non-transparent read port (no address is read and written in one cycle: the
read address holds a word only while the FIFO is not full, and a write needs it not full,
so they differ), then the output register `r_data` / `r_rdy`. The storage has no initial
contents (Amaranth's writes one zero line per word): only words written are read. Like
Amaranth's memory read port, `r_data` is not reset (a flush resets the counters and `r_rdy`).
"""

from amaranth.hdl import Elaboratable, Module, Mux, Signal, unsigned

from hwsnn.errors import MappingError

from ._rom import ram_ports

__all__ = ["RamFIFO"]


def _incr(signal, modulo):
    """signal + 1 modulo `modulo` (amaranth.lib.fifo._incr)."""
    if modulo == 2 ** len(signal):
        return signal + 1
    return Mux(signal == modulo - 1, 0, signal + 1)


class RamFIFO(Elaboratable):
    """A first in, first out queue of `depth` (>= 2) words of `width` bits; see the module docstring."""

    def __init__(self, *, width, depth):
        if depth < 2:
            raise MappingError(f"RamFIFO: depth must be at least 2, not {depth}")
        self.width, self.depth = width, depth
        self.w_data, self.w_en, self.w_rdy = Signal(width), Signal(), Signal()
        self.r_data, self.r_en, self.r_rdy = Signal(width), Signal(), Signal()
        self.level = Signal(range(depth + 1))

    def elaborate(self, platform):
        m = Module()
        inner_depth = self.depth - 1
        inner_level = Signal(range(inner_depth + 1))
        inner_r_rdy = Signal()
        m.d.comb += [self.w_rdy.eq(inner_level != inner_depth), inner_r_rdy.eq(inner_level != 0)]
        do_write = self.w_rdy & self.w_en
        do_inner_read = inner_r_rdy & (~self.r_rdy | self.r_en)

        rd, wr = ram_ports(m, "storage", unsigned(self.width), inner_depth, transparent=False)
        produce, consume = Signal(range(inner_depth)), Signal(range(inner_depth))
        m.d.comb += [wr.addr.eq(produce), wr.data.eq(self.w_data), wr.en.eq(do_write)]
        with m.If(do_write):
            m.d.sync += produce.eq(_incr(produce, inner_depth))
        m.d.comb += [rd.addr.eq(consume), self.r_data.eq(rd.data), rd.en.eq(do_inner_read)]
        with m.If(do_inner_read):
            m.d.sync += consume.eq(_incr(consume, inner_depth))

        with m.If(do_write & ~do_inner_read):
            m.d.sync += inner_level.eq(inner_level + 1)
        with m.If(do_inner_read & ~do_write):
            m.d.sync += inner_level.eq(inner_level - 1)
        with m.If(do_inner_read):
            m.d.sync += self.r_rdy.eq(1)
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        m.d.comb += self.level.eq(inner_level + self.r_rdy)
        return m
