"""SpikeZIP Residual Connection Re-routing (RCR) on a QANN: a QANN -> QANN pass.

A residual block ends in q(add(branch, shortcut)): the neuron layer after the addition is a
spiking bottleneck. RCR moves the addition after the Q-ReLU: add(q(branch), shortcut) for an
identity shortcut (the shortcut is already a Q-ReLU's output), add(q(branch), q'(shortcut)) for
a convolution shortcut (q' a new Q-ReLU with q's step). Layers reading q now read the sum, which
`hwsnn.compile` lowers to synapses from both neuron layers (Scale for the identity path).
The network function changes: fine-tune the QANN after the pass (SpikeZIP does RCR before QAT).
"""

import copy

from ..convert import QReLU
from ..convert._qann import Op, module_key

__all__ = ["reroute_residuals"]


def reroute_residuals(qann):
    """Copy of `qann` with every add -> Q-ReLU pair re-routed; returns (qann, names of the adds)."""
    q = copy.deepcopy(qann)
    by = {op.name: op for op in q.ops}
    users = {}
    for op in q.ops:
        for i in op.inputs:
            users.setdefault(i, []).append(op.name)
    done = []
    ops = list(q.ops)
    for add in [op for op in ops if op.kind == "add"]:
        after = users.get(add.name, [])
        if len(after) != 1 or by[after[0]].kind != "qrelu":
            continue
        relu = by[after[0]]
        ins = list(add.inputs)
        if all(by[i].kind == "qrelu" for i in ins):
            continue
        new_ops = []
        branch_done = False
        for k, src in enumerate(ins):
            if by[src].kind == "qrelu":
                continue
            if not branch_done:                         # the branch gets the block's Q-ReLU
                new_ops.append(Op(relu.name, "qrelu", (src,), relu.key, by[src].shape, relu.source + " (RCR)"))
                ins[k] = relu.name
                branch_done = True
            else:                                       # a conv shortcut gets a new one
                name = f"{relu.name}.shortcut"
                q.layers[module_key(name)] = QReLU(q.levels, scale=float(q.layers[relu.key].scale.detach()))
                new_ops.append(Op(name, "qrelu", (src,), module_key(name), by[src].shape, "RCR shortcut"))
                ins[k] = name
        moved = Op(add.name, "add", tuple(ins), "", add.shape, add.source + " (RCR)", dict(add.attrs))
        i_add, i_relu = ops.index(add), ops.index(relu)
        ops = ops[:i_add] + new_ops + [moved] + ops[i_add + 1:i_relu] + ops[i_relu + 1:]
        for j, op in enumerate(ops):
            if relu.name in op.inputs and op.name not in (relu.name, add.name):
                ops[j] = Op(op.name, op.kind, tuple(add.name if i == relu.name else i for i in op.inputs),
                            op.key, op.shape, op.source, op.attrs)
        by = {op.name: op for op in ops}
        done.append(add.name)
    q.ops = ops
    return q, done
