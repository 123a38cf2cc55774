"""`hwsnn` command line: one module per command, each a thin call into the library.

Known errors (HwsnnError) print one line and exit 1; HWSNN_DEBUG=1 shows the traceback.
"""

import importlib
import os
import sys

import typer

from ..errors import HwsnnError

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="hwsnn: PyTorch ANN -> exact integer SNN -> golden sim, Lava, RTL, energy.")


@app.callback()
def _root():
    """hwsnn: PyTorch ANN -> exact integer SNN -> golden simulator, Lava, RTL, energy."""

# Each module defines register(app). Add a command by adding its module here.
COMMANDS = ["demo", "compile", "run", "inspect", "verify", "eval", "rtl", "energy", "map", "sweep",
            "nir", "board"]


def _register():
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"hwsnn.cli.cmd_{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"hwsnn.cli.cmd_{name}":
                continue  # command not built yet
            raise
        module.register(app)


_register()


def main(argv=None):
    """Entry point: click handles usage errors (exit 2); HwsnnError becomes one line, exit 1."""
    try:
        app(args=argv)
    except HwsnnError as exc:
        if os.environ.get("HWSNN_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
