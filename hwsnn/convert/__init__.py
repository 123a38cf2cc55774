"""Conversion: float nn.Module -> QANN (fused BN, average pools, LSQ Q-ReLU with round half up)
-> ST-BIF SNN description (SpikeZIP: theta = s, v0 = theta/2, S in [0, n])."""

from ._activations import (ACTIVATIONS, QCFS, QCNoise, SlipReLU, activation_lams,
                           swap_activations, with_levels)
from ._finetune import calibrate, constrain, evaluate, finetune
from ._io import load_weights, read_tensors, save_weights
from ._qann import KINDS, QANN, Op
from ._qrelu import QReLU, round_half_up
from ._snn import STBIFNeuron, to_snn
from ._trace import SUPPORTED, convert, fuse_bn, trace

__all__ = ["convert", "trace", "fuse_bn", "SUPPORTED", "QANN", "Op", "KINDS", "QReLU",
           "round_half_up", "calibrate", "constrain", "finetune", "evaluate", "to_snn", "STBIFNeuron",
           "save_weights", "load_weights", "read_tensors", "QCFS", "SlipReLU", "QCNoise", "ACTIVATIONS",
           "swap_activations", "with_levels", "activation_lams"]
