"""Lava Processes and their fixed-point PyLoihiProcessModels for the hwsnn IR.

This folder holds ONLY Process / ProcessModel modules: Lava's compiler imports every ``.py``
beside a custom Process when it looks for models, so scripts or tests here would be run.
Import it only after `hwsnn.mappings.lava._compat.install()` (lava-nc 0.10 on Python 3.11).

Every port carries a batch axis first: shape ``(B, *node_shape)``; one Lava run simulates a
whole batch. Lava's own Dense/Conv have no batch axis, deliver one step late whatever the edge
says, keep only even weights when signs are mixed (``(W >> 1) << 1`` with a weight exponent)
and need ``num_message_bits > 0`` for the -1 spikes of ST-BIF/Ca-LIF, so the synapses here
are our own exact integer processes (see synapse.py).
"""

from .common import ABSORB, FIRE, HOLD, WINDOW
from .neurons import CaLIFProcess, IFProcess, ILIFProcess, ReadoutProcess, STBIFProcess
from .pool import MaxPoolProcess
from .record import StateRecorder
from .source import SourceProcess
from .synapse import SynapseProcess

__all__ = ["SourceProcess", "SynapseProcess", "STBIFProcess", "IFProcess", "ILIFProcess",
           "CaLIFProcess", "ReadoutProcess", "MaxPoolProcess", "StateRecorder", "WINDOW", "HOLD",
           "ABSORB", "FIRE"]
