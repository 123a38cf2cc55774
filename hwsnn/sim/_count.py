"""Count semantics: one pass through the graph with the closed forms of docs/ir-format.md
("Count semantics").

Exact for ST-BIF, ILIF and Ca-LIF (what the per-step run reaches at equilibrium / after the
settle phase); for IF it is the ideal quantized activation the IF run only approximates.
"""

import numpy as np
import torch

from hwsnn.errors import SimulationError
from hwsnn.ir import IF, ILIF, STBIF, CaLIF, MaxPool2d, Readout, verify

from ._maxpool import window_max

from ._step import Network, _as_inputs, _check_width

__all__ = ["count"]


def _floordiv(a, b):
    return torch.div(a.to(torch.int64), b.to(torch.int64), rounding_mode="floor")


def _ones(code, T):
    """Number of 1 bits of codes in [0, 2^T): the spikes a bits Source or an ILIF sends."""
    c = code.to(torch.int64)
    return sum((c >> k) & 1 for k in range(T)).to(torch.float64)


def _check_exact(name, v):
    if v.numel() and float(v.abs().max()) >= 2 ** 52:
        raise SimulationError(f"node '{name}': count totals reach 2^52; float64 would not be exact")


def _check_register(name, node, V):
    """The register check of `run` (RangeError naming node, V range and width)."""
    if V.numel():
        _check_width(name, node, {"V": V})


def count(graph, x):
    """Final S of every neuron node and final V of every Readout, in one pass. A final V
    outside its node's v_bits register raises the same RangeError as `run`.

    Returns {"S": {node: int array (batch, *shape)}, "V": {node: ...}, "output": readout V}.
    `vals` are the totals a node sends (the number of spikes); `hor` the Horner values (q of a
    bits Source, an ILIF's code) that ILIF and horner Readouts integrate.
    """
    net = graph if isinstance(graph, Network) else Network(graph)
    graph = net.graph
    cuba = [n for n in graph.neurons if graph.nodes[n].type == "CUBALIF"]
    if cuba:
        raise SimulationError(f"node '{cuba[0]}': a CUBALIF (Loihi's leaky neuron) has no count "
                              f"semantics; run it step by step (sim.run)")
    q = _as_inputs(graph, x)
    batch = next(iter(q.values())).shape[0]
    vals, hor, S, V = {}, {}, {}, {}
    with torch.no_grad():
        for name in net.order:
            node = graph.nodes[name]
            if node.ROLE == "source":
                vals[name] = q[name].to(torch.float64)
                if node.encoding == "bits":
                    hor[name], vals[name] = vals[name], _ones(q[name], node.T)
                continue
            if node.ROLE == "synapse":
                src = graph.inputs_of(name)[0].src
                vals[name] = net.ops[name](vals[src], torch.float64)
                _check_exact(name, vals[name])
                if src in hor:
                    hor[name] = net.ops[name](hor[src], torch.float64)
                    _check_exact(name, hor[name])
                continue
            if isinstance(node, MaxPool2d):  # V: the input's totals; S: their window maxima
                V[name] = vals[graph.inputs_of(name)[0].src].reshape(batch, *node.in_shape)
                _check_register(name, node, V[name])
                S[name] = vals[name] = window_max(node, V[name])
                continue
            uses_horner = isinstance(node, ILIF) or (isinstance(node, Readout) and node.horner)
            z = torch.zeros((batch, *node.shape), dtype=torch.float64)
            for e in graph.inputs_of(name):
                z = z + (hor if uses_horner else vals)[e.src]
            if isinstance(node, Readout):
                V[name] = z
                _check_register(name, node, z)
                continue
            theta = torch.as_tensor(node.theta, dtype=torch.float64)
            bias = torch.as_tensor(node.bias if hasattr(node, "bias") else 0, dtype=torch.float64)
            if isinstance(node, STBIF):
                tot = z + bias + torch.as_tensor(node.v0, dtype=torch.float64)
                s = _floordiv(tot, theta).clamp(node.s_min, node.s_max).double()
                V[name] = tot - s * theta
            elif isinstance(node, IF):
                tot = z + bias + torch.as_tensor(node.v0, dtype=torch.float64)
                s = _floordiv(tot, theta).clamp(min=0).double()
                if node.s_max > 0:
                    s = s.clamp(max=node.s_max)
                V[name] = tot - s * theta
            elif isinstance(node, ILIF):
                tot = z + bias
                s = _floordiv(tot * 2 ** node.T, theta).clamp(0, 2 ** node.T - 1).double()
                V[name] = tot * 2 ** node.T - s * theta
            elif isinstance(node, CaLIF):
                tot = z - node.T * torch.as_tensor(node.leak, dtype=torch.float64)
                s = _floordiv(2 * tot + theta, 2 * theta).double()  # round half up
                if node.gate:
                    s = s.clamp(min=0)
                if node.s_max > 0:
                    s = s.clamp(max=node.s_max)
                V[name] = tot - s * theta
            else:
                raise SimulationError(f"node '{name}': no count semantics for {node.type}")
            _check_register(name, node, V[name])
            S[name] = s
            vals[name] = s
            if isinstance(node, ILIF):
                hor[name], vals[name] = s, _ones(s, node.T)
    to_np = lambda d: {k: v.to(torch.int64).numpy() for k, v in d.items()}
    out = {"S": to_np(S), "V": to_np(V)}
    out["output"] = out["V"][graph.readouts[0]]
    return out
