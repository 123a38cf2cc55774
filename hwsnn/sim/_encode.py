"""Input and bias release schedules (exact integer arithmetic, int64 tensors)."""

import numpy as np
import torch

from hwsnn.errors import RangeError, ShapeError, SimulationError
from hwsnn.ir import fits, int_range, source_bound, source_length

__all__ = ["release", "check_input", "source_length", "source_bound"]  # the last two: hwsnn.ir


def release(q, t, R):
    """Share of total q released at step t when spread evenly over R steps:
    floor((t+1)q/R) - floor(tq/R) for t < R, else 0. Sums to exactly q."""
    if t >= R:
        return torch.zeros_like(q)
    return torch.div((t + 1) * q, R, rounding_mode="floor") - torch.div(t * q, R, rounding_mode="floor")


def check_input(name, node, x):
    """Validate input array `x` (B, *shape) for Source `node`; return it as int64 tensor."""
    x = np.asarray(x)
    if x.ndim == len(node.shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(node.shape):
        raise ShapeError(f"input '{name}': expected shape (batch, {', '.join(map(str, node.shape))}), "
                         f"not {tuple(x.shape)}")
    if x.dtype.kind not in "iub":
        if x.dtype.kind != "f" or not np.all(x == np.round(x)):
            raise SimulationError(f"input '{name}': values must be integers, not dtype {x.dtype} "
                                  f"with fractional values")
    if not fits(x, node.x_bits):
        lo, hi = int_range(node.x_bits)
        raise RangeError(f"input '{name}': values must fit int{node.x_bits} [{lo}, {hi}], "
                         f"not [{int(x.min())}, {int(x.max())}]")
    if node.encoding == "rate" and (x.min(initial=0) < 0 or x.max(initial=0) > node.T):
        raise RangeError(f"input '{name}': rate encoding needs 0 <= q <= T={node.T}, "
                         f"not [{int(x.min())}, {int(x.max())}]")
    if node.encoding == "bits" and (x.min(initial=0) < 0 or x.max(initial=0) >= 2 ** node.T):
        raise RangeError(f"input '{name}': bits encoding needs 0 <= q < 2^T={2 ** node.T}, "
                         f"not [{int(x.min())}, {int(x.max())}]")
    return torch.as_tensor(x.astype(np.int64))


def emit(node, q, t):
    """Value Source `node` sends at step t for totals q (int64 tensor)."""
    if node.encoding == "analog":
        return release(q, t, node.R)
    if node.encoding == "rate":
        return release(q, t, node.T)
    if t >= node.T:
        return torch.zeros_like(q)
    return (q >> (node.T - 1 - t)) & 1
