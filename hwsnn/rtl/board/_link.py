"""BoardLink: the network behind a UART host link (rx/tx pins, the frame protocol of
`_protocol`). Everything a board needs except the clock and the pins.

Receive path: UartRx -> FIFO (16 bytes) -> frame parser. The parser checks SOF, version,
type, length (against the frame buffer), stores a RUN frame's records in the buffer and
checks the CRC; only a whole, correct frame runs. Errors (`_protocol.ERRORS`) are answered
with an ERROR frame. After an error at a frame's end (CRC, LENGTH of a partial record,
PAYLOAD) the parser waits for the next frame; after an error that leaves it out of step with
the byte stream (STRAY, VERSION, TYPE, LENGTH in the header, FRAMING, OVERRUN) it discards bytes
until the line has been idle `gap_bits` bit times. A frame whose bytes stop for `gap_bits` is
CUT. So the board never waits for a byte that may not come, and one burst of noise costs one
ERROR frame.
"""

import numpy as np
from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwsnn.errors import MappingError

from .._network import Network
from ._crc import CRC_INIT, crc16_update
from ._protocol import ERRORS, MARKER, SOF, TYPES, VERSION
from ._reply import KINDS, Replier, le_bytes
from ._runner import SampleRunner
from ._uart import UartRx, UartTx, check_divisor

__all__ = ["BoardLink", "LinkParams"]


class LinkParams:
    """What the link needs from the lowered network: `rtl_net` (an RtlNetwork), the UART
    `divisor`, `gap_bits`, the frame buffer size `records`, the step limit, the design id."""

    def __init__(self, rtl_net, divisor, gap_bits=32, records=None, max_steps=4096, design_id=0):
        self.configs = list(rtl_net.cores)
        if any(c.window for c in self.configs):
            raise MappingError("board: Ca-LIF networks (window and settle phase) do not run on a board top yet")
        kinds = [c.kind for c in self.configs]
        if kinds.count("readout") != 1:
            raise MappingError(f"board: the network must have exactly one Readout core, not {kinds.count('readout')}")
        self.readout = kinds.index("readout")
        self.spiking = [k for k, c in enumerate(self.configs) if c.kind != "readout"]
        self.n_out = self.configs[self.readout].n
        if self.n_out > 256:
            raise MappingError(f"board: the readout must have at most 256 neurons, not {self.n_out}")
        from .._network import core_sources
        src = rtl_net.graph.nodes[rtl_net.source]
        self.n_src = int(np.prod(src.shape))
        feed = next(k for k, s in enumerate(core_sources(self.configs)) if -1 in s)
        self.x_bits = int(self.configs[feed].x_bits)
        if self.n_src >= MARKER or self.x_bits > 8:
            raise MappingError(f"board: the source must have < {MARKER} inputs of <= 8 bits, not {self.n_src} of "
                               f"{self.x_bits} bits")
        steps_out = src.R if src.encoding == "analog" else src.T
        self.records = int(records or self.n_src * max(1, steps_out) + max(1, steps_out) + 2)
        self.divisor, self.gap_bits = check_divisor(divisor), int(gap_bits)
        self.max_steps, self.design_id = int(max_steps), int(design_id) & 0xFFFFFFFF


class BoardLink(wiring.Component):
    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, params):
        self.p = params
        super().__init__()

    def _info_payload(self):
        p = self.p
        fields = [(p.design_id, 4), (p.n_src, 2), (p.n_out, 2), (len(p.spiking), 1), (p.records, 2),
                  (p.max_steps, 2), (p.x_bits, 1), (p.gap_bits, 2)]
        out = [Const((v >> (8 * i)) & 0xFF, 8) for v, n in fields for i in range(n)]
        return out

    def elaborate(self, platform):
        m = Module()
        p = self.p
        m.submodules.net = net = Network(p.configs, counters=False)
        m.d.comb += net.out.ready.eq(1)  # the last core's events go nowhere (its V is read on its monitor)
        m.submodules.urx = urx = UartRx(p.divisor)
        m.submodules.utx = utx = UartTx(p.divisor)
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=16)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), fifo.w_data.eq(urx.data), fifo.w_en.eq(urx.valid)]
        addr_bits = max(1, (p.records - 1).bit_length())
        m.submodules.buf = buf = Memory(shape=24, depth=p.records, init=[])
        wr, rd = buf.write_port(), buf.read_port()
        m.submodules.runner = run = SampleRunner(net, p.readout, p.spiking, p.n_out, addr_bits)
        m.d.comb += [rd.addr.eq(run.rd_addr), run.rd_data.eq(rd.data)]

        # line idle timer and sticky receive errors
        gap_cycles = p.gap_bits * p.divisor
        idle = Signal(range(gap_cycles + 1))
        with m.If(urx.active | urx.valid):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != gap_cycles):
            m.d.sync += idle.eq(idle + 1)
        line_idle = (idle == gap_cycles) & ~fifo.r_rdy
        ferr, overrun, clear = Signal(), Signal(), Signal()
        with m.If(clear):
            m.d.sync += [ferr.eq(0), overrun.eq(0)]
        with m.If(urx.ferr):
            m.d.sync += ferr.eq(1)
        with m.If(urx.valid & ~fifo.w_rdy):
            m.d.sync += overrun.eq(1)

        err_code, err_detail = Signal(8), Signal(8)
        tx_code, tx_detail = Signal(8), Signal(8)  # the error being sent (a new one may come meanwhile)
        result = ([Cat(run.ovf, Const(0, 7))] + le_bytes(run.cycles, 4) + le_bytes(run.steps, 2)
                  + le_bytes(run.cls, 2))
        for i in range(p.n_out):
            result += le_bytes(getattr(run, f"v{i}"), 4)
        for j in range(len(p.spiking)):
            result += le_bytes(getattr(run, f"spikes{j}"), 4)
        m.submodules.reply = rep = Replier({"RESULT": result, "INFO_REPLY": self._info_payload(),
                                            "ERROR": [tx_code, tx_detail]})
        m.d.comb += [utx.data.eq(rep.tx_data), utx.start.eq(rep.tx_start), rep.tx_ready.eq(utx.ready)]

        byte = fifo.r_data
        crc = Signal(16)
        ftype, length, count = Signal(8), Signal(16), Signal(16)   # count: payload bytes so far
        steps, n_rec, markers = Signal(16), Signal(addr_bits + 1), Signal(16)
        phase, rec = Signal(2), Signal(16)                          # record byte, record so far
        bad_payload, crc_lo = Signal(), Signal(8)
        frame_bytes = Signal(8)
        m.d.comb += [run.steps.eq(steps), run.n_records.eq(n_rec), wr.addr.eq(n_rec[:addr_bits]),
                     wr.data.eq(Cat(rec, byte))]
        take = Signal()  # pop the FIFO's byte this cycle
        m.d.comb += fifo.r_en.eq(take)
        with m.If(take):
            m.d.sync += frame_bytes.eq(frame_bytes + 1)
        lo, hi = -(1 << (p.x_bits - 1)), (1 << (p.x_bits - 1)) - 1
        value = byte.as_signed()

        def fail(code, detail, then):
            m.d.sync += [err_code.eq(ERRORS[code]), err_detail.eq(detail), after_err.eq(then)]
            m.next = "ERR"
        after_err = Signal()  # 1: discard until the line is idle; 0: back to IDLE

        def in_frame(body):
            """A state inside a frame: a byte runs `body`, a silent line is CUT."""
            with m.If(fifo.r_rdy):
                m.d.comb += take.eq(1)
                m.d.sync += crc.eq(crc16_update(crc, byte))
                body()
            with m.Elif(line_idle):
                fail("CUT", frame_bytes, 0)

        with m.FSM(name="parser"):
            with m.State("IDLE"):
                with m.If(overrun):
                    m.d.comb += clear.eq(1)
                    fail("OVERRUN", 0, 1)
                with m.Elif(ferr):
                    m.d.comb += clear.eq(1)
                    fail("FRAMING", 0, 1)
                with m.Elif(fifo.r_rdy):
                    m.d.comb += take.eq(1)
                    m.d.sync += [crc.eq(CRC_INIT), frame_bytes.eq(1)]
                    with m.If(byte == SOF):
                        m.next = "VERSION"
                    with m.Else():
                        fail("STRAY", byte, 1)

            with m.State("VERSION"):
                def version():
                    with m.If(byte != VERSION):
                        fail("VERSION", byte, 1)
                    with m.Else():
                        m.next = "TYPE"
                in_frame(version)
            with m.State("TYPE"):
                def type_():
                    m.d.sync += ftype.eq(byte)
                    with m.If((byte != TYPES["RUN"]) & (byte != TYPES["INFO"])):
                        fail("TYPE", byte, 1)
                    with m.Else():
                        m.next = "LEN0"
                in_frame(type_)
            with m.State("LEN0"):
                def len0():
                    m.d.sync += length[:8].eq(byte)
                    m.next = "LEN1"
                in_frame(len0)
            with m.State("LEN1"):
                def len1():
                    full = Cat(length[:8], byte)
                    m.d.sync += [length[8:].eq(byte), count.eq(0), n_rec.eq(0), markers.eq(0), phase.eq(0),
                                 bad_payload.eq(0)]
                    is_run = ftype == TYPES["RUN"]
                    with m.If(is_run & ((full < 2) | (full > 2 + 3 * p.records))):
                        fail("LENGTH", full[:8], 1)
                    with m.Elif(~is_run & (full != 0)):
                        fail("LENGTH", full[:8], 1)
                    with m.Elif(full == 0):
                        m.next = "CRC0"
                    with m.Else():
                        m.next = "PAYLOAD"
                in_frame(len1)
            with m.State("PAYLOAD"):
                def payload():
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += steps[:8].eq(byte)
                    with m.Elif(count == 1):
                        m.d.sync += steps[8:].eq(byte)
                    with m.Else():
                        with m.Switch(phase):
                            with m.Case(0):
                                m.d.sync += [rec[:8].eq(byte), phase.eq(1)]
                            with m.Case(1):
                                m.d.sync += [rec[8:].eq(byte), phase.eq(2)]
                            with m.Case(2):  # a whole record: check it, store it
                                m.d.sync += [phase.eq(0), n_rec.eq(n_rec + 1)]
                                m.d.comb += wr.en.eq(1)
                                marker = (rec & MARKER) != 0
                                with m.If(marker):
                                    m.d.sync += markers.eq(markers + 1)
                                with m.If(~marker & ((rec >= p.n_src) | (value < lo) | (value > hi))):
                                    m.d.sync += bad_payload.eq(1)
                    with m.If(count + 1 == length):
                        m.next = "CRC0"
                in_frame(payload)
            with m.State("CRC0"):
                def crc0():
                    m.d.sync += crc_lo.eq(byte)
                    m.d.sync += crc.eq(crc)  # the CRC bytes are not part of the CRC
                    m.next = "CRC1"
                in_frame(crc0)
            with m.State("CRC1"):
                def crc1():
                    m.d.sync += crc.eq(crc)
                    with m.If(Cat(crc_lo, byte) != crc):
                        fail("CRC", 0, 0)
                    with m.Elif(phase != 0):
                        fail("LENGTH", length[:8], 0)
                    with m.Elif((ftype == TYPES["RUN"]) & (bad_payload | (steps == 0) | (steps > p.max_steps)
                                                           | (markers > steps))):
                        fail("PAYLOAD", 0, 0)
                    with m.Else():
                        m.next = "EXEC"
                in_frame(crc1)
            with m.State("EXEC"):  # wait until the previous answer has gone out
                with m.If(rep.ready):
                    with m.If(ftype == TYPES["RUN"]):
                        m.d.comb += run.start.eq(1)
                        m.next = "RUN"
                    with m.Else():
                        m.d.comb += [rep.send.eq(1), rep.kind.eq(KINDS["INFO_REPLY"])]
                        m.next = "IDLE"
            with m.State("RUN"):
                with m.If(run.done):
                    m.d.comb += [rep.send.eq(1), rep.kind.eq(KINDS["RESULT"])]
                    m.next = "IDLE"
            with m.State("ERR"):
                with m.If(rep.ready):
                    m.d.comb += [rep.send.eq(1), rep.kind.eq(KINDS["ERROR"])]
                    m.d.sync += [tx_code.eq(err_code), tx_detail.eq(err_detail)]
                    with m.If(after_err):
                        m.next = "DISCARD"
                    with m.Else():
                        m.next = "IDLE"
            with m.State("DISCARD"):
                m.d.comb += [take.eq(fifo.r_rdy), clear.eq(1)]
                with m.If(line_idle):
                    m.next = "IDLE"
        return m
