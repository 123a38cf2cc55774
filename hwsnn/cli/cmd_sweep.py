"""`hwsnn sweep [digits] --methods ... --steps ...`: accuracy vs time steps of every conversion
method on the digits test set (golden simulator), as a table, JSON and/or a plot.

Each row is one configuration (method, budget T: `hwsnn.study.evaluate`), run in a
plain loop (`sweep`); it records the steps every sample really runs (mean, max) beside T."""

import json
import sys

import typer

from ..errors import HwsnnError

DEFAULT_METHODS = "stbif,qcfs,sliprelu,dualphase,ilif,calif"
DEFAULT_STEPS = "1,2,4,8,16,32,64"


def _ints(text, what):
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HwsnnError(f"--{what} must be comma-separated integers, not {text!r}") from None
    if not vals or min(vals) < 1:
        raise HwsnnError(f"--{what} must list integers >= 1, not {text!r}")
    return vals


def register(app):
    @app.command("sweep")
    def sweep_cmd(net: str = typer.Argument("digits", help="network: only the bundled 'digits' for now"),
                  methods: str = typer.Option(DEFAULT_METHODS, "--methods", help="comma-separated methods"),
                  steps: str = typer.Option(DEFAULT_STEPS, "--steps", help="comma-separated step budgets T"),
                  n_test: int = typer.Option(None, "--n-test", help="first N test images (default all 360)"),
                  as_json: bool = typer.Option(False, "--json", help="print JSON rows"),
                  plot_path: str = typer.Option(None, "--plot", help="write accuracy vs steps run (PNG)"),
                  threads: int = typer.Option(None, "--threads", help="torch threads (default: torch's)"),
                  quiet: bool = typer.Option(False, "--quiet", help="no progress lines"),
                  workers: int = typer.Option(None, "--workers", help="run the configurations on N "
                                              "local Ray workers (starts Ray, stops it at the end)"),
                  address: str = typer.Option(None, "--address", help="run them on an existing Ray "
                                              "cluster: auto or HOST:PORT")):
        """Accuracy, steps run per sample, equilibrium, spikes and SOPs of each method at each T."""
        from ..methods import METHODS
        from ..study import base_models, details_table, plot, references, sweep, table

        if net != "digits":
            raise HwsnnError(f"network must be 'digits' (the bundled model), not {net!r}")
        names = [m.strip() for m in methods.split(",") if m.strip()]
        bad = [m for m in names if m not in METHODS]
        if bad:
            raise HwsnnError(f"--methods must be among {', '.join(METHODS)}, not {', '.join(bad)}")
        Ts = _ints(steps, "steps")
        if threads is not None:
            if threads < 1:
                raise HwsnnError(f"--threads must be >= 1, not {threads}")
            import torch
            torch.set_num_threads(threads)
        show = not quiet and not as_json and sys.stderr.isatty()
        prog = (lambda r: print(f"{r['method']} T={r['T']}: {r['accuracy']}", file=sys.stderr)) if show else None
        if workers is None and address is None:
            rows = sweep(names, Ts, n_test=n_test, progress=prog)
        else:
            from ..cluster import Pool, sweep_sharded
            with Pool(workers, address, progress=False) as pool:
                rows = sweep_sharded(names, Ts, pool, n_test=n_test, progress=prog)
        refs, bases = references(), base_models(names)
        if plot_path:
            plot(rows, plot_path, refs)
        if as_json:
            print(json.dumps({"references": refs, "base_models": bases, "rows": rows}))
            return
        print(table(rows, refs, bases))
        print()
        print(details_table(rows))
        if plot_path:
            print(f"\nplot: {plot_path}")
