"""The QANN: a traced network reduced to a few operation kinds, run by a small interpreter.

Kinds: input, conv, linear (BatchNorm already fused), avgpool, maxpool, flatten, add, qrelu, output;
cat (channel concatenation), channels (a channel map), affine (a BatchNorm that could not fuse).
Every op keeps its module path (`name`) so errors and IR nodes name the user's layers.
"""

from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["Op", "QANN", "KINDS", "module_key"]

KINDS = ("input", "conv", "linear", "avgpool", "maxpool", "flatten", "add", "qrelu", "output",
         "cat", "channels", "affine")


@dataclass
class Op:
    name: str                 # module path ("features.3") or fx node name ("add_1")
    kind: str                 # one of KINDS
    inputs: tuple = ()        # names of the ops it reads
    key: str = ""             # key of its module in QANN.layers ("" if none)
    shape: tuple = ()         # output shape without the batch dimension
    source: str = ""          # what it came from ("MaxPool2d", "BatchNorm2d fused", ...)
    attrs: dict = field(default_factory=dict)


def module_key(name):
    return name.replace(".", "_")


class QANN(nn.Module):
    """Quantized ANN: fused conv/linear, average pools, Q-ReLUs with `levels` levels.

    `forward(x)` gives the output (logits); `forward(x, capture=True)` gives every op's value.
    """

    def __init__(self, ops, modules, levels, input_shape, name="net"):
        super().__init__()
        self.ops = list(ops)
        self.layers = nn.ModuleDict({module_key(k): m for k, m in modules.items()})
        self.levels = int(levels)
        self.input_shape = tuple(input_shape)
        self.net_name = name

    def module(self, op):
        return self.layers[op.key] if op.key else None

    @property
    def qrelus(self):
        return [op for op in self.ops if op.kind == "qrelu"]

    def forward(self, x, capture=False):
        env = {}
        last = {n: i for i, op in enumerate(self.ops) for n in op.inputs}  # free after last use
        for i, op in enumerate(self.ops):
            if op.kind == "input":
                env[op.name] = x
            elif op.kind == "add":
                env[op.name] = env[op.inputs[0]] + env[op.inputs[1]]
            elif op.kind == "cat":  # channel concatenation
                env[op.name] = torch.cat([env[n] for n in op.inputs], 1)
            elif op.kind == "output":
                env[op.name] = env[op.inputs[0]]
                out = env[op.name]
            else:
                env[op.name] = self.layers[op.key](env[op.inputs[0]])
            if not capture:
                for n in set(op.inputs):
                    if last[n] == i:
                        del env[n]
        return env if capture else out

    def extra_repr(self):
        return f"levels={self.levels}, input_shape={self.input_shape}, ops={len(self.ops)}"

