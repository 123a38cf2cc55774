"""`hwsnn compile`: float model + weights -> QANN -> integer IR file, with the per-layer
integerization report."""

import json
import sys

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from ..errors import CompileError, ShapeError

__all__ = ["load_factory", "parse_ints", "input_quantization", "compile_model", "print_report",
           "register"]

INPUT_HELP = ("--input-scale S and --input-range LO,HI say how the float input the model was "
              "trained on is quantized: float input = S * q for integers q in LO..HI (the digits "
              "images: --input-scale 0.0625 --input-range 0,16)")


def input_quantization(input_scale, input_range, meta=None):
    """(scale, (lo, hi)) from the required flags; never guessed. A weights file that records
    other values gives a note (returned as text, or None)."""
    if input_scale is None or input_range is None:
        missing = " and ".join(f for f, v in (("--input-scale", input_scale),
                                               ("--input-range", input_range)) if v is None)
        raise CompileError(f"{missing} required: {INPUT_HELP}")
    if not input_scale > 0:
        raise CompileError(f"--input-scale must be a positive number, not {input_scale!r}")
    lo, hi = input_range
    if lo > hi:
        raise CompileError(f"--input-range must be LO,HI with LO <= HI, not {lo},{hi}")
    meta = meta or {}
    rec = (meta.get("input_scale"), meta.get("input_range"))
    if rec[0] is not None and (float(rec[0]) != input_scale or rec[1] != f"{lo},{hi}"):
        return (f"the weights file records --input-scale {rec[0]} --input-range {rec[1]}, "
                f"compiled with {input_scale:g} and {lo},{hi} as given")
    return None


def load_factory(spec, model_args=None):
    """The nn.Module made by `spec` ('file.py:factory' or 'module:factory', see _model.py)."""
    from ._model import load_model

    return load_model(spec, model_args)


def parse_ints(text, what, n=None):
    try:
        vals = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise ShapeError(f"{what} must be comma-separated integers, not {text!r}") from None
    if (n is not None and len(vals) != n) or any(v < 0 for v in vals if what == "--input-shape"):
        raise ShapeError(f"{what} must be {n or 'some'} comma-separated integers, not {text!r}")
    return vals


def compile_model(model_spec, weights, input_shape, levels=None, w_bits=8, v_bits=None, delays=0,
                  input_scale=None, input_range=None, calib=None, progress=False, name=None,
                  model_args=None, pool="max"):
    """(graph, qann, x_calib, notes): load, convert (calibrate if the file has no QANN), compile.
    input_scale and input_range are required (CompileError naming both otherwise)."""
    import torch

    from ..compile import compile_qann
    from ..convert import calibrate, convert, load_weights

    input_quantization(input_scale, input_range)
    model = load_factory(model_spec, model_args)
    if weights is None:  # the factory's own parameters (an untrained or self-loading model)
        qann, meta = None, {}
        notes = ["no --weights: the model's parameters as its factory made them"]
    else:
        model, qann, meta = load_weights(model, weights, input_shape, levels)
        note = input_quantization(input_scale, input_range, meta)
        notes = [note] if note else []
    if calib is not None and np.asarray(calib).size and (calib.min() < input_range[0]
                                                        or calib.max() > input_range[1]):
        raise CompileError(f"--calib values lie in [{calib.min()}, {calib.max()}], outside "
                           f"--input-range {input_range[0]},{input_range[1]}")
    if calib is None:
        rng = np.random.default_rng(0)
        calib = rng.integers(input_range[0], input_range[1] + 1, (64, *input_shape))
        notes.append(f"no --calib data: report on 64 uniform random inputs in {tuple(input_range)}")
    if qann is None:
        qann = convert(model, input_shape, levels=levels or 8, pool=pool)
        calibrate(qann, torch.as_tensor(calib * input_scale, dtype=torch.float32))
        notes.append(f"{weights or 'the model'} holds no fine-tuned QANN: Q-ReLU steps calibrated "
                     f"(99.9th percentile), not fine-tuned")
    graph = compile_qann(qann, input_scale=input_scale, input_range=input_range, w_bits=w_bits,
                         v_bits=v_bits, delays=delays, name=name)
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
        model: str = typer.Option(..., "--model", help="file.py:factory or module:factory returning the "
                                                       "float nn.Module (the current folder first)"),
        model_args: str = typer.Option(None, "--model-args", help="factory keyword arguments: JSON "
                                                                  "object or k=v,k=v (num_classes=10)"),
        weights: str = typer.Option(None, "--weights", help=".safetensors, or .pt (torch.load "
                                                            "weights_only); default: the factory's own"),
        input_shape: str = typer.Option(..., "--input-shape", help="C,H,W (or N for dense input)"),
        output: str = typer.Option(..., "-o", "--output", help="IR file to write (.hwir)"),
        levels: int = typer.Option(None, "--levels", help="Q-ReLU levels n (default: from the file, else 8)"),
        w_bits: int = typer.Option(8, "--w-bits", help="signed weight width"),
        v_bits: int = typer.Option(None, "--v-bits", help="fixed membrane width (default: from range analysis)"),
        delays: int = typer.Option(0, "--delays", help="edge delay, 0 or 1"),
        input_scale: float = typer.Option(None, "--input-scale",
                                          help="required: float input = scale * integer q (digits: 0.0625)"),
        input_range: str = typer.Option(None, "--input-range",
                                        help="required: lo,hi of the integer input q (digits: 0,16)"),
        name: str = typer.Option(None, "--name", help="IR graph name (default: the model's class name)"),
        calib: str = typer.Option(None, "--calib", help=".npz of integer inputs (calibration, report)"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
        pool: str = typer.Option("max", "--pool", help="max: max pools stay exact max pools (IR "
                                 "MaxPool2d); avg: they become average pools (the papers' swap). A "
                                 "weights file holding a fine-tuned QANN keeps the pooling it was trained with"),
    ):
        """Compile a PyTorch model to an integer spiking IR file and report integerization error."""
        from .. import ir
        from ..compile import integerization_report
        from ..sim import count
        from .cmd_run import load_inputs

        shape = parse_ints(input_shape, "--input-shape")
        rng = parse_ints(input_range, "--input-range", 2) if input_range else None
        x = load_inputs(calib) if calib else None
        input_quantization(input_scale, rng)
        graph, qann, x, notes = compile_model(model, weights, shape, levels, w_bits, v_bits, delays,
                                              input_scale, rng, x, name=name, model_args=model_args,
                                              pool=pool)
        rows = integerization_report(qann, graph, x, count(graph, x))
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
