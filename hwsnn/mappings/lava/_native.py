"""Loihi-native lowering: CUBALIF layers and Dense/Conv2d synapses onto Lava's OWN library
processes, `lava.proc.lif.process.LIF` (bit-accurate model `PyLifModelBitAcc`),
`lava.proc.dense.process.Dense` (`PyDenseModelBitAcc`) and `lava.proc.conv.process.Conv`
(`PyConvModelFixed`), run under `Loihi2SimCfg(select_tag="fixed_pt")`. No hwsnn process model
computes a CUBALIF, Dense or Conv2d: the input comes from Lava's `RingBuffer`; u, v (RefPorts
on the LIF's Vars) and spikes are read by `procs.StateRecorder`, a sink that only writes them
to a file. Only a Readout (with a Scale in front of it) is computed by an hwsnn process
(`procs.ReadoutProcess`, `procs.SynapseProcess`): Loihi reads its outputs on the host.

Batch: Lava's processes have no batch axis, so sample b is copy b of the network inside one
set of processes. A 1-D layer of N neurons is a LIF of shape (B*N,) (index b*N + n); a (C, H, W)
layer a LIF of shape (W, H, B*C) (Lava's XYC order, channel b*C + c); a Dense gets the
block-diagonal weights of the B copies, a Conv B*groups groups. Block and group structure keep
the sign mode of W, so Lava's weight rules act on W as on one copy.

`native_reason(graph)` says why a graph is not Loihi-native (None when it is).
"""

import numpy as np

from hwsnn.ir import (CUBALIF, Conv2d, Dense, Flatten, Readout, Scale, Source, loihi_weight_error,
                      verify)

__all__ = ["native_reason", "is_native", "run_native"]

I_LIMIT = 1 << 23   # Lava's Conv wraps at 24 bits (and sums in float32: exact below 2^24)


def _bound(graph, name, node):
    """Largest |sum| of synapse `name` (before its weight exponent) for its input's range."""
    src = graph.nodes[_spiking_input(graph, name)]
    x = (1 << (src.x_bits - 1)) if isinstance(src, Source) and src.encoding == "analog" else 1
    W = np.abs(node.W.astype(np.int64)).reshape(node.W.shape[0], -1)
    return int(W.sum(axis=1).max(initial=0)) * x


def _spiking_input(graph, name):
    """The Source or neuron that feeds synapse `name` (through at most one Flatten)."""
    src = graph.inputs_of(name)[0].src
    return graph.inputs_of(src)[0].src if isinstance(graph.nodes[src], Flatten) else src


def _synapse_reason(graph, name, node):
    ins = graph.inputs_of(name)
    src = graph.nodes[ins[0].src]
    outs = [graph.nodes[e.dst] for e in graph.outputs_of(name)]
    if isinstance(node, Flatten):
        if not isinstance(src, (Source, CUBALIF)) or not all(isinstance(o, Dense) for o in outs):
            return f"Flatten '{name}' must lie between a Source/CUBALIF and Dense synapses"
        return None
    if isinstance(node, Scale):
        if not isinstance(src, CUBALIF) or len(src.shape) != 1 or \
                not all(isinstance(o, Readout) for o in outs):
            return f"Scale '{name}' maps only from a 1-D CUBALIF to a Readout"
        return None
    if not isinstance(node, (Dense, Conv2d)):
        return f"synapse '{name}' is a {node.type}: Lava's library has only Dense and Conv here"
    if not isinstance(src, (Source, CUBALIF, Flatten)):
        return f"{node.type} '{name}' takes input from a {src.type}, not a Source or CUBALIF"
    err = loihi_weight_error(node.W)
    if err:
        return f"{node.type} '{name}': Lava's Dense would change W ({err})"
    bound = _bound(graph, name, node)
    if isinstance(node, Conv2d):
        if any(isinstance(o, Readout) for o in outs):
            return f"Conv2d '{name}' feeds a Readout: only 1-D Readouts map (Lava's XYC layout)"
        if node.w_exp < 0:
            return (f"Conv2d '{name}' has w_exp {node.w_exp}: Lava's Conv has no weight exponent, "
                    f"and a negative one cannot be folded into its weights")
        if bound << node.w_exp >= I_LIMIT:
            return (f"Conv2d '{name}': partial sums reach {bound << node.w_exp}; Lava's Conv is "
                    f"exact only below 2^23 (float32 sums, 24-bit wrap)")
    elif bound >= 1 << 31:
        return f"Dense '{name}': partial sums reach {bound}, beyond Lava's int32 Dense"
    return None


def native_reason(graph):
    """None if `graph` lowers onto Lava's own LIF/Dense/Conv processes, else why not (one line)."""
    verify(graph)
    for name, node in graph.nodes.items():
        if isinstance(node, Source):
            if node.encoding == "bits" or len(node.shape) not in (1, 3):
                return (f"Source '{name}': only analog or rate inputs of shape (N,) or (C, H, W) "
                        f"map onto Lava's RingBuffer")
        elif node.ROLE == "neuron" and not isinstance(node, CUBALIF):
            return (f"node '{name}' is a {node.type}: Lava's library LIF runs only CUBALIF "
                    f"(Loihi's neuron)")
        elif isinstance(node, CUBALIF) and len(node.shape) not in (1, 3):
            return f"CUBALIF '{name}': shape must be (N,) or (C, H, W), not {node.shape}"
        elif isinstance(node, Readout) and (node.horner or len(node.shape) != 1):
            return f"Readout '{name}': only a plain 1-D Readout maps (no horner)"
        elif node.ROLE == "synapse":
            why = _synapse_reason(graph, name, node)
            if why:
                return why
    if not any(isinstance(n, CUBALIF) for n in graph.nodes.values()):
        return "the graph has no CUBALIF node"
    return None


def is_native(graph):
    return native_reason(graph) is None


# --- layouts ---------------------------------------------------------------------------------

def lava_shape(shape, B):
    return (B * shape[0],) if len(shape) == 1 else (shape[2], shape[1], B * shape[0])


def to_lava(arr, shape):
    """(B, *shape) -> Lava's layout (see the module doc)."""
    B = arr.shape[0]
    if len(shape) == 1:
        return arr.reshape(B * shape[0])
    C, H, W = shape
    return arr.transpose(3, 2, 0, 1).reshape(W, H, B * C)


def from_lava(arr, shape, B):
    """(steps, *Lava layout) -> (steps, B, *shape)."""
    T = arr.shape[0]
    if len(shape) == 1:
        return arr.reshape(T, B, shape[0])
    C, H, W = shape
    return arr.reshape(T, W, H, B, C).transpose(0, 3, 4, 2, 1)


def _flat_index(shape, B):
    """idx[b, i]: where IR element i (C order of `shape`) of sample b sits in the flattened Lava
    layout of a node of `shape`."""
    n = int(np.prod(shape))
    ids = np.arange(B * n).reshape(B, *shape)
    return to_lava(ids, shape).reshape(-1).argsort().reshape(B, n)


def dense_weights(W, in_shape, B):
    """Block-diagonal (B*out, B*in) weights: rows b*out + o, columns at `_flat_index`."""
    out, n_in = W.shape
    M = np.zeros((B * out, B * n_in), dtype=np.int32)
    idx = _flat_index(in_shape, B)
    for b in range(B):
        M[b * out:(b + 1) * out, idx[b]] = W
    return M


def conv_weights(W, w_exp, B):
    """Lava's Conv weight (B*C_out, kw, kh, C_in/groups): XY order, flipped (Lava convolves; the
    IR correlates), the weight exponent folded in (w_exp >= 0), tiled over the B copies."""
    Wl = (W.astype(np.int64) << w_exp).transpose(0, 3, 2, 1)[:, ::-1, ::-1, :]
    return np.ascontiguousarray(np.tile(Wl, (B, 1, 1, 1)).astype(np.int32))


from ._native_run import run_native  # noqa: E402  (the runtime half; imports Lava lazily)
