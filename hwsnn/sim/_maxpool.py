"""MaxPool2d (docs/ir-format.md, "MaxPool2d in detail"): exact max pooling over spike counts.

State: V = the input counts C (batch, *in_shape), S = the window maxima (batch, *shape).
Per step: C += x; M = max of C over each window (a position outside the input counts 0);
y = M - S; S = M. Max and +/- of integers are exact in float32 below 2^24 and in float64.
"""

import torch
import torch.nn.functional as F

__all__ = ["window_max", "init_maxpool", "step_maxpool"]


def window_max(node, C):
    """Max of counts C (batch, C, H, W) over each window of `node`; padding and the ceil-mode
    overhang are zeros appended around C, so every window lies inside the padded map."""
    _, H, W = node.in_shape
    _, Ho, Wo = node.shape
    (kh, kw), (sh, sw), (ph, pw) = node.kernel, node.stride, node.padding
    bottom = max(0, (Ho - 1) * sh + kh - H - 2 * ph)
    right = max(0, (Wo - 1) * sw + kw - W - 2 * pw)
    if ph or pw or bottom or right:
        C = F.pad(C, (pw, pw + right, ph, ph + bottom))  # zeros
    return F.max_pool2d(C, (kh, kw), (sh, sw))[:, :, :Ho, :Wo]


def init_maxpool(node, batch, dtype):
    return {"V": torch.zeros((batch, *node.in_shape), dtype=dtype),
            "S": torch.zeros((batch, *node.shape), dtype=dtype), "dtype": dtype}


def step_maxpool(node, st, I, t, ctx):
    """I: what the input edge carries this step (None: nothing). Returns y, or None when no
    output moved in any sample (downstream synapses skip)."""
    if I is None:
        st["changed"] = torch.zeros(st["V"].shape[0], dtype=torch.bool, device=st["V"].device)
        return None
    st["V"].add_(I)
    M = window_max(node, st["V"])
    y = M - st["S"]
    st["S"] = M
    st["changed"] = (I != 0).flatten(1).any(1) | (y != 0).flatten(1).any(1)
    return y if bool(st["changed"].any()) and bool((y != 0).any()) else None
