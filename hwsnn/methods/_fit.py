"""What the registry and the dual-phase lowering share: the digits input quantization and
`compile_fit` (kept apart so that neither module imports the other)."""

import numpy as np

from ..compile import compile_qann
from ..errors import CompileError

__all__ = ["SCALE", "RANGE", "compile_fit", "encode_levels", "identity"]

SCALE, RANGE = 1.0 / 16, (0, 16)   # digits: pixel values 0..16, float input pixel / 16


def compile_fit(qann, **kw):
    """compile_qann with the smallest weight width in (8, 12, 16) that represents the QANN's
    weights at the even thresholds it needs (fine steps need wider weights)."""
    for w_bits in (8, 12, 16):
        try:
            return compile_qann(qann, w_bits=w_bits, **kw)
        except CompileError as exc:
            if "weights need" not in str(exc) or w_bits == 16:
                raise


def identity(x):
    return np.asarray(x, dtype=np.int64)


def encode_levels(n):
    """Encoder of pixels 0..16 into n levels: round_half_up(p * n / 16) (identity if n >= 16)."""
    if n >= 16:
        return identity
    return lambda x: np.floor(np.asarray(x, dtype=np.int64) * n / 16 + 0.5).astype(np.int64)
