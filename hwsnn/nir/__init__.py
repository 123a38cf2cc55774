"""NIR (Neuromorphic Intermediate Representation) import and export: NIR graphs of LIF, CubaLIF
and IF neurons with Affine/Linear/Conv2d/pooling synapses to and from hwsnn's integer IR with
Loihi's CUBA-LIF neuron (docs/nir.md). Files are read with bounded h5py reads (`_h5`)."""

from ._graph import NirGraph, parse_graph
from ._h5 import read_file
from ._export import export_nir, to_nir
from ._import import import_graph, import_nir

__all__ = ["read_file", "parse_graph", "NirGraph", "import_nir", "import_graph", "export_nir",
           "to_nir"]
