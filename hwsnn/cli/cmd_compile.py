"""`hwsnn compile`: float model + weights -> QANN -> integer IR file, with the per-layer
integerization report."""

import importlib
import json
import sys

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..errors import ConversionError, ShapeError

__all__ = ["load_factory", "parse_ints", "compile_model", "print_report", "register"]


def load_factory(spec):
    """Call `module:factory` and return the nn.Module it makes."""
    from torch import nn

    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConversionError(f"--model must be 'module:factory', not {spec!r}")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConversionError(f"--model {spec!r}: cannot import it ({type(exc).__name__}: {exc})") from exc
    model = factory()
    if not isinstance(model, nn.Module):
        raise ConversionError(f"--model {spec!r} must return a torch.nn.Module, not {type(model).__name__}")
    return model


def parse_ints(text, what, n=None):
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ShapeError(f"{what} must be comma-separated integers, not {text!r}") from None
    if (n is not None and len(vals) != n) or any(v < 0 for v in vals if what == "--input-shape"):
        raise ShapeError(f"{what} must be {n or 'some'} comma-separated integers, not {text!r}")
    return vals


def compile_model(model_spec, weights, input_shape, levels=None, w_bits=8, v_bits=None, delays=0,
                  input_scale=None, input_range=None, calib=None, progress=False):
    """(graph, qann, x_calib, notes): load, convert (calibrate if the file has no QANN), compile."""
    import torch

    from ..compile import compile_qann
    from ..convert import calibrate, convert, load_weights

    model = load_factory(model_spec)
    model, qann, meta = load_weights(model, weights, input_shape, levels)
    notes = []
    if input_range is None:
        input_range = (parse_ints(meta["input_range"], "input_range", 2) if "input_range" in meta
                       else (0, 255))
    if input_scale is None:
        input_scale = float(meta.get("input_scale", 1.0 / max(input_range[1], 1)))
    if calib is None:
        rng = np.random.default_rng(0)
        calib = rng.integers(input_range[0], input_range[1] + 1, (64, *input_shape))
        notes.append(f"no --calib data: report on 64 uniform random inputs in {tuple(input_range)}")
    if qann is None:
        qann = convert(model, input_shape, levels=levels or 8)
        calibrate(qann, torch.as_tensor(calib * input_scale, dtype=torch.float32))
        notes.append(f"{weights} holds no fine-tuned QANN: Q-ReLU steps calibrated (99.9th "
                     f"percentile), not fine-tuned")
    graph = compile_qann(qann, input_scale=input_scale, input_range=input_range, w_bits=w_bits,
                         v_bits=v_bits, delays=delays)
    return graph, qann, calib, notes


def print_report(rows, console):
    """Table of the integerization report: |float - integer| pre-activation in units of the
    layer's Q-ReLU step (readout: logits), for the layer alone ("own") and end to end."""
    table = Table(title="integerization error: |float QANN - integer IR| pre-activation, in units "
                        "of the layer's step s (readout: logits)")
    for col in ("layer", "kind", "theta", "w_bits", "v_bits", "max|W_int|", "own max", "own mean",
                "own levels≠", "e2e max", "e2e mean", "e2e levels≠"):
        table.add_column(col)
    for r in rows:
        cells = []
        for view in ("own", "propagated"):
            v = r[view]
            cells += [f"{v['max_abs_diff']:.3g}", f"{v['mean_abs_diff']:.3g}",
                      f"{100 * v['level_mismatch']:.2f}%"]
        table.add_row(r["layer"], r["kind"], str(r["theta"] if r["theta"] is not None else "-"),
                      str(r["w_bits"]), str(r["v_bits"]), str(r["max_abs_w_int"]), *cells)
    console.print(table)
    console.print("own: the layer fed with the float QANN's input levels; e2e: the integer network "
                  "end to end; levels≠: share of activations (readout: of argmax) that differ",
                  highlight=False)


def register(app):
    @app.command("compile")
    def compile_cmd(
        model: str = typer.Option(..., "--model", help="module:factory returning the float nn.Module"),
        weights: str = typer.Option(..., "--weights", help=".safetensors, or .pt (torch.load weights_only)"),
        input_shape: str = typer.Option(..., "--input-shape", help="C,H,W (or N for dense input)"),
        output: str = typer.Option(..., "-o", "--output", help="IR file to write (.hwir)"),
        levels: int = typer.Option(None, "--levels", help="Q-ReLU levels n (default: from the file, else 8)"),
        w_bits: int = typer.Option(8, "--w-bits", help="signed weight width"),
        v_bits: int = typer.Option(None, "--v-bits", help="fixed membrane width (default: from range analysis)"),
        delays: int = typer.Option(0, "--delays", help="edge delay, 0 or 1"),
        input_scale: float = typer.Option(None, "--input-scale", help="float input = scale * integer q"),
        input_range: str = typer.Option(None, "--input-range", help="lo,hi of the integer input q"),
        calib: str = typer.Option(None, "--calib", help=".npz of integer inputs (calibration, report)"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ):
        """Compile a PyTorch model to an integer spiking IR file and report integerization error."""
        from .. import ir
        from ..compile import integerization_report
        from .cmd_run import load_inputs

        shape = parse_ints(input_shape, "--input-shape")
        rng = parse_ints(input_range, "--input-range", 2) if input_range else None
        x = load_inputs(calib) if calib else None
        graph, qann, x, notes = compile_model(model, weights, shape, levels, w_bits, v_bits, delays,
                                              input_scale, rng, x)
        rows = integerization_report(qann, graph, x)
        ir.save(graph, output)
        if as_json:
            print(json.dumps({"output": output, "notes": notes, "layers": rows}))
            return
        console = Console(width=None if sys.stdout.isatty() else 160)
        for n in notes:
            console.print(f"note: {n}")
        print_report(rows, console)
        console.print(f"wrote {output} ({len(graph.nodes)} nodes, levels {qann.levels}, "
                      f"w_bits {w_bits})")
