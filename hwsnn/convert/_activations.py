"""QANN activations of the IF-neuron methods: QCFS, SlipReLU and the dual-phase QC activation.

Each exposes what `hwsnn.compile` reads from a quantizer: `levels` (L) and `scale` (the step
s = lambda / L, a 0-d tensor), and `level(x)` (the integer level the IF neuron aims at). The
compiler lowers the step to ST-BIF nodes; `hwsnn.methods.to_if` turns them into IF neurons.
"""

import copy

import torch
from torch import nn

from ..errors import ConversionError
from ._qrelu import QReLU

__all__ = ["QCFS", "SlipReLU", "QCNoise", "ACTIVATIONS", "swap_activations", "with_levels", "activation_lams"]


def _ste_floor(x):
    """floor(x) forward, identity gradient (straight-through)."""
    return (torch.floor(x) - x).detach() + x


class QCFS(nn.Module):
    """QCFS (Bu et al. 2022): q(x) = lambda/L * clip(floor(x L / lambda + phi), 0, L), phi = 1/2,
    with a trainable threshold lambda (gradient through the clip and the straight-through floor).
    As an SNN: IF neurons with theta = lambda (per step), v0 = phi * theta, soft reset."""

    def __init__(self, levels, lam=1.0, phi=0.5):
        super().__init__()
        self.levels, self.phi = int(levels), float(phi)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    @property
    def scale(self):
        return self.lam / self.levels

    def extra_repr(self):
        return f"levels={self.levels}, lam={float(self.lam):.6g}, phi={self.phi}"

    def level(self, x):
        """Integer level clip(floor(x/s + phi), 0, L) (no gradient)."""
        s = self.scale.detach()
        return torch.clamp(torch.floor(x.detach() / s + self.phi), 0, self.levels)

    def constrain(self):
        """Keep the threshold lambda >= 1e-3 after an optimizer step (convert.constrain)."""
        self.lam.clamp_(min=1e-3)

    def forward(self, x):
        L, lam = self.levels, self.lam
        v = torch.clamp(_ste_floor(x * L / lam + self.phi), 0, L)
        return v * lam / L


class SlipReLU(nn.Module):
    """SlipReLU (Jiang et al. 2023): c * clip(x, 0, lambda) + (1 - c) * step_delta(x), where
    step_delta(x) = lambda/L * clip(floor(x L / lambda + 1/2 + delta), 0, L), delta in [-1/2, 1/2].
    c = 0 is QCFS (delta = 0); c = 1 the threshold ReLU. The SNN keeps the step part: IF with
    theta = lambda, v0 = (1/2 + delta) * theta."""

    def __init__(self, levels, lam=1.0, c=0.5, delta=0.0):
        super().__init__()
        if not -0.5 <= delta <= 0.5:
            raise ValueError(f"delta must be in [-1/2, 1/2], not {delta!r}")
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"c must be in [0, 1], not {c!r}")
        self.levels, self.c, self.delta = int(levels), float(c), float(delta)
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    @property
    def scale(self):
        return self.lam / self.levels

    @property
    def phi(self):
        return 0.5 + self.delta

    def extra_repr(self):
        return f"levels={self.levels}, lam={float(self.lam):.6g}, c={self.c}, delta={self.delta}"

    def level(self, x):
        s = self.scale.detach()
        return torch.clamp(torch.floor(x.detach() / s + self.phi), 0, self.levels)

    def constrain(self):
        """Keep the threshold lambda >= 1e-3 after an optimizer step (convert.constrain)."""
        self.lam.clamp_(min=1e-3)

    def forward(self, x):
        L, lam = self.levels, self.lam
        step = torch.clamp(_ste_floor(x * L / lam + self.phi), 0, L) * lam / L
        if self.c == 0.0:
            return step
        lin = torch.minimum(torch.relu(x), lam)
        return self.c * lin + (1 - self.c) * step


class QCNoise(nn.Module):
    """Dual-phase QC activation (Phase I): theta/T * clip(floor(x T / theta + 1/2), 0, T) with a
    trainable threshold theta (here `lam`). In training, Quant-Noise (Eq. 13):
    Q^(x) = x + (Q(x) - x) * M; we read p as the noise probability of the paper's settings
    ("p = 0.1 or 0.2 when T <= 4"): a share p of the entries pass clip(x, 0, theta) unquantized,
    i.e. M ~ Bernoulli(1 - p). p = 0: always quantized (also in eval mode)."""

    def __init__(self, levels, lam=1.0, p=0.0):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], not {p!r}")
        self.levels, self.p, self.phi = int(levels), float(p), 0.5
        self.lam = nn.Parameter(torch.tensor(float(lam)))

    @property
    def scale(self):
        return self.lam / self.levels

    def extra_repr(self):
        return f"levels={self.levels}, lam={float(self.lam):.6g}, p={self.p}"

    def level(self, x):
        s = self.scale.detach()
        return torch.clamp(torch.floor(x.detach() / s + 0.5), 0, self.levels)

    def constrain(self):
        """Keep the threshold lambda >= 1e-3 after an optimizer step (convert.constrain)."""
        self.lam.clamp_(min=1e-3)

    def forward(self, x):
        L, lam = self.levels, self.lam
        u = x * L / lam
        q = torch.clamp(_ste_floor(u + 0.5), 0, L)
        if self.training and self.p > 0.0:
            keep = torch.bernoulli(torch.full_like(u, 1.0 - self.p))
            lin = torch.clamp(u, 0, L)
            q = lin + (q - lin) * keep
        return q * lam / L


ACTIVATIONS = {"qcfs": QCFS, "sliprelu": SlipReLU, "dualphase": QCNoise}


# --- QANN helpers: swap activations, re-level ---------------------------------------------

def _lam(mod):
    """Clipping threshold lambda = levels * step of any quantizer with `levels` and `scale`."""
    return float(mod.scale.detach()) * mod.levels


def swap_activations(qann, kind, **kw):
    """Copy of `qann` whose Q-ReLUs become `kind` ("qcfs", "sliprelu", "dualphase") with the same
    levels and lambda = levels * s (keyword arguments go to the activation)."""
    if kind not in ACTIVATIONS:
        raise ConversionError(f"activation kind must be one of {sorted(ACTIVATIONS)}, not {kind!r}")
    q = copy.deepcopy(qann)
    for op in q.qrelus:
        old = q.layers[op.key]
        q.layers[op.key] = ACTIVATIONS[kind](old.levels, lam=_lam(old), **kw)
    return q


def with_levels(qann, levels):
    """Copy of `qann` with every activation re-levelled to `levels`, keeping lambda (the
    clipping threshold): the step becomes lambda / levels (QCFS evaluated at T = levels)."""
    q = copy.deepcopy(qann)
    for op in q.qrelus:
        m = q.layers[op.key]
        lam = _lam(m)
        if isinstance(m, QReLU):
            q.layers[op.key] = QReLU(levels, scale=lam / levels)
        else:
            m.levels = int(levels)
            with torch.no_grad():
                m.lam.fill_(lam)
    q.levels = int(levels)
    q.eval()
    return q


def activation_lams(qann):
    """{layer: lambda} of every activation."""
    return {op.name: _lam(qann.layers[op.key]) for op in qann.qrelus}
