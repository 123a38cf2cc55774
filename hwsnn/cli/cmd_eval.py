"""`hwsnn eval NET.hwir --input FILE.npz [--labels y]`: accuracy, steps to equilibrium, spikes
and SOPs of the golden simulator over an input set of any size, read in chunks, optionally
sharded over Ray workers (`--workers N`, `--address auto|HOST:PORT`)."""

import json
import os
import sys

import numpy as np
import typer

from .. import ir
from ..errors import HwsnnError

__all__ = ["register", "open_inputs", "read_labels"]


def open_inputs(graph, path, rows):
    """ArrayChunks over the input array of `path`: the array named after the graph's Source, or
    'x', or the only array (.npy: its array)."""
    from ..cluster import ArrayChunks, npz_names
    if not os.path.isfile(path):
        raise HwsnnError(f"input file '{path}' does not exist")
    if len(graph.sources) != 1:
        raise HwsnnError(f"hwsnn eval takes graphs with one Source, not {graph.sources}")
    if path.endswith(".npy"):
        return ArrayChunks(path, None, rows)
    names = npz_names(path)
    for key in (graph.sources[0], "x"):
        if key in names:
            return ArrayChunks(path, key, rows)
    if len(names) == 1:
        return ArrayChunks(path, names[0], rows)
    raise HwsnnError(f"input file '{path}' must hold an array named {graph.sources[0]!r} or 'x', "
                     f"not {names}")


def read_labels(spec, input_path):
    """`NAME` (an array in the input file) or `FILE.npz:NAME` / `FILE.npy`: (samples,) ints."""
    from ..cluster import ArrayChunks
    path, name = (input_path, spec) if ":" not in spec and not spec.endswith((".npy", ".npz")) \
        else (spec.rsplit(":", 1) if ":" in spec else (spec, None))
    if name is None and path.endswith(".npz"):
        name = "y"
    arr = ArrayChunks(path, name)
    labels = np.concatenate([c for _, c in arr.chunks(1 << 20)]) if len(arr) else np.zeros(0)
    if labels.dtype.kind not in "iu" or labels.ndim != 1:
        raise HwsnnError(f"labels {spec!r} must be a 1-D integer array, not {labels.dtype} "
                         f"{labels.shape}")
    return labels


def register(app):
    @app.command("eval")
    def eval_cmd(
        path: str = typer.Argument(..., help="IR file (.hwir)"),
        input_path: str = typer.Option(..., "--input", help=".npz (or .npy) with the integer inputs, "
                                       "(samples, *shape); read in chunks"),
        labels: str = typer.Option(None, "--labels", help="class labels: an array NAME in the "
                                   "input file, or FILE.npz:NAME, or FILE.npy"),
        steps: int = typer.Option(None, "--steps", help="time steps (default: until every sample "
                                  "has settled, at most --settle-cap; a Ca-LIF window; the IR's "
                                  "meta['steps'] for IF/iLIF networks, which never settle)"),
        settle_cap: int = typer.Option(4096, "--settle-cap", help="most steps a run without "
                                       "--steps may take"),
        chunk: int = typer.Option(1024, "--chunk", help="samples per chunk (one shard of work)"),
        workers: int = typer.Option(None, "--workers", help="shard chunks over N local Ray workers "
                                    "(starts Ray here, stops it at the end)"),
        address: str = typer.Option(None, "--address", help="use an existing Ray cluster: auto or "
                                    "HOST:PORT"),
        device: str = typer.Option("cpu", "--device", help="golden simulator device: cpu or "
                                   "cuda[:N] (same dtypes and bit-identical results)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
    ):
        """Accuracy, steps to equilibrium, spikes and SOPs over an input set of any size."""
        from ..cluster import Pool, evaluate
        if chunk < 1:
            raise HwsnnError(f"--chunk must be >= 1, not {chunk}")
        from ..sim._devices import resolve
        resolve(device)  # a missing GPU is one line here, not an error in every worker
        graph = ir.load(path)
        chunks = open_inputs(graph, input_path, chunk)
        y = read_labels(labels, input_path) if labels else None
        if steps is not None and steps < 1:
            raise HwsnnError(f"--steps must be >= 1, not {steps}")
        progress = not quiet and sys.stderr.isatty()
        with Pool(workers, address, progress=progress, desc="eval") as pool:
            result = evaluate(graph, chunks, steps, pool, labels=y, device=device, cap=settle_cap,
                              check=lambda x: ir.check_input_range(graph, x))
        s = result.summary()
        if as_json:
            print(json.dumps(s))
            return
        acc = "" if s["accuracy"] is None else f", accuracy {s['accuracy']:.4f} ({s['correct']} correct)"
        how = "" if steps is not None else " (until settled)"
        print(f"{s['samples']} samples x {s['steps']} steps{how}{acc}")
        print(f"  steps to equilibrium  max {s['t_eq']['max']}, mean {s['t_eq']['mean']:.2f}; "
              f"settled {s['settled']} of {s['samples']}")
        print(f"  SOPs   {s['sops']['total']:,} ({s['sops']['per_sample']:,.1f} per sample)")
        print(f"  spikes {s['spikes']['total']:,} ({s['spikes']['per_sample']:,.1f} per sample)")
