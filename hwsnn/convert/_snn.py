"""The SNN description of a QANN (SpikeZIP): every Q-ReLU becomes an ST-BIF neuron with
theta = s, v0 = theta/2, S in [0, n]; inputs and biases are released evenly over R steps.

Float and per-step (for study); the exact integer form is what `hwsnn.compile` builds.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ._qann import QANN

__all__ = ["STBIFNeuron", "SpikingMaxPool", "SNN", "to_snn"]


class STBIFNeuron(nn.Module):
    """ST-BIF: V' = V + I; y = +1 if V' >= theta and S < s_max, -1 if V' < 0 and S > s_min;
    V = V' - y*theta; S = S + y; V starts at v0 = theta/2. Outputs y * theta."""

    def __init__(self, theta, s_max, s_min=0):
        super().__init__()
        self.theta, self.s_max, self.s_min = float(theta), int(s_max), int(s_min)
        self.v0 = self.theta / 2
        self.V = self.S = None

    def reset(self):
        self.V = self.S = None

    def forward(self, I):
        if self.V is None:
            self.V, self.S = torch.full_like(I, self.v0), torch.zeros_like(I)
        V = self.V + I
        y = ((V >= self.theta) & (self.S < self.s_max)).to(I.dtype) - \
            ((V < 0) & (self.S > self.s_min)).to(I.dtype)
        self.V, self.S = V - y * self.theta, self.S + y
        return y * self.theta


class SpikingMaxPool(nn.Module):
    """Exact max pooling of spike trains: keeps each input's running sum C and outputs
    pool(C_t) - pool(C_{t-1}) (the IR's MaxPool2d; C >= 0 after ST-BIF neurons, so torch's
    -inf padding gives the IR's zero padding)."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool
        self.C = self.M = None

    def reset(self):
        self.C = self.M = None

    def forward(self, x):
        self.C = x if self.C is None else self.C + x
        M = self.pool(self.C)
        out = M if self.M is None else M - self.M
        self.M = M
        return out


class SNN(nn.Module):
    """Per-step network: `run(x, steps, R)` returns the readout (sum of the last layer's output
    over the steps), which at equilibrium equals the QANN's output."""

    def __init__(self, qann):
        super().__init__()
        self.ops, self.layers = qann.ops, qann.layers
        self.neurons = nn.ModuleDict({op.key: STBIFNeuron(float(qann.layers[op.key].scale.detach()), qann.levels)
                                      for op in qann.qrelus})
        self.pools = nn.ModuleDict({op.key: SpikingMaxPool(qann.layers[op.key])
                                    for op in qann.ops if op.kind == "maxpool"})

    def reset(self):
        for n in [*self.neurons.values(), *self.pools.values()]:
            n.reset()

    def step(self, x_t, share):
        env = {}
        for op in self.ops:
            if op.kind == "input":
                env[op.name] = x_t
            elif op.kind == "add":
                env[op.name] = env[op.inputs[0]] + env[op.inputs[1]]
            elif op.kind == "cat":
                env[op.name] = torch.cat([env[n] for n in op.inputs], 1)
            elif op.kind == "affine":  # its bias is released like a layer's
                m = self.layers[op.key]
                env[op.name] = m(env[op.inputs[0]]) - m.view(m.b, env[op.inputs[0]].ndim) * (1 - share)
            elif op.kind == "output":
                return env[op.inputs[0]]
            elif op.kind == "qrelu":
                env[op.name] = self.neurons[op.key](env[op.inputs[0]])
            elif op.kind == "maxpool":
                env[op.name] = self.pools[op.key](env[op.inputs[0]])
            elif op.kind in ("conv", "linear"):
                m, v = self.layers[op.key], env[op.inputs[0]]
                b = m.bias * share
                env[op.name] = (F.conv2d(v, m.weight, b, m.stride, m.padding, groups=m.groups)
                                if op.kind == "conv" else F.linear(v, m.weight, b))
            else:
                env[op.name] = self.layers[op.key](env[op.inputs[0]])

    @torch.no_grad()
    def run(self, x, steps, R=1):
        self.reset()
        out = 0
        for t in range(steps):
            share = 1.0 / R if t < R else 0.0
            out = out + self.step(x * share, share)
        return out


def to_snn(qann):
    """SNN with ST-BIF neurons for `qann` (see module docstring)."""
    if not isinstance(qann, QANN):
        raise TypeError(f"to_snn needs a QANN (from hwsnn.convert.convert), not {type(qann).__name__}")
    return SNN(qann)
