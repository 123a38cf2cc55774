"""The boards a network can go to: amaranth-boards platform, FPGA family, oscillator, the
synthesis target (rtl._synth.TARGETS) whose capacities the fit check uses, default baud rate.
`BoardTop` wraps a BoardLink for one: clock (the oscillator, or a PLL output with a reset held
until the PLL locks) and the UART pins."""

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from hwsnn.errors import MappingError

from ._link import BoardLink
from ._pll import pll_instance

__all__ = ["BOARDS", "Board", "BoardTop", "board"]


@dataclass(frozen=True)
class Board:
    name: str
    family: str
    platform: str        # amaranth_boards module:class
    osc_mhz: float
    target: str          # hwsnn.rtl._synth.TARGETS key (capacities)
    baud: int            # default: safe for the board's USB-serial chip (FT231X / FT2232H)
    nextpnr: tuple       # device / package arguments

    def make_platform(self):
        import importlib
        mod, cls = self.platform.split(":")
        try:
            return getattr(importlib.import_module(mod), cls)()
        except ImportError:
            raise MappingError("board builds need amaranth-boards: pip install 'hwsnn[board]'") from None


BOARDS = {
    "ulx3s-85f": Board("ulx3s-85f", "ecp5", "amaranth_boards.ulx3s:ULX3S_85F_Platform", 25.0, "ecp5-85k",
                       115200, ("--85k", "--package", "CABGA381", "--speed", "6")),
    "icebreaker": Board("icebreaker", "ice40", "amaranth_boards.icebreaker:ICEBreakerPlatform", 12.0,
                        "ice40-up5k", 115200, ("--up5k", "--package", "sg48")),
}


def board(name):
    if name not in BOARDS:
        raise MappingError(f"board must be one of {sorted(BOARDS)}, not {name!r}")
    return BOARDS[name]


class BoardTop(Elaboratable):
    """The link on a board: `pll` a PllSetting or None (run at the oscillator)."""

    def __init__(self, board_spec, params, pll=None):
        self.board, self.params, self.pll = board_spec, params, pll

    def elaborate(self, platform):
        m = Module()
        if self.pll is not None:
            osc = platform.default_clk
            m.domains.sync = cd = ClockDomain("sync")
            locked = Signal()
            if self.board.family == "ice40":  # SB_PLL40_PAD takes the pad itself
                clk_in = platform.request(osc, dir="-").io
            else:
                clk_in = platform.request(osc).i
            m.submodules.pll = pll_instance(self.pll, clk_in, cd.clk, locked)
            m.submodules.rst = ResetSynchronizer(~locked, domain="sync")
        m.submodules.link = link = BoardLink(self.params)
        uart = platform.request("uart", 0)
        m.d.comb += [link.rx.eq(uart.rx.i), uart.tx.o.eq(link.tx)]
        return m
