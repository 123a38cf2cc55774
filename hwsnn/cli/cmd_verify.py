"""`hwsnn verify NET.hwir --backends lava[,rtl]`: run golden and back ends, compare every step.

Compares V, S, y of every neuron node (U too for CUBALIF, V of readouts) at every step, at
atol = 0, and the state memories read back after the last step (RTL), through
`hwsnn.backends.verify`: integers as they are (no cast), only the values the back end read from its state, on the graph it was
given (a back end reporting another graph, other than in its documented delays, is an error);
the golden run uses those documented delays. For RTL, the simulator (`--sim`: Verilator when
installed, else Icarus) and each core's layout (shared-kernel or dense) are printed too. Exit 0 when every back end matches, 1 at the first difference (printed)
or when nothing was compared, as with any error.
"""

import json
import sys

import numpy as np
import typer

from .. import ir
from ..errors import HwsnnError

__all__ = ["default_inputs", "default_steps", "load_inputs", "verify_file", "DEFAULT_SEED"]

DEFAULT_SEED = 0
DEFAULT_SAMPLES = 8


def default_inputs(graph, samples, seed=DEFAULT_SEED):
    """{source: (samples, *shape) int64}: random integers every Source accepts, fixed seed, in
    the IR's meta["input_range"] when set, else the Source's whole range (`hwsnn.ir.random_inputs`)."""
    return ir.random_inputs(graph, samples, seed, required=False)


def default_steps(graph):
    """The IR's meta["steps"] if set; the window T of a Ca-LIF network; else long enough for
    every input, bias and iLIF window to end plus two steps per neuron layer (one delay each)."""
    if "steps" in graph.meta:
        return int(graph.meta["steps"])
    schedule = ir.Schedule(graph)
    if schedule.calif_T:
        return next(iter(schedule.calif_T))
    return schedule.ends() + 2 * len(graph.neurons) + 2


def load_inputs(graph, path, samples=None):
    """Inputs from an .npz: one array per Source name, or `x` for a single Source."""
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise HwsnnError(f"input file '{path}' cannot be read as .npz: {exc}") from None
    out = {}
    for name in graph.sources:
        key = name if name in data.files else ("x" if len(graph.sources) == 1 and "x" in data.files
                                               else None)
        if key is None:
            raise HwsnnError(f"input file '{path}' must hold an array named {name!r}"
                             f"{' or x' if len(graph.sources) == 1 else ''}, not {data.files}")
        out[name] = data[key][:samples] if samples else data[key]
    return out


def verify_file(graph, backends, x, steps, workers=None, address=None, progress=False, sim=None):
    """{backend: Comparison} (see hwsnn.backends.verify); with `workers` or `address` the samples
    are sharded over Ray workers and the results merged exactly (hwsnn.cluster)."""
    if workers is None and address is None:
        from ..backends import verify
        return verify(graph, x, steps, backends=backends, sim=sim)
    from ..cluster import Pool, verify_sharded
    with Pool(workers, address, progress=progress, desc="verify") as pool:
        return verify_sharded(graph, x, steps, backends, pool, sim=sim)


def register(app):
    @app.command("verify")
    def verify_cmd(
        path: str = typer.Argument(..., help="IR file (.hwir)"),
        backends: str = typer.Option("lava", "--backends", help="comma-separated: lava, rtl"),
        samples: int = typer.Option(None, "--samples",
                                    help=f"samples to run (default: all of --input, else "
                                         f"{DEFAULT_SAMPLES} random ones)"),
        steps: int = typer.Option(None, "--steps", help="time steps (default: the IR's "
                                  "meta['steps'], a Ca-LIF window T, or inputs+biases+2 per layer)"),
        input_path: str = typer.Option(None, "--input", help=".npz with one array per Source (or "
                                       "'x'); default: random integers in the IR's "
                                       "meta['input_range'] if set, else within each Source's "
                                       f"x_bits (rate 0..T, bits 0..2^T-1), numpy seed {DEFAULT_SEED}"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        workers: int = typer.Option(None, "--workers", help="shard the samples over N local Ray "
                                    "workers (starts Ray here, stops it at the end)"),
        address: str = typer.Option(None, "--address", help="shard over an existing Ray cluster: "
                                    "auto or HOST:PORT"),
        simulator: str = typer.Option("auto", "--sim", help="RTL simulator: icarus, verilator, or "
                                      "auto (env SIM, else Verilator when installed, else Icarus)"),
    ):
        """Compare back ends with the golden simulator on V, S, y of every node at every step."""
        graph = ir.load(path)
        names = [b.strip() for b in backends.split(",") if b.strip()]
        if not names:
            raise HwsnnError("--backends must name at least one back end, e.g. lava")
        if samples is not None and samples < 1:
            raise HwsnnError(f"--samples must be >= 1, not {samples}")
        if input_path:
            x = load_inputs(graph, input_path, samples)
            ir.check_input_range(graph, x)
        else:
            x = default_inputs(graph, samples or DEFAULT_SAMPLES)
        steps = steps or default_steps(graph)
        sim_name = None
        if "rtl" in names:
            from ._sim import pick_simulator
            sim_name = pick_simulator(simulator)
            if not as_json:
                print(f"rtl: simulator {sim_name}", flush=True)
        results = verify_file(graph, names, x, steps, workers, address,
                              progress=not as_json and sys.stderr.isatty(), sim=sim_name)
        if as_json:
            print(json.dumps({"steps": steps, "samples": int(next(iter(x.values())).shape[0]),
                              "simulator": sim_name,
                              "backends": {n: c.to_dict() for n, c in results.items()}}))
        else:
            for name, c in results.items():
                if c.layouts is not None:
                    print(f"{name}: core layouts " + ", ".join(f"{n} {lay}" for n, lay in c.layouts.items()))
                if c.ok:
                    print(f"{name}: {c.compared_values} values compared over {c.steps} steps, 0 mismatches")
                elif c.compared_values == 0:
                    print(f"{name}: no values compared (the back end read none back)")
                else:
                    print(f"{name}: {c.mismatches} of {c.compared_values} values differ; "
                          f"first: {c.first}")
        if not all(c.ok for c in results.values()):
            raise typer.Exit(1)
