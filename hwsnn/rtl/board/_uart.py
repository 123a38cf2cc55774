"""UART 8N1: receiver and transmitter, `divisor` clock cycles per bit (baud = clock / divisor).

`UartRx`: a two-flop synchroniser on `rx`, a start bit found on a falling edge and checked at
its middle, then 8 data bits (LSB first) and the stop bit, each sampled at its middle. A byte
with its stop bit is a one-cycle `valid` pulse with `data`; without it, a `ferr` pulse and no
byte. `active` is high while the line is low or a byte is under way (the link's idle timer).
`UartTx`: `start` with `data` while `ready` sends start bit, 8 data bits, stop bit.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from hwsnn.errors import MappingError

__all__ = ["UartRx", "UartTx", "check_divisor"]


def check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise MappingError(f"UART divisor (clock cycles per bit) must be an integer >= 4, not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)
    ferr: Out(1)
    active: Out(1)

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        d = self.divisor
        timer = Signal(range(d + 1))
        nbit = Signal(range(10))
        shreg = Signal(8)
        m.d.comb += self.data.eq(shreg)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.active.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):  # a glitch, not a start bit
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), nbit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += self.active.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), shreg.eq(Cat(shreg[1:], rx)), nbit.eq(nbit + 1)]
                    with m.If(nbit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.comb += self.active.eq(1)
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.comb += [self.valid.eq(rx), self.ferr.eq(~rx)]
                    with m.If(rx):
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "BREAK"
            with m.State("BREAK"):  # after a framing error: wait for the line to go high
                m.d.comb += self.active.eq(1)
                with m.If(rx):
                    m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    tx: Out(1, init=1)
    data: In(8)
    start: In(1)
    ready: Out(1)

    def __init__(self, divisor):
        self.divisor = check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        d = self.divisor
        timer = Signal(range(d))
        bits = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += [self.tx.eq(bits[0]), self.ready.eq(left == 0)]
        with m.If(left == 0):
            with m.If(self.start):
                m.d.sync += [bits.eq(Cat(0, self.data, 1)), left.eq(10), timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [bits.eq(Cat(bits[1:], 1)), left.eq(left - 1), timer.eq(d - 1)]
        return m
