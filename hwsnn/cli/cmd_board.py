"""`hwsnn board build|run`: bitstreams for a board; samples streamed to a board (or to the
simulation of its top, `--port sim`) and every answer compared with the golden run."""

import json
import sys

import typer

from .. import ir

__all__ = ["register"]

board_app = typer.Typer(no_args_is_help=True, help="Boards: bitstreams, and running samples on them.")


@board_app.command("build")
def build_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
              board: str = typer.Option("ulx3s-85f", "--board", help="ulx3s-85f or icebreaker"),
              out: str = typer.Option(..., "-o", "--out", help="output folder"),
              lanes: int = typer.Option(1, "--lanes", help="SOP lanes per core"),
              pack_lanes: bool = typer.Option(False, "--pack-lanes", help="one weight/S memory for all lanes"),
              baud: int = typer.Option(None, "--baud", help="UART baud rate (default: the board's, 115200)"),
              clock_mhz: float = typer.Option(None, "--clock-mhz", help="clock to build at (default: the "
                                              "highest the placed Fmax allows)"),
              as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """yosys + nextpnr + pack: the bitstream, utilization, placed Fmax and the clock chosen."""
    from hwsnn.mappings.rtl._board import build_bitstream
    say = (lambda s: print(s, file=sys.stderr)) if as_json else print
    rep = build_bitstream(ir.load(path), board, out, lanes=lanes, pack_lanes=pack_lanes, baud=baud,
                          clock_mhz=clock_mhz, say=say)
    if as_json:
        print(json.dumps(rep, indent=1))
        return
    c = rep["resources"]["cells"]
    print(f"{rep['bitstream']}: {rep['bitstream_bytes']} bytes; clock {rep['clock_mhz']:.3f} MHz "
          f"(placed Fmax {rep['fmax_mhz']} MHz); LUT {c['LUT']}, FF {c['FF']}, RAM {c['RAM']}, DSP {c['DSP']}; "
          f"UART {rep['baud']} baud")


@board_app.command("run")
def run_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
            port: str = typer.Option(..., "--port", help="serial device (e.g. /dev/ttyUSB0) or 'sim'"),
            inputs: str = typer.Option(..., "--input", help=".npz with the samples (x or one array per Source)"),
            samples: int = typer.Option(None, "--samples", help="only the first N samples"),
            steps: int = typer.Option(None, "--steps", help="time steps (default as in `hwsnn verify`)"),
            board: str = typer.Option("ulx3s-85f", "--board", help="the board (sim: whose clock and baud it simulates)"),
            build_dir: str = typer.Option(None, "--build", help="folder of `hwsnn board build` (its board.json: "
                                          "baud, gap); default: the board's defaults"),
            lanes: int = typer.Option(1, "--lanes", help="sim: SOP lanes per core (as built)"),
            sim: str = typer.Option(None, "--sim", help="sim: verilator (default) or icarus"),
            sim_divisor: int = typer.Option(None, "--sim-divisor", help="sim: clock cycles per UART bit "
                                            "(default: the board's clock / baud, the real bit timing)"),
            gate: str = typer.Option(None, "--gate", help="sim: the post-synthesis netlist (ecp5 or ice40) with "
                                     "yosys's cell models instead of the RTL (gate-level sign-off)"),
            inject: str = typer.Option("", "--inject", help="bad frames to send first, comma-separated: "
                                       "crc,length,version,cut,trailing,noise,type"),
            as_json: bool = typer.Option(False, "--json", help="print JSON")):
    """Send every sample, compare each answer with the golden run; images/s and mismatches."""
    from hwsnn.board import open_port
    from hwsnn.board._run import run_on_board

    from .cmd_verify import default_steps, load_inputs
    graph = ir.load(path)
    x = load_inputs(graph, inputs, samples)
    x = next(iter(x.values()))
    steps = steps or default_steps(graph)
    kinds = tuple(k for k in inject.split(",") if k)
    say = (lambda s: print(s, file=sys.stderr)) if as_json else print
    with open_port(graph, port, board, build_dir, lanes=lanes, sim=sim, sim_divisor=sim_divisor,
                   gate=gate) as link:
        rep = run_on_board(graph, x, steps, link.port, link.gap_bits, inject=kinds, say=say)
        rep.update(link.describe(rep))
    if as_json:
        print(json.dumps({k: v for k, v in rep.items() if k not in ("mismatch_lines",)}, indent=1))
    else:
        print(f"{rep['images']} images, {rep['compared']} compared with golden, {rep['mismatches']} mismatches, "
              f"{rep['errors']} error frames; {rep['images_per_s']:.2f} images/s ({rep['port']})")
        if rep.get("board_images_per_s"):
            print(f"on the board: {rep['cycles_per_image']:.0f} cycles/image at {rep['clock_mhz']:.3f} MHz + "
                  f"{rep['bytes_per_image']:.0f} bytes at {rep['baud']} baud = {rep['board_images_per_s']:.1f} images/s")
    if rep["mismatches"] or rep["errors"] or rep["compared"] != rep["images"]:
        raise typer.Exit(1)


def register(app):
    app.add_typer(board_app, name="board")
