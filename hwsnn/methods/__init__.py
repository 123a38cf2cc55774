"""Conversion methods of the papers, lowered to the integer IR (see docs/methods.md).

stbif / spikezip (ST-BIF; PET in _pet.py, RCR in _rcr.py), qcfs, sliprelu, dualphase (IF
neurons; calibration in _dualphase.py), ilif (SpikeConverter), calif (Ca-LIF, torch.ao QAT
import in _calif.py). `get(name).lower(T)` gives a method's IR for a budget of T steps.
"""

from ._act import ACTIVATIONS, QCFS, QCNoise, SlipReLU
from ._lower import hidden_layers, to_if, to_ilif
from ._qann import activation_lams, swap_activations, with_levels
from ._ranges import fit_widths, register_bounds
from ._registry import METHODS, Lowered, get

__all__ = ["QCFS", "SlipReLU", "QCNoise", "ACTIVATIONS", "to_if", "to_ilif", "hidden_layers",
           "fit_widths", "register_bounds", "METHODS", "Lowered", "get", "swap_activations",
           "with_levels", "activation_lams"]
