"""The RTL simulator a command runs: the one place the CLI reads env SIM."""

import os

__all__ = ["pick_simulator"]


def pick_simulator(option="auto"):
    """`--sim` when given, else env SIM, else what the Python API picks (Verilator when
    installed, else Icarus)."""
    from ..rtl.sim import default_sim
    choice = option if option not in (None, "auto") else os.environ.get("SIM")
    return default_sim(choice)
