"""The integer IR: node types, graph, verification, file format."""

from ._bits import bits_for, dtype_for, fits, int_range
from ._format import FORMAT, VERSION, from_dict, load, save, to_dict
from ._graph import Edge, Graph
from ._inputs import check_input_range, input_range, random_inputs
from ._nodes import (ENCODINGS, IF, ILIF, NEURONS, NODE_TYPES, STBIF, SYNAPSES, CaLIF, Conv2d,
                     Dense, Flatten, MaxPool2d, Node, Readout, Scale, Source, SumPool2d, pool_out_shape)
from ._loihi import loihi_weight_bits, loihi_weight_error, loihi_weights
from ._nodes import CUBALIF
from ._verify import out_shape, verify
from ._schedule import Schedule, output_bound, source_bound, source_length
from ._trace import Trace
from ._connect import Chain, ann_ops, chains, stage_matrix

__all__ = [
    "Node", "Source", "Dense", "Conv2d", "SumPool2d", "Scale", "Flatten", "STBIF", "IF", "ILIF",
    "CaLIF", "MaxPool2d", "pool_out_shape", "Readout", "NODE_TYPES", "SYNAPSES", "NEURONS", "ENCODINGS", "Edge", "Graph",
    "verify", "out_shape", "save", "load", "to_dict", "from_dict", "FORMAT", "VERSION",
    "int_range", "fits", "bits_for", "dtype_for", "check_input_range", "input_range", "random_inputs",
    "Schedule", "source_length", "source_bound", "output_bound", "Trace",
    "Chain", "chains", "stage_matrix", "ann_ops",
    "CUBALIF", "loihi_weights", "loihi_weight_error", "loihi_weight_bits",
]
