"""Integer weights W_int = round(W * k) of large layers without wide temporary copies."""

import numpy as np
import torch

from .. import ir

__all__ = ["round_weights"]

_CHUNK = 1 << 21  # elements per block (16 MB of float64)


def round_weights(weight, k, w_bits):
    """np.rint(W * k) in float64 of float tensor `weight`, in the IR's weight dtype for `w_bits`
    (dtype_for(w_bits + 1)) and read-only, so the IR node takes it without a copy; int64 if a
    value does not fit that dtype (verify then names the layer). The same numbers as rounding
    the whole float64 array at once, a block of rows at a time (numpy, one thread: the fastest
    here, and no float64 copy of a large layer)."""
    w = weight.detach()
    w = w.numpy() if w.dtype in (torch.float32, torch.float64) else w.double().numpy()
    dt = ir.dtype_for(w_bits + 1) if 2 <= w_bits <= 62 else np.dtype(np.int64)
    info = np.iinfo(dt)
    ends = [float(w.min(initial=0)) * k, float(w.max(initial=0)) * k]
    if not np.isfinite(ends).all() or min(ends) <= info.min or max(ends) >= info.max:
        out = np.rint(w.astype(np.float64) * k).astype(np.int64)  # verify names the layer
        out.flags.writeable = False
        return out
    out = np.empty(w.shape, dtype=dt)
    rows = max(1, _CHUNK // max(w[0].size, 1))
    for r in range(0, w.shape[0], rows):
        block = w[r:r + rows].astype(np.float64)
        block *= k
        out[r:r + rows] = np.rint(block, out=block)
    out.flags.writeable = False
    return out
