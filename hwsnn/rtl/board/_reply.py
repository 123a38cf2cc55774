"""Replier: sends one answer frame (RESULT, INFO_REPLY or ERROR) through the UART transmitter,
byte by byte, with its CRC computed as the bytes go out."""

from amaranth.hdl import Array, Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._crc import CRC_INIT, crc16_update
from ._protocol import SOF, TYPES, VERSION

__all__ = ["Replier", "le_bytes"]

KINDS = {"RESULT": 0, "INFO_REPLY": 1, "ERROR": 2}


def le_bytes(value, n):
    """The n little-endian bytes of `value`, sign-extended (signed) or zero-extended to 8n bits."""
    wide = value.as_signed() if value.shape().signed else value.as_unsigned()
    bits = [wide[min(i, len(wide) - 1)] if value.shape().signed else (wide[i] if i < len(wide) else Const(0, 1))
            for i in range(8 * n)]
    return [Cat(*bits[8 * i:8 * i + 8]) for i in range(n)]


class Replier(wiring.Component):
    """`payloads`: {kind: list of 8-bit Values}, the payload bytes of each kind (the caller keeps
    them stable from `send` until `ready` comes back)."""

    def __init__(self, payloads):
        self.payloads = payloads
        super().__init__({"send": In(1), "kind": In(2), "ready": Out(1),
                          "tx_data": Out(8), "tx_start": Out(1), "tx_ready": In(1)})

    def elaborate(self, platform):
        m = Module()
        frames = {}
        for kind, payload in self.payloads.items():
            n = len(payload)
            head = [Const(SOF, 8), Const(VERSION, 8), Const(TYPES[kind], 8), Const(n & 0xFF, 8), Const(n >> 8, 8)]
            frames[kind] = head + list(payload)
        longest = max(len(f) for f in frames.values())
        kind = Signal(2)
        idx = Signal(range(longest + 3), init=longest + 2)  # changes at the first send (Icarus, above)
        crc = Signal(16)
        byte, n_bytes = Signal(8), Signal(range(longest + 1))
        with m.Switch(kind):
            for name, fr in frames.items():
                with m.Case(KINDS[name]):
                    m.d.comb += [byte.eq(Array(Cat(b) for b in fr)[idx] if len(fr) > 1 else fr[0]),
                                 n_bytes.eq(len(fr))]
        m.d.comb += self.tx_data.eq(byte)
        # `ready` from a register, not from the FSM's state decoder: Icarus never evaluates an
        # `always @*` whose inputs have not changed since time 0, and the state stays IDLE
        # until the first answer (its `ready` read X there)
        busy = Signal()
        m.d.comb += self.ready.eq(~busy)
        with m.FSM(name="reply"):
            with m.State("IDLE"):
                with m.If(self.send):
                    m.d.sync += busy.eq(1)
                    m.d.sync += [kind.eq(self.kind), idx.eq(0), crc.eq(CRC_INIT)]
                    m.next = "BODY"
            with m.State("BODY"):
                with m.If(self.tx_ready):
                    m.d.comb += self.tx_start.eq(1)
                    m.d.sync += idx.eq(idx + 1)
                    with m.If(idx != 0):  # the CRC covers everything after SOF
                        m.d.sync += crc.eq(crc16_update(crc, byte))
                    with m.If(idx == n_bytes - 1):
                        m.next = "CRC0_WAIT"
            with m.State("CRC0_WAIT"):  # tx_ready falls the cycle after start
                m.next = "CRC0"
            with m.State("CRC0"):
                m.d.comb += self.tx_data.eq(crc[:8])
                with m.If(self.tx_ready):
                    m.d.comb += self.tx_start.eq(1)
                    m.next = "CRC1_WAIT"
            with m.State("CRC1_WAIT"):
                m.next = "CRC1"
            with m.State("CRC1"):
                m.d.comb += self.tx_data.eq(crc[8:])
                with m.If(self.tx_ready):
                    m.d.comb += self.tx_start.eq(1)
                    m.next = "DONE_WAIT"
            with m.State("DONE_WAIT"):
                m.d.sync += busy.eq(0)
                m.next = "IDLE"
        return m
