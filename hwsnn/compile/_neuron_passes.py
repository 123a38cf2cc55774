"""Passes over a compiled ST-BIF graph that give the other methods' neurons (IR -> IR).

`hwsnn.compile.compile_qann` lowers a QANN with n levels to ST-BIF nodes whose count is
S = clip(floor((Z + b + theta/2) / theta), 0, n) (Z: total integer input, b: integer bias).
Each pass keeps that integer arithmetic and swaps the neuron:

* `to_if`: IF(theta, v0 = round(phi * theta), bias, bias_R, s_max = n): binary spikes, soft
  reset; its ideal count clip(floor((Z + b + v0)/theta), 0, n) equals the ST-BIF count when
  phi = 1/2, the per-step run only approximates it (no negative spikes: residual error).
* `to_ilif`: ILIF(theta' = theta * 2^T, T, bias' = b + theta/2) with n = 2^T - 1: its code
  clip(floor((Z + b + theta/2) * 2^T / (theta 2^T)), 0, 2^T - 1) is the same Q-ReLU, exactly
  (theta is even). Source -> `bits` (T), Readout -> `horner`; the readout's always-on bias
  unit becomes an ILIF (code 1) fed in the same window as the last hidden layer.
"""

from dataclasses import replace

import numpy as np

from .. import ir
from ..errors import CompileError
from ._ranges import fit_widths

__all__ = ["to_if", "to_ilif", "hidden_layers", "model_neurons"]


def hidden_layers(graph):
    """Names of the compiled neuron layers (graph.meta["layers"], kind "neuron")."""
    layers = graph.meta.get("layers")
    if not layers:
        raise CompileError(f"graph '{graph.name}' has no meta['layers']: lower a graph made by "
                           f"hwsnn.compile.compile_qann")
    return [n for n, info in layers.items() if info["kind"] == "neuron"]


def _phi_v0(theta, phi):
    return np.asarray(np.floor(np.asarray(theta, dtype=np.float64) * phi + 0.5), dtype=np.int64)


def model_neurons(graph, name):
    """Number of leading neurons of layer `name` that are the model's (the compiler may append
    always-on bias neurons to the last hidden layer: meta["layers"][name]["bias_neurons"])."""
    extra = graph.meta["layers"][name].get("bias_neurons")
    return extra["first"] if extra else None


def _layer_v0(graph, name, node, p):
    """Full v0 of layer `name`: integers as given, else round_half_up(phi * theta); the
    compiler's always-on bias neurons keep their ST-BIF v0 = theta/2 (their counts stay exact)."""
    p = np.asarray(p)
    v0 = p.astype(np.int64) if p.dtype.kind in "iu" else _phi_v0(node.theta, p)
    first = model_neurons(graph, name)
    if first is None:
        return v0
    full = np.array(np.broadcast_to(node.v0, node.shape), dtype=np.int64)
    full[:first] = np.broadcast_to(v0, (first,) + tuple(node.shape[1:])) if v0.ndim else v0
    return full


def to_if(graph, phi=0.5, input_range=None, s_max=None):
    """Replace every compiled ST-BIF layer by an IF node (same theta, bias, bias_R),
    v0 = round_half_up(phi * theta) (phi: one float, or {layer: float or array}),
    s_max = the ST-BIF's s_max (or `s_max`). Register widths are re-derived (input_range:
    default graph.meta["input_range"])."""
    nodes = dict(graph.nodes)
    for name in hidden_layers(graph):
        node = nodes[name]
        if not isinstance(node, ir.STBIF):
            raise CompileError(f"node '{name}': to_if expects an STBIF node, not {node.type}")
        p = phi.get(name, 0.5) if isinstance(phi, dict) else phi
        v0 = _layer_v0(graph, name, node, p)
        nodes[name] = ir.IF(node.shape, theta=node.theta, v0=v0, bias=node.bias,
                            bias_R=node.bias_R, s_max=int(s_max or node.s_max))
    meta = dict(graph.meta, neuron="IF")
    g = ir.Graph(nodes, list(graph.edges), graph.name, meta)
    return fit_widths(g, input_range or tuple(graph.meta["input_range"]))


def _spiking_input(graph, name):
    """The first spiking node (Source or neuron) upstream of `name` through synapses."""
    src = graph.inputs_of(name)[0].src
    while graph.nodes[src].ROLE == "synapse":
        src = graph.inputs_of(src)[0].src
    return src


def _rewire_bias_unit(graph, nodes, edges, T):
    """The readout's bias unit (compile's always-on ST-BIF) as an ILIF emitting code 1 in the
    window of the readout's other inputs: fed (zero weights) from the input of that layer."""
    units = [n for n in nodes if n.endswith(".bias_unit") and isinstance(nodes[n], ir.STBIF)]
    for unit in units:
        gate = graph.inputs_of(unit)[0].src
        feeder = _spiking_input(graph, gate)            # last hidden layer
        upstream = _spiking_input(graph, feeder)        # the layer (or Source) before it
        drop = {gate} | ({graph.inputs_of(gate)[0].src} if graph.nodes[graph.inputs_of(gate)[0].src].ROLE == "synapse" else set())
        for d in drop:
            del nodes[d]
        edges[:] = [e for e in edges if e.src not in drop and e.dst not in drop]
        shape = nodes[upstream].shape
        prev = upstream
        if len(shape) != 1:
            nodes[f"{unit}.flatten"] = ir.Flatten()
            edges.append(ir.Edge(prev, f"{unit}.flatten"))
            prev = f"{unit}.flatten"
        m = nodes[unit].shape  # compile splits a wide bias over m units (each weight within w_bits)
        nodes[f"{unit}.gate"] = ir.Dense(np.zeros((m[0], int(np.prod(shape))), dtype=np.int64), w_bits=2)
        edges.append(ir.Edge(prev, f"{unit}.gate"))
        edges.append(ir.Edge(f"{unit}.gate", unit))
        nodes[unit] = ir.ILIF(m, theta=np.array(2 ** T), T=T, bias=np.array(1))


def to_ilif(graph, T, input_range=None):
    """ILIF graph of a compiled ST-BIF graph with n = 2^T - 1 levels (see module docstring).
    Input values must lie in [0, 2^T) (the Source sends them MSB first as bits)."""
    if T < 1:
        raise CompileError(f"T must be >= 1, not {T}")
    nodes, edges = dict(graph.nodes), list(graph.edges)
    for name in hidden_layers(graph):
        node = nodes[name]
        if not isinstance(node, ir.STBIF) or node.s_max != 2 ** T - 1 or node.s_min != 0:
            raise CompileError(f"node '{name}': to_ilif needs an STBIF with s_min=0, s_max=2^T-1="
                               f"{2 ** T - 1}, not {node.type} s_max={getattr(node, 's_max', None)}")
        theta = np.asarray(node.theta)
        if np.any(theta % 2):
            raise CompileError(f"node '{name}': theta must be even, not {theta}")
        nodes[name] = ir.ILIF(node.shape, theta=theta * 2 ** T, T=T, bias=node.bias + theta // 2)
    for name in graph.sources:
        nodes[name] = ir.Source(nodes[name].shape, "bits", T=T, x_bits=ir.bits_for(0, 2 ** T))
    for name in graph.readouts:
        nodes[name] = replace(nodes[name], horner=True)
    _rewire_bias_unit(graph, nodes, edges, T)
    lo, hi = input_range or tuple(graph.meta["input_range"])
    if lo < 0 or hi >= 2 ** T:
        raise CompileError(f"input_range must lie in [0, 2^T - 1] = [0, {2 ** T - 1}] for bits "
                           f"encoding, not [{lo}, {hi}]")
    meta = dict(graph.meta, neuron="ILIF", T=T)
    g = ir.Graph(nodes, edges, graph.name, meta)
    return fit_widths(g, (lo, hi))
