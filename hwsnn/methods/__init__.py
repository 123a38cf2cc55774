"""Conversion methods of the papers, lowered to the integer IR (see docs/methods.md).

stbif (SpikeZIP), qcfs, sliprelu, dualphase (IF neurons), ilif (SpikeConverter),
calif (Ca-LIF, torch.ao QAT import).
"""

from ._act import ACTIVATIONS, QCFS, QCNoise, SlipReLU
from ._lower import hidden_layers, to_if, to_ilif
from ._ranges import fit_widths, register_bounds
from ._registry import METHODS, Lowered, get

__all__ = ["QCFS", "SlipReLU", "QCNoise", "ACTIVATIONS", "to_if", "to_ilif", "hidden_layers",
           "fit_widths", "register_bounds", "METHODS", "Lowered", "get"]
