"""Random float networks whose weights, biases and scales are dyadic (integer * 2^-k), so the
compiler's integerization rounds nothing: the integer IR must equal the QANN exactly.

Why nothing rounds (thresholds="pow2", w_bits=8): weights are k * 2^-A with |k| <= 7, so the
unit u (a power of two in [u_min, 2 u_min), u_min = 7 * 2^-A * f / 127) is below 2^-A * f / 8
and W f / u is an integer; biases are multiples of 1/4 >= u; scales are 2^-2 .. 2^2.
"""

import numpy as np
import torch
from torch import nn

from hwsnn.convert import convert

A = 2          # weight grid 2^-A
BIAS_GRID = 4  # biases are m / 4


class DenseNet(nn.Module):
    def __init__(self, widths, residual):
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-2], widths[1:-1]))
        self.relus = nn.ModuleList(nn.ReLU() for _ in self.fcs)
        self.residual = residual
        if residual:
            w = widths[-2]
            self.res1, self.res2 = nn.Linear(w, w), nn.Linear(w, w)
            self.rr1, self.rr2 = nn.ReLU(), nn.ReLU()
        self.head = nn.Linear(widths[-2], widths[-1])

    def forward(self, x):
        for fc, r in zip(self.fcs, self.relus):
            x = r(fc(x))
        if self.residual:
            x = self.rr2(self.res2(self.rr1(self.res1(x))) + x)
        return self.head(x)


class ConvNet(nn.Module):
    """Conv-ReLU body, an optional residual block (its ReLU one module called twice when
    `shared`, as in torchvision's BasicBlock), pool 0: none, 1: MaxPool2d(2), 2: MaxPool2d(2, 2,
    padding=1) (an average pool with zero padding: still dyadic), then a Linear head."""

    def __init__(self, cin, hw, chans, residual, pool, n_out, shared=False):
        super().__init__()
        layers, c = [], cin
        for co in chans:
            layers += [nn.Conv2d(c, co, 3, padding=1), nn.ReLU()]
            c = co
        self.body = nn.Sequential(*layers)
        self.residual = residual
        if residual:
            self.rc1, self.rc2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
            self.rr1 = nn.ReLU()
            self.rr2 = self.rr1 if shared else nn.ReLU()
        self.pool = [nn.Identity(), nn.MaxPool2d(2), nn.MaxPool2d(2, 2, padding=1)][pool]
        side = [hw, hw // 2, hw // 2 + 1][pool]
        self.head = nn.Linear(c * side * side, n_out)

    def forward(self, x):
        x = self.body(x)
        if self.residual:
            x = self.rr2(self.rc2(self.rr1(self.rc1(x))) + x)
        return self.head(torch.flatten(self.pool(x), 1))


def build(seed, kind, depth, levels, residual):
    """(qann, input_shape, input_scale, input_range, x_int) for a random dyadic network."""
    rng = np.random.default_rng(seed)
    n_out = int(rng.integers(2, 5))
    if kind == "dense":
        widths = [int(rng.integers(2, 7)) for _ in range(depth + 1)] + [n_out]
        model = DenseNet(widths, residual)
        shape = (widths[0],)
    else:
        cin, hw = int(rng.integers(1, 3)), int(rng.choice([4, 6]))
        chans = [int(rng.integers(1, 4)) for _ in range(depth)]
        model = ConvNet(cin, hw, chans, residual, int(rng.integers(0, 3)), n_out,
                        shared=bool(rng.integers(0, 2)))
        shape = (cin, hw, hw)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Linear, nn.Conv2d)):
                mod.weight.copy_(torch.as_tensor(rng.integers(-7, 8, mod.weight.shape) / 2 ** A))
                mod.bias.copy_(torch.as_tensor(rng.integers(-8, 9, mod.bias.shape) / BIAS_GRID))
    model.eval()
    qann = convert(model, shape, levels=levels).double()
    with torch.no_grad():
        for op in qann.qrelus:
            qann.layers[op.key].scale.fill_(2.0 ** int(rng.integers(-2, 3)))
    input_scale = 2.0 ** -int(rng.integers(0, 3))
    x_int = rng.integers(0, 9, (6, *shape))
    return qann, shape, input_scale, (0, 8), x_int
