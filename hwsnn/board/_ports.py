"""`open_port`: the link to a board (pyserial) or to the simulation of its top (`sim`), with the
settings the host needs (gap, clock and baud for the computed board figures)."""

import json
from pathlib import Path

from hwsnn.errors import BackendError

from ._host import SerialPort

__all__ = ["open_port", "Link"]


class Link:
    def __init__(self, port, gap_bits, clock_mhz, baud, name):
        self.port, self.gap_bits, self.clock_mhz, self.baud, self.name = port, gap_bits, clock_mhz, baud, name

    def describe(self, rep):
        """The port, and images/s computed for the board: cycles at its clock plus the link time
        of both frames (10 bits per byte)."""
        out = {"port": self.name, "clock_mhz": self.clock_mhz, "baud": self.baud}
        if rep.get("cycles_per_image"):
            compute = rep["cycles_per_image"] / (self.clock_mhz * 1e6)
            link = rep["bytes_per_image"] * 10 / self.baud
            out.update(board_compute_s=compute, board_link_s=link, board_images_per_s=1 / (compute + link))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.port.close()


def _settings(board_name, build_dir):
    from hwsnn.rtl.board._boards import board
    from hwsnn.mappings.rtl._board import GUESS_MHZ
    b = board(board_name)
    if build_dir:
        path = Path(build_dir) / "board.json"
        try:
            rep = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BackendError(f"board build report '{path}' cannot be read: {exc}") from None
        return rep["clock_mhz"], rep["baud"], rep["gap_bits"], rep.get("lanes", 1)
    clock, baud = GUESS_MHZ[board_name], b.baud
    return clock, baud, max(32, int(baud * 0.02)), None


def open_port(graph, port, board_name="ulx3s-85f", build_dir=None, lanes=1, sim=None, sim_divisor=None, gate=None):
    clock, baud, gap_bits, built_lanes = _settings(board_name, build_dir)
    if gate and port != "sim":
        raise BackendError("--gate simulates a netlist: it needs --port sim")
    if port != "sim":
        return Link(SerialPort(port, baud), gap_bits, clock, baud, f"serial {port} at {baud} baud")
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl.board import LinkParams, SimBoard, board_verilog
    from hwsnn.mappings.rtl._board import design_id
    sim = sim or "verilator"
    divisor = int(sim_divisor or round(clock * 1e6 / baud))
    params = LinkParams(lower(graph, lanes=built_lanes or lanes), divisor, gap_bits=gap_bits, design_id=design_id(graph))
    if gate:
        from hwsnn.rtl.board._gate import GateBoard
        board = GateBoard(params, gate, sim=sim)
        return Link(board, gap_bits, clock, baud, f"gate-level {gate} netlist ({sim}, {divisor} clock cycles per UART bit)")
    board = SimBoard({"hwsnn_board.v": board_verilog(params)}, divisor, sim=sim)
    return Link(board, gap_bits, clock, baud, f"sim ({sim}, {divisor} clock cycles per UART bit)")
