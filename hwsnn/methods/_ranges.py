"""Register widths for graphs with any neuron type: the compiler's one range analysis
(`hwsnn.compile._ranges`, rules in its docstring), re-exported for the methods."""

from ..compile._ranges import fit_widths, register_bounds

__all__ = ["fit_widths", "register_bounds"]
