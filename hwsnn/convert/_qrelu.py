"""Q-ReLU with a learnable LSQ step size, rounding half UP (the ST-BIF count semantics)."""

import math

import torch
from torch import nn

__all__ = ["QReLU", "round_half_up"]


def round_half_up(x):
    """floor(x + 1/2): rounds ties up (torch.round rounds ties to even; ST-BIF rounds up)."""
    return torch.floor(x + 0.5)


def _ste(value, surrogate):
    """Forward `value`, backward the gradient of `surrogate` (straight-through)."""
    return (value - surrogate).detach() + surrogate


def _grad_scale(s, g):
    """Forward s, backward g * ds (LSQ's step-size gradient scale)."""
    return (s - s * g).detach() + s * g


class QReLU(nn.Module):
    """q(x) = clip(floor(x/s + 1/2), 0, n) * s with n levels and learnable step s > 0.

    Gradients (LSQ, Esser et al. 2020): d/dx is 1 inside [0, n*s] (straight-through round),
    d/ds is (round(x/s) - x/s) inside, n above, 0 below, scaled by 1/sqrt(numel * n).
    It equals the ST-BIF count clip(floor((z + theta/2)/theta), 0, n) * s with theta = s.
    """

    def __init__(self, levels, scale=1.0):
        super().__init__()
        if int(levels) != levels or levels < 1:
            raise ValueError(f"levels must be an integer >= 1, not {levels!r}")
        self.levels = int(levels)
        self.scale = nn.Parameter(torch.tensor(float(scale)))
        self.ceiling = None  # float clip of the model's activation (ReLU6: 6.0); calibration stays below

    def extra_repr(self):
        return f"levels={self.levels}, scale={float(self.scale):.6g}"

    def constrain(self):
        """Keep the step positive after an optimizer step (see convert.constrain)."""
        self.scale.clamp_(min=1e-6)

    def level(self, x):
        """Integer level clip(floor(x/s + 1/2), 0, n) (float tensor, no gradient)."""
        return torch.clamp(round_half_up(x.detach() / self.scale.detach()), 0, self.levels)

    def forward(self, x):
        s = self.scale
        if self.training and s.requires_grad:
            s = _grad_scale(s, 1.0 / math.sqrt(max(1, x[0].numel()) * self.levels))
        v = torch.clamp(x / s, 0, self.levels)
        return _ste(round_half_up(v), v) * s
