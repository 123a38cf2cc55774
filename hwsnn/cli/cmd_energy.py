"""`hwsnn energy NET.hwir --target NAME`: exact event counts of a run, priced per target.

The run is golden by default; `--executor lava|rtl` counts from that back end's trace instead
(the counts are equal, the executors being bit-exact; an RTL run adds its cycle count).

Input: `--input FILE.npz` (array `x`, or one array per Source name), else random integers
within each Source's range (analog: the signed x_bits range; rate: 0..T; bits: 0..2^T-1),
batch `--batch` (8), seed 0. Steps: `--steps`, else the graph's meta "steps", else an error.
"""

import json

import numpy as np
import typer
from rich.console import Console

from .. import ir
from ..errors import HwsnnError, SimulationError

DEFAULT_SEED = 0


def default_input(graph, batch, seed=DEFAULT_SEED):
    """Random integer input for every Source (see the module docstring)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.sources:
        node = graph.nodes[name]
        if node.encoding == "rate":
            lo, hi = 0, node.T
        elif node.encoding == "bits":
            lo, hi = 0, 2 ** node.T - 1
        else:
            lo, hi = ir.int_range(node.x_bits)
        out[name] = rng.integers(lo, hi + 1, (batch, *node.shape))
    return out


def read_input(path, graph):
    try:
        data = np.load(path)
    except (OSError, ValueError) as exc:
        raise HwsnnError(f"{path}: cannot read input arrays: {exc}") from None
    if "x" in data and len(graph.sources) == 1:
        return {graph.sources[0]: data["x"]}
    missing = [s for s in graph.sources if s not in data]
    if missing:
        raise HwsnnError(f"{path}: expected an array 'x' or one per source {graph.sources}, "
                         f"not arrays {sorted(data.files)}")
    return {s: data[s] for s in graph.sources}


def console():
    """A rich Console; 160 columns wide when the output is not a terminal (files, README)."""
    import sys
    return Console() if sys.stdout.isatty() else Console(width=160)


def resolve_steps(graph, steps):
    if steps is not None:
        return steps
    if "steps" in graph.meta:
        return int(graph.meta["steps"])
    raise SimulationError(f"graph '{graph.name}' records no 'steps' in its meta: pass --steps")


def execute(graph, x, steps, executor="golden"):
    """Trace of `graph` on `executor`: "golden" (hwsnn.sim, per-step y recorded) or a back end
    of hwsnn.sim.verify.BACKENDS ("lava", "rtl"), whose trace carries the graph it ran."""
    from .. import sim
    if executor == "golden":
        return sim.run(graph, x, steps, record=True)
    import importlib

    from ..errors import BackendUnavailableError
    from ..sim.verify import BACKENDS
    if executor not in BACKENDS:
        raise HwsnnError(f"executor must be 'golden' or one of {sorted(BACKENDS)}, not {executor!r}")
    module, fn = BACKENDS[executor].split(":")
    try:
        run = getattr(importlib.import_module(module), fn)
    except (ImportError, AttributeError) as exc:
        raise BackendUnavailableError(f"executor {executor!r} is not available: {exc}") from None
    return run(graph, x, steps)


def run_energy(graph, target, x, steps, ann_target=None, executor="golden"):
    """Run on `executor` -> (counts, [EnergyReport])."""
    from .. import energy
    trace = execute(graph, x, steps, executor)
    counts = energy.count_events(trace, x, trace.graph if trace.graph is not None else graph)
    reports = [energy.per_sop(counts, target, ann_target)]
    if "memory" in target.models:
        reports.append(energy.memory_aware(counts, target, ann_target))
    return counts, reports


def register(app):
    @app.command("energy")
    def energy_cmd(path: str = typer.Argument(..., help="IR file (.hwir)"),
                   target: str = typer.Option(..., "--target", help="target name or TOML file"),
                   ann_target: str = typer.Option(None, "--ann-target",
                                                  help="target pricing the ANN when --target has no "
                                                       "ANN figure (default horowitz45)"),
                   input_path: str = typer.Option(None, "--input", help=".npz with array 'x'"),
                   steps: int = typer.Option(None, "--steps", help="time steps"),
                   batch: int = typer.Option(8, "--batch", help="samples of the default input"),
                   executor: str = typer.Option("golden", "--executor",
                                                help="golden, or a back end (lava, rtl) to count from"),
                   as_json: bool = typer.Option(False, "--json", help="print JSON"),
                   plot: str = typer.Option(None, "--plot", help="write a stacked bar plot (.png)")):
        """Count events of a golden run exactly and price them with a target's costs."""
        from .. import energy
        from ..mappings.targets import load_target
        graph = ir.load(path)
        tgt = load_target(target)
        ref = load_target(ann_target) if ann_target else None
        steps = resolve_steps(graph, steps)
        if input_path:
            x, origin = read_input(input_path, graph), input_path
        else:
            x, origin = default_input(graph, batch), f"random integers, seed {DEFAULT_SEED}, batch {batch}"
        counts, reports = run_energy(graph, tgt, x, steps, ref, executor)
        if plot:
            energy.plot_energy(reports, plot)
        if as_json:
            print(json.dumps(energy.energy_json(counts, reports, tgt,
                                                {"graph": graph.name, "file": path, "steps": steps,
                                                 "executor": executor,
                                                 "input": origin, "plot": plot}), default=float))
            return
        con = console()
        con.print(energy.energy_table(counts, reports,
                                      f"{graph.name} on {tgt.name}: mean per sample"))
        con.print(f"input: {origin}; {steps} steps, {executor} run, {counts.batch} samples")
        for r in reports:
            con.print(f"[bold]{r.model}[/bold]: SNN {energy.fmt_joules(r.snn)}, "
                      f"ANN {energy.fmt_joules(r.ann)}, SNN/ANN = {r.ratio:.4g}  "
                      f"({'; '.join(r.notes)})")
            if r.unpriced:
                con.print(f"  not priced by {tgt.name}: {', '.join(r.unpriced)}")
        used = {c["key"]: c for r in reports for c in r.constants.values()}
        for c in used.values():
            flag = "" if c["verified"] else "  [yellow](unverified)[/yellow]"
            con.print(f"  {c['target']}.{c['key']} = {energy.fmt_joules(c['J'])} "
                      f"({c['kind']}, {c['basis']}): {c['source']}{flag}")
        if counts.cycles is not None:
            con.print(f"  cycles: {counts.cycles}")
        if tgt.estimate:
            con.print(f"  [yellow]{tgt.name} is an estimate, not a measured chip[/yellow]")
        if plot:
            con.print(f"plot written to {plot}")
