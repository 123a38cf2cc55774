"""Synapse operators on torch tensors, and the bound analysis that picks an exact dtype.

Integer sums are exact in float32 while every partial sum stays below 2^24, and in float64
below 2^53. `plan_dtypes` proves a bound per synapse from its input bound and weights.
"""

import numpy as np
import torch
import torch.nn.functional as F

from hwsnn.errors import SimulationError
from hwsnn.ir import Conv2d, Dense, Flatten, Scale, SumPool2d, output_bound

from ._devices import conv2d_gemm

__all__ = ["SynapseOp", "output_bound"]

F32_EXACT = 2 ** 24
F64_EXACT = 2 ** 53


def _exp(out, w_exp):
    """floor(out * 2^w_exp): Loihi's weight exponent shifts the integer sum (exact in floats:
    a power of two scales without rounding, and floor is exact)."""
    return out if not w_exp else torch.floor(out * (2.0 ** w_exp))


class SynapseOp:
    """One synapse, ready to apply to a batch (B, *in_shape); computes in the exact dtype."""

    def __init__(self, name, node, in_bound):
        self.name, self.node = name, node
        self.bound = output_bound(node, in_bound)
        if self.bound >= F64_EXACT:
            raise SimulationError(f"node '{name}': partial sums up to {self.bound} exceed 2^53; "
                                  f"float64 would not be exact")
        self.dtype = torch.float32 if self.bound < F32_EXACT else torch.float64
        self._weights = {}

    def weight(self, dtype):
        key = (dtype, torch.get_default_device())  # a weight copy per dtype and device
        if key not in self._weights:
            node = self.node
            # np.array: IR arrays may be read-only (loaded files, compiled weights), which
            # torch.as_tensor warns about; the copy is writable and the result identical
            if isinstance(node, Dense):
                self._weights[key] = torch.as_tensor(np.array(node.W), dtype=dtype).t().contiguous()
            elif isinstance(node, Conv2d):
                self._weights[key] = torch.as_tensor(np.array(node.W), dtype=dtype)
            elif isinstance(node, Scale):
                self._weights[key] = torch.as_tensor(np.array(node.w), dtype=dtype)
        return self._weights.get(key)

    def __call__(self, x, dtype=None):
        """Apply to x (batch, *in_shape); `dtype` overrides the proven one (count semantics
        passes float64, whose totals exceed the per-step bound)."""
        dtype = dtype or self.dtype
        x = x.to(dtype)
        node = self.node
        if isinstance(node, Dense):
            return _exp(x @ self.weight(dtype), node.w_exp)
        conv = F.conv2d if x.device.type == "cpu" else conv2d_gemm  # see sim/_devices.py
        if isinstance(node, Conv2d):
            return _exp(conv(x, self.weight(dtype), stride=node.stride, padding=node.padding,
                             groups=node.groups), node.w_exp)
        if isinstance(node, SumPool2d):  # depthwise conv with ones: an exact integer sum, and
            c = x.shape[1]               # faster here than avg_pool2d(divisor_override=1)
            key = ("ones", c, dtype, x.device)
            if key not in self._weights:
                self._weights[key] = torch.ones((c, 1, *node.kernel), dtype=dtype, device=x.device)
            return conv(x, self._weights[key], stride=node.stride, padding=(0, 0), groups=c)
        if isinstance(node, Scale):
            return x * self.weight(dtype)
        if isinstance(node, Flatten):
            return x.reshape(x.shape[0], -1)
        raise SimulationError(f"node '{self.name}': unknown synapse type {node.type!r}")
