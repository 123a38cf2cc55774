"""Per-layer integerization error between the float (fake-quant) QANN and the integer IR.

For a neuron with step s and threshold theta, pre-activations are put in units of s:
float z/s, integer (sum I + b)/theta. Two views per layer:
  own:        the integer layer fed with the float QANN's own input levels, so only this
              layer's rounding of weights, bias and scales shows;
  propagated: the integer network end to end (`hwsnn.sim.count`), so upstream level flips add in.
`level_mismatch` is the share of activations whose level clip(floor(z/s + 1/2), 0, n) differs
from the IR's S. For the readout the unit is one float logit, and the mismatch compares argmax.
"""

import copy

import numpy as np
import torch
import torch.nn.functional as F

from .. import ir

__all__ = ["qann_levels", "integerization_report"]


@torch.no_grad()
def qann_levels(qann, x, dtype=torch.float64):
    """Float QANN on input `x` (float, batch first): {neuron: (pre-activation / s, level)} for
    every Q-ReLU and {"output": logits}, computed in `dtype`."""
    q = copy.deepcopy(qann).to(dtype).eval()
    env = q(torch.as_tensor(x, dtype=dtype), capture=True)
    out = {}
    for op in q.qrelus:
        mod = q.layers[op.key]
        z = env[op.inputs[0]]
        out[op.name] = ((z / mod.scale).numpy(), mod.level(z).numpy())
    out["output"] = env["output"].numpy()
    return out


def _f64(a):
    """float64 tensor copy of an IR array (IR arrays are read-only; torch warns on sharing them)."""
    return torch.tensor(np.asarray(a, dtype=np.float64))


def _apply(node, x):
    """Synapse `node` on a float64 batch (exact: integer values far below 2^53)."""
    if isinstance(node, ir.Dense):
        return x @ _f64(node.W).T
    if isinstance(node, ir.Conv2d):
        return F.conv2d(x, _f64(node.W), None, node.stride, node.padding, 1, node.groups)
    if isinstance(node, ir.SumPool2d):
        return F.avg_pool2d(x, node.kernel, node.stride) * (node.kernel[0] * node.kernel[1])
    if isinstance(node, ir.Scale):
        return x * _f64(node.w)
    return x.reshape(x.shape[0], -1)


def _own_input(graph, name, counts):
    """Total input current of node `name` with the spiking nodes' totals taken from `counts`."""
    def value(src):
        node = graph.nodes[src]
        if node.ROLE != "synapse":
            return counts[src]
        return _apply(node, value(graph.inputs_of(src)[0].src))
    return sum(value(e.src) for e in graph.inputs_of(name))


def _row(zf, pre, level_f, level_i):
    d = np.abs(zf - pre)
    return {"max_abs_diff": float(d.max(initial=0)), "mean_abs_diff": float(d.mean()) if d.size else 0.0,
            "level_mismatch": float(np.mean(level_f != level_i))}


def integerization_report(qann, graph, x_int, counts):
    """List of per-layer dicts: layer, kind, theta, unit, w_bits, v_bits, max_abs_w_int, and
    max_abs_diff / mean_abs_diff / level_mismatch for the "own" and "propagated" views.
    `counts`: the integer network's count semantics on `x_int`, `hwsnn.sim.count(graph, x_int)`
    (the compiler does not run the oracle itself)."""
    x_int = np.asarray(x_int)
    meta = graph.meta
    ref = qann_levels(qann, x_int * meta["input_scale"])
    got = counts
    for name, info in meta["layers"].items():  # a neuron split at a concatenation: its channels
        if "qann_op" in info and info["qann_op"] in ref:
            a, b = info["channels"]
            ref[name] = tuple(r[:, a:b] for r in ref[info["qann_op"]])
    counts = {name: torch.as_tensor(ref[name][1], dtype=torch.float64) for name in ref if name != "output"}
    counts.update({n: torch.as_tensor(got["S"][n], dtype=torch.float64) for n in got["S"] if n not in counts})
    counts[graph.sources[0]] = torch.as_tensor(x_int, dtype=torch.float64)
    for name, info in meta["layers"].items():  # always-on bias neurons appended by the compiler
        extra = info.get("bias_neurons")
        if extra and name in ref:
            const = torch.tensor(extra["counts"], dtype=torch.float64).expand(len(x_int), -1)
            counts[name] = torch.cat([counts[name], const], dim=1)
    rows = []
    for name, info in meta["layers"].items():
        node = graph.nodes[name]
        row = {"layer": name, "kind": info["kind"], "theta": info["theta"], "unit": info["unit"],
               "w_bits": meta["w_bits"], "v_bits": node.v_bits, "max_abs_w_int": info["max_abs_w_int"]}
        own = _own_input(graph, name, counts).numpy()
        if info["kind"] == "neuron":
            theta, n = float(info["theta"]), node.s_max
            b = np.broadcast_to(node.bias, node.shape).astype(np.float64)
            S, V = got["S"][name].astype(np.float64), got["V"][name].astype(np.float64)
            prop = (S * theta + V - np.asarray(node.v0, dtype=np.float64)) / theta
            own = (own + b) / theta
            if info.get("bias_neurons"):  # compare the model's neurons only
                N = info["bias_neurons"]["first"]
                S, prop, own = S[:, :N], prop[:, :N], own[:, :N]
            own_level = np.clip(np.floor(own + 0.5), 0, n)
            zf, lf = ref[name]
            row["own"] = _row(zf, own, lf, own_level)
            row["propagated"] = _row(zf, prop, lf, S)
        else:
            u, zf = info["unit"], ref["output"]
            prop, own = got["V"][name] * u, own * u
            row["own"] = _row(zf, own, zf.argmax(1), own.argmax(1))
            row["propagated"] = _row(zf, prop, zf.argmax(1), prop.argmax(1))
        rows.append(row)
    return rows
