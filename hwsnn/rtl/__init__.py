"""Amaranth hardware for the integer IR: neuron datapath, neuron core, network, iLIF pipeline.

Components are `amaranth.lib.wiring.Component`s whose widths come from the IR; `emit` writes
their Verilog; benches in `hwsnn.rtl.sim` check them against the golden simulator.
"""

from ._config import CORE_KINDS, ConvLayout, CoreConfig, default_core
from ._core import NeuronCore, event_layout, monitor_signature
from ._emit import emit_network, emit_verilog, memory_images
from ._ilif import ILIFLayer, ILIFPipeline
from ._network import Network
from ._neuron import KINDS, NeuronUnit

__all__ = ["NeuronUnit", "KINDS", "CoreConfig", "ConvLayout", "CORE_KINDS", "default_core", "NeuronCore", "Network",
           "event_layout", "monitor_signature", "emit_network", "emit_verilog", "memory_images",
           "ILIFLayer", "ILIFPipeline"]
