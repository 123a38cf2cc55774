"""`hwsnn energy NET.hwir --target NAME`: exact event counts of a run, priced per target.

The run is golden by default; `--executor lava|rtl` counts from that back end's trace instead
(the counts are equal, the executors being bit-exact; an RTL run adds its cycle count).

Input: `--input FILE.npz` (array `x`, or one array per Source name), else `--batch` (8)
random integers, seed 0, inside the input range recorded in the IR's meta["input_range"]
(hwsnn.energy.default_input; never outside it). Steps: `--steps`, else
hwsnn.energy.plan_steps: until every sample has settled (capped by `--settle-cap`, reported),
a Ca-LIF window, or the method's meta["steps"] for IF/ILIF neurons. Both are printed.
"""

import json

import numpy as np
import typer
from rich.console import Console

from .. import ir
from ..energy._run import DEFAULT_CAP, DEFAULT_SEED, default_input
from ..errors import HwsnnError

__all__ = ["default_input", "read_input", "execute", "run_energy", "register"]


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


def execute(graph, x, steps, executor="golden", sim=None):
    """Trace of `graph` on `executor`: "golden" (hwsnn.sim, per-step y recorded) or a back end
    of hwsnn.backends.BACKENDS ("lava", "rtl"), whose trace carries the graph it ran."""
    from .. import backends, sim as golden
    if executor == "golden":
        return golden.run(graph, x, steps, record=True)
    from ..errors import BackendUnavailableError
    if executor not in backends.BACKENDS:
        raise HwsnnError(f"executor must be 'golden' or one of {sorted(backends.BACKENDS)}, not {executor!r}")
    try:
        backends.get_backend(executor)
    except (ImportError, AttributeError) as exc:
        raise BackendUnavailableError(f"executor {executor!r} is not available: {exc}") from None
    return backends.run(executor, graph, x, steps, sim=sim)


def _stated(graph, executor):
    """The graph (its edge delays) that `executor` runs: what the settle detection runs."""
    from ..backends import DELAYS, stated_graph
    return stated_graph(executor, graph) if executor in DELAYS else graph


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
                   steps: int = typer.Option(None, "--steps", help="time steps (default: until "
                                             "every sample settles, a Ca-LIF window, or the "
                                             "IR's meta['steps'] for IF/ILIF)"),
                   settle_cap: int = typer.Option(DEFAULT_CAP, "--settle-cap",
                                                  help="most steps the settle detection runs"),
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
        if input_path:
            x, origin = read_input(input_path, graph), input_path
            ir.check_input_range(graph, x)
        else:
            x = default_input(graph, batch)
            ranges = "; ".join(f"{s} {list(energy.input_range(graph, s))}" for s in graph.sources)
            origin = (f"random integers in the IR's meta['input_range'] ({ranges}), seed "
                      f"{DEFAULT_SEED}, batch {batch}")
        plan = energy.plan_steps(_stated(graph, executor), x, steps, settle_cap)
        steps = plan.steps
        counts, reports = run_energy(graph, tgt, x, steps, ref, executor)
        if plot:
            energy.plot_energy(reports, plot)
        if as_json:
            print(json.dumps(energy.energy_json(counts, reports, tgt,
                                                {"graph": graph.name, "file": path, "steps": steps,
                                                 "steps_run": counts.steps, "step_plan": plan.to_dict(),
                                                 "executor": executor,
                                                 "input": origin, "plot": plot}), default=float))
            return
        con = console()
        con.print(energy.energy_table(counts, reports,
                                      f"{graph.name} on {tgt.name}: mean per sample"))
        con.print(f"input: {origin}; {counts.batch} samples")
        run_note = f" ({counts.steps} with the settle phase)" if counts.steps != steps else ""
        con.print(f"steps: {plan.describe()}{run_note}; {executor} run")
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
