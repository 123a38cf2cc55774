"""Where the golden simulator's tensors live, with the same exactness rule on every device.

`on_device(device)` makes every tensor the simulator creates live on `device` (torch's device
context). The dtypes do not depend on the device: float32 only where the bound analysis proves
every partial sum below 2^24, float64 otherwise (sim/_ops.py). On a GPU two things could break
that exactness, and both are shut off here:
- TF32 (a 10-bit mantissa) in float32 matrix products: the float32 matmul precision is set to
  "highest" for the run and restored afterwards;
- cuDNN's convolution algorithms (Winograd, FFT) round intermediate values: on a non-CPU device
  convolutions and sum pools run as im2col + matrix product (`conv2d_gemm`), whose products
  and partial sums are integers within the proven bound, hence exact in any summation order.
"""

import contextlib

import torch
import torch.nn.functional as F

from hwsnn.errors import SimulationError

__all__ = ["on_device", "resolve", "conv2d_gemm"]


def resolve(device):
    """torch.device for `device` (None -> cpu); SimulationError if it is not usable here."""
    try:
        dev = torch.device("cpu" if device is None else device)
    except (RuntimeError, TypeError) as exc:
        raise SimulationError(f"device must be 'cpu' or 'cuda[:N]', not {device!r} ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SimulationError(f"device {device!r}: no CUDA device is available here "
                                  f"(torch {torch.__version__}, built with CUDA "
                                  f"{torch.version.cuda or 'none'})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SimulationError(f"device {device!r}: only {torch.cuda.device_count()} CUDA "
                                  f"device(s) here")
    elif dev.type != "cpu":
        raise SimulationError(f"device must be 'cpu' or 'cuda[:N]', not {device!r}")
    return dev


@contextlib.contextmanager
def on_device(device):
    dev = resolve(device)
    if dev.type == "cpu":
        yield dev
        return
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")  # no TF32
    try:
        with torch.device(dev):
            yield dev
    finally:
        torch.set_float32_matmul_precision(precision)


def conv2d_gemm(x, W, stride=(1, 1), padding=(0, 0), groups=1):
    """F.conv2d(x, W, stride, padding, groups=groups) as im2col + batched matrix product.
    x (B, C, H, W), W (Cout, C/groups, kh, kw), same dtype."""
    B, C, H, Wd = x.shape
    cout, cg, kh, kw = W.shape
    cols = F.unfold(x, (kh, kw), padding=padding, stride=stride)          # (B, C*kh*kw, L)
    Ho = (H + 2 * padding[0] - kh) // stride[0] + 1
    Wo = (Wd + 2 * padding[1] - kw) // stride[1] + 1
    cols = cols.reshape(B, groups, cg * kh * kw, Ho * Wo)
    w = W.reshape(groups, cout // groups, cg * kh * kw)
    out = torch.matmul(w.unsqueeze(0), cols)                              # (B, g, cout/g, L)
    return out.reshape(B, cout, Ho, Wo)
