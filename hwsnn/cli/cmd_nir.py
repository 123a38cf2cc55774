"""`hwsnn import-nir NET.nir -o NET.hwir` and `hwsnn export-nir NET.hwir -o NET.nir`: NIR graphs
(snnTorch, Norse, Sinabs, ...) to and from the integer IR with Loihi's CUBA-LIF (docs/nir.md)."""

import json
import sys

import typer

from ..errors import NIRError

__all__ = ["register", "print_report"]


def print_report(rows, console):
    """Per-layer quantization table: errors in units of the layer's float threshold."""
    from rich.table import Table

    table = Table(title="Loihi quantization: |float - integer| per layer (weights and bias in "
                        "units of the layer's threshold; decays as fractions of one step)")
    for col in ("layer", "kind", "du", "dv", "vth", "w_exp", "max|W_int|", "W err max",
                "W err mean", "vth err", "dv err", "du err", "bias err max"):
        table.add_column(col)
    for r in rows:
        if r["kind"] == "Readout":
            table.add_row(r["layer"], "Readout", *["-"] * 11)
            continue
        table.add_row(r["layer"], r["kind"], str(r["du"]), str(r["dv"]), str(r["vth"]),
                      str(r["w_exp"]), str(r["max_abs_w_int"]),
                      *(f"{r[k]:.3g}" for k in ("w_err_max", "w_err_mean", "vth_err", "dv_err",
                                                "du_err", "bias_err_max")))
    console.print(table)


def _input_range(text):
    if text is None:
        return None
    try:
        lo, hi = (int(v) for v in text.split(","))
    except ValueError:
        raise NIRError(f"--input-range must be LO,HI integers, not {text!r}") from None
    if lo > hi:
        raise NIRError(f"--input-range must have LO <= HI, not {text!r}")
    return lo, hi


def register(app):
    @app.command("import-nir")
    def import_cmd(
        path: str = typer.Argument(..., help="NIR file (.nir, HDF5)"),
        output: str = typer.Option(..., "-o", "--output", help="IR file to write (.hwir)"),
        dt: float = typer.Option(None, "--dt", help="time step in seconds of NIR's equations "
                                 "(needed for LIF, CubaLIF, IF; snnTorch exports: 1e-4)"),
        w_bits: int = typer.Option(8, "--w-bits", help="Loihi weight bits (1..8)"),
        encoding: str = typer.Option("rate", "--encoding", help="input Source encoding: rate "
                                     "(q in 0..T as evenly spaced spikes), bits, or analog"),
        T: int = typer.Option(16, "--T", help="input window in steps (rate, bits)"),
        input_range: str = typer.Option(None, "--input-range", help="LO,HI of the integer input "
                                        "(default: 0,T for rate)"),
        name: str = typer.Option(None, "--name", help="IR graph name (default: the file's stem)"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ):
        """Import a NIR graph as an integer IR file with Loihi's CUBA-LIF neurons."""
        import os

        from rich.console import Console

        from .. import ir
        from ..nir import import_nir

        if encoding not in ("rate", "bits", "analog"):
            raise NIRError(f"--encoding must be rate, bits or analog, not {encoding!r}")
        stem = os.path.splitext(os.path.basename(path))[0]
        graph, rows = import_nir(path, dt=dt, w_bits=w_bits, encoding=encoding, T=T,
                                 input_range=_input_range(input_range), name=name or stem)
        ir.save(graph, output)
        if as_json:
            print(json.dumps({"output": output, "steps": graph.meta["steps"], "layers": rows},
                             default=float))
            return
        console = Console(width=None if sys.stdout.isatty() else 160)
        print_report(rows, console)
        console.print(f"wrote {output} ({len(graph.nodes)} nodes, {graph.meta['steps']} steps, "
                      f"w_bits {w_bits}, dt {dt:g})", highlight=False)

    @app.command("export-nir")
    def export_cmd(
        path: str = typer.Argument(..., help="IR file (.hwir)"),
        output: str = typer.Option(..., "-o", "--output", help="NIR file to write (.nir)"),
        dt: float = typer.Option(None, "--dt", help="time step in seconds for NIR's tau "
                                 "(default: the IR's meta['dt'], set by import-nir)"),
    ):
        """Export an IR of CUBA-LIF layers as a NIR graph (refuses what NIR cannot express)."""
        from .. import ir
        from ..nir import export_nir

        graph = ir.load(path)
        dt = dt if dt is not None else graph.meta.get("dt")
        if dt is None:
            raise NIRError(f"'{path}' records no dt: give --dt (seconds per step)")
        export_nir(graph, output, float(dt))
        print(f"wrote {output} ({len(graph.nodes)} IR nodes, dt {float(dt):g})")
