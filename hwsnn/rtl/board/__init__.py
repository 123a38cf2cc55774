"""Board tops: the network behind a UART host link (frame protocol with version, length and
CRC; error frames), PLL clocks, amaranth-boards platforms, bitstreams, gate-level sign-off,
and the simulation of the whole top reached through its UART pins."""

from ._link import BoardLink, LinkParams
from ._protocol import ERRORS, TYPES, VERSION
from ._simlink import SimBoard, board_verilog

__all__ = ["BoardLink", "LinkParams", "SimBoard", "board_verilog", "ERRORS", "TYPES", "VERSION"]
