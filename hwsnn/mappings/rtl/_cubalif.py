"""Lowering of a CUBALIF node (Loihi's CUBA LIF, docs/ir-format.md) to a neuron core of kind
"cubalif": the core sums a step's synaptic events in its pending-current memory P and applies
the node's rule (rtl/_cubalif.py) with I = floor(2^w_exp P).

The weight exponent is applied to the summed input, so every synapse path into the node must
carry the same `w_exp`, and a negative one (a floor of each synapse's own sum) only on a node
with a single synapse path: else a one-line MappingError.
"""

import numpy as np

from hwsnn.errors import MappingError
from hwsnn.rtl import CoreConfig

__all__ = ["cubalif_config", "weight_exponent"]


def weight_exponent(graph, name, paths):
    """The one w_exp of the synapse paths (lists of synapse node names) into node `name`."""
    weighted = [p for path in paths for p in path if hasattr(graph.nodes[p], "w_exp")]  # Dense, Conv2d
    exps = sorted({int(graph.nodes[p].w_exp) for p in weighted})
    if len(exps) > 1:
        raise MappingError(f"node '{name}': the RTL core applies one weight exponent to its summed input, "
                           f"but its synapses have w_exp {exps}")
    e = exps[0] if exps else 0
    if e < 0 and len(weighted) > 1:
        raise MappingError(f"node '{name}': w_exp {e} floors each synapse's own sum; the RTL core sums "
                           f"{len(weighted)} synapses first (needs one synapse, or w_exp >= 0)")
    return e


def cubalif_config(graph, name, paths, common):
    """CoreConfig of CUBALIF node `name` (`common`: the fields every core kind shares)."""
    node = graph.nodes[name]
    if common.get("window"):
        raise MappingError(f"node '{name}': a Ca-LIF network's cores must all be CaLIF or Readout, "
                           f"not CUBALIF")
    n = int(np.prod(node.shape))
    mant = np.broadcast_to(np.asarray(node.bias_mant, dtype=np.int64), node.shape).reshape(-1)
    bexp = np.broadcast_to(np.asarray(node.bias_exp, dtype=np.int64), node.shape).reshape(-1)
    return CoreConfig(kind="cubalif", theta=np.full(n, int(node.vth) << 6, dtype=np.int64), v0=0,
                      bias=np.zeros((0, n), np.int64), bias_R=0, s_bits=node.s_bits, s_max=0,
                      du=int(node.du), dv=int(node.dv), w_exp=weight_exponent(graph, name, paths),
                      cbias=mant << bexp, acc_bits=node.v_bits, **common)
