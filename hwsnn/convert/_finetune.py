"""Q-ReLU step-size calibration and a short quantization-aware fine-tuning loop."""

import math

import torch
from torch import nn

from ..errors import ConversionError
from ._qrelu import QReLU

__all__ = ["calibrate", "finetune", "evaluate"]


def _quantile(v, q):
    """float(torch.quantile(v.double(), q)) of 1-D `v` (linear interpolation between the two
    order statistics around rank q*(n-1)), found with kthvalue: O(n), no sort, no copy."""
    rank = q * (v.numel() - 1)
    lo, hi = math.floor(rank), math.ceil(rank)
    a = torch.kthvalue(v, lo + 1).values.double()
    b = a if hi == lo else torch.kthvalue(v, hi + 1).values.double()
    return float(torch.lerp(a, b, torch.tensor(rank - lo, dtype=torch.float64)))


@torch.no_grad()
def calibrate(qann, x, percentile=99.9):
    """Set every Q-ReLU's step s = percentile(pre-activation) / n (at most its ceiling / n, e.g.
    ReLU6's 6 / n), layer by layer on batch `x` (each layer sees the already-quantized outputs of
    the layers before it)."""
    was = qann.training
    qann.eval()
    x = torch.as_tensor(x, dtype=torch.float32)
    hooks = []

    def hook(mod, inp):
        v = inp[0].detach().flatten()
        v = v[v > 0][:1 << 24]
        top = _quantile(v, percentile / 100) if v.numel() else 1.0
        if getattr(mod, "ceiling", None) is not None:  # ReLU6: never clip above the model's own ceiling
            top = min(top, float(mod.ceiling))
        mod.scale.fill_(max(top, 1e-6) / mod.levels)

    for mod in qann.modules():
        if isinstance(mod, QReLU):
            hooks.append(mod.register_forward_pre_hook(hook))
    try:
        qann(x)
    finally:
        for h in hooks:
            h.remove()
        qann.train(was)
    return qann


def evaluate(model, loader):
    """Share of samples whose argmax equals the label, over (x, y) batches of `loader`."""
    was = model.training
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in loader:
            right += int((model(x).argmax(1) == y).sum())
            total += len(y)
    model.train(was)
    return right / max(total, 1)


def constrain(model):
    """Project every trainable quantizer back into its valid range after an optimizer step:
    each module that defines `constrain()` (QReLU: step s > 0; hwsnn.methods' thresholds)."""
    with torch.no_grad():
        for mod in model.modules():
            if mod is not model and hasattr(mod, "constrain"):
                mod.constrain()


def finetune(qann, loader, epochs=1, lr=1e-3, progress=True, loss_fn=None):
    """Quantization-aware fine-tuning: Adam on all parameters (weights, biases, Q-ReLU steps),
    cross-entropy by default, over `epochs` passes of `loader` ((x, y) batches). Returns the
    mean loss of each epoch. A tqdm bar shows progress unless `progress=False`."""
    from tqdm.auto import tqdm

    if epochs < 0 or lr <= 0:
        raise ConversionError(f"epochs must be >= 0 and lr > 0, not epochs={epochs}, lr={lr}")
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    opt = torch.optim.Adam(qann.parameters(), lr=lr)
    history = []
    qann.train()
    for epoch in range(epochs):
        total, n = 0.0, 0
        bar = tqdm(loader, desc=f"finetune {epoch + 1}/{epochs}", disable=not progress, leave=False)
        for x, y in bar:
            opt.zero_grad()
            loss = loss_fn(qann(x), y)
            loss.backward()
            opt.step()
            constrain(qann)
            total += loss.item() * len(y)
            n += len(y)
            bar.set_postfix(loss=f"{total / n:.4f}")
        history.append(total / max(n, 1))
    qann.eval()
    return history
