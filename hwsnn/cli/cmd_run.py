"""`hwsnn run NET.hwir --input FILE.npz [--steps T]`: run an IR file on integer inputs; without
--steps, until every sample settles (hwsnn.energy.plan_steps, capped by --settle-cap)."""

import json
import os

import numpy as np
import typer

from ..errors import HwsnnError, ShapeError

__all__ = ["load_inputs", "run_graph", "register"]


def load_inputs(path):
    """The integer input array of an .npz (its only array, or key 'x') or .npy file."""
    if not os.path.isfile(path):
        raise ShapeError(f"input file '{path}' does not exist")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ShapeError(f"input file '{path}' is not a readable .npz/.npy file: {exc}") from exc
    if isinstance(data, np.ndarray):
        return data
    keys = list(data.keys())
    if "x" in keys:
        return data["x"]
    if len(keys) != 1:
        raise ShapeError(f"input file '{path}' must hold one array or an array named 'x', not {keys}")
    return data[keys[0]]


def run_graph(graph, x, steps, backend="golden", device=None, sim=None):
    """Trace of `backend` ("golden", "lava", "rtl") on `x` for `steps` steps (finals only for
    golden, which runs on `device`: "cpu" or "cuda[:N]"; `sim`: the RTL simulator)."""
    from .. import backends
    from ..sim import run

    if backend == "golden":
        return run(graph, x, steps, record=False, device=device)
    return backends.run(backend, graph, x, steps, sim=sim)


def register(app):
    @app.command("run")
    def run_cmd(
        path: str = typer.Argument(..., help="IR file (.hwir)"),
        input: str = typer.Option(..., "--input", help=".npz with one integer array (or key 'x')"),
        steps: int = typer.Option(None, "--steps", help="number of time steps (default: until every "
                                  "sample settles, at most --settle-cap; printed)"),
        settle_cap: int = typer.Option(4096, "--settle-cap", help="most steps a run without --steps "
                                       "waits for every sample to settle"),
        backend: str = typer.Option("golden", "--backend", help="golden, lava or rtl"),
        device: str = typer.Option("cpu", "--device", help="golden simulator device: cpu or "
                                   "cuda[:N] (same dtypes, bit-identical results)"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
        simulator: str = typer.Option("auto", "--sim", help="RTL simulator: icarus, verilator, or "
                                      "auto (env SIM, else Verilator when installed, else Icarus)"),
    ):
        """Run an IR file on integer inputs; print predictions, output counts and t_eq."""
        from .. import ir

        if backend not in ("golden", "lava", "rtl"):
            raise HwsnnError(f"--backend must be one of golden, lava, rtl, not {backend!r}")
        graph = ir.load(path)
        x = load_inputs(input)
        ir.check_input_range(graph, x)
        if device != "cpu" and backend != "golden":
            raise HwsnnError(f"--device applies to the golden simulator, not --backend {backend}")
        sim_name = None
        if backend == "rtl":
            from ._sim import pick_simulator
            sim_name = pick_simulator(simulator)
        plan = None
        if steps is None:  # the same step planning as `hwsnn energy`
            from ..backends import DELAYS, stated_graph
            from ..energy import plan_steps
            executor = "golden" if backend == "golden" else backend
            stated = stated_graph(executor, graph) if executor in DELAYS else graph
            plan = plan_steps(stated, x, None, settle_cap)
            steps = plan.steps
            if not as_json:
                print(f"steps: {plan.describe()}")
        trace = run_graph(graph, x, steps, backend, device, sim=sim_name)
        out = trace.output.reshape(trace.batch, -1)
        result = {"backend": backend, "simulator": sim_name, "steps": steps, "predictions": out.argmax(1).tolist(),
                  "output": out.tolist(), "t_eq": np.asarray(trace.t_eq).tolist(),
                  "settled": np.asarray(trace.settled).tolist(),
                  "step_plan": plan.to_dict() if plan is not None else None}
        if as_json:
            print(json.dumps(result))
            return
        for i, (p, o, t, s) in enumerate(zip(result["predictions"], result["output"],
                                             result["t_eq"], result["settled"])):
            print(f"sample {i}: class {p}  output {o}  t_eq {t}{'' if s else ' (not settled)'}")
        if not all(result["settled"]):
            print(f"warning: {result['settled'].count(False)} samples not at equilibrium after "
                  f"{steps} steps")
