"""Compiler: QANN -> integer IR through a linear list of named passes (see _pipeline.py),
static range analysis, and the per-layer integerization report."""

from ._integerize import choose_theta
from ._neuron_passes import hidden_layers, model_neurons, to_if, to_ilif
from ._pipeline import PASSES, compile_qann, lower
from ._ranges import bounds, fit_widths, register_bounds
from ._report import integerization_report, qann_levels
from ._state import Options

__all__ = ["compile_qann", "lower", "PASSES", "Options", "bounds", "fit_widths",
           "register_bounds", "choose_theta",
           "integerization_report", "qann_levels", "to_if", "to_ilif", "hidden_layers", "model_neurons"]
