"""QANN helpers shared by the methods: swap activations, re-level, compile for a method."""

import copy

import torch

from ..compile import compile_qann
from ..convert import QReLU
from ..errors import ConversionError
from ._act import ACTIVATIONS

__all__ = ["swap_activations", "with_levels", "activation_lams"]


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
