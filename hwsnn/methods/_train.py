"""Training of the method QANNs on digits (used by scripts/train_methods.py) and loading them."""

import numpy as np
import torch
from torch import nn

from ..convert import convert, finetune
from ..errors import ConversionError
from ._qann import swap_activations
from ._store import load_state, save_state

__all__ = ["digits_loader", "train_qann", "accuracy", "load_method_qann", "save_method_qann",
           "ACT_KW"]

ACT_KW = {"qcfs": {}, "sliprelu": {"c": 0.5, "delta": 0.0}}


def digits_loader(x, y, batch=64, shuffle=True, seed=0):
    ds = torch.utils.data.TensorDataset(torch.as_tensor(x, dtype=torch.float32) / 16, torch.as_tensor(y))
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=g)


@torch.no_grad()
def accuracy(model, x, y):
    if not isinstance(model, nn.Module):
        return float((model(torch.as_tensor(np.asarray(x), dtype=torch.float32) / 16).argmax(1).numpy()
                      == np.asarray(y)).mean())
    was = model.training
    model.eval()
    out = model(torch.as_tensor(np.asarray(x), dtype=torch.float32) / 16)
    model.train(was)
    return float((out.argmax(1).numpy() == np.asarray(y)).mean())


def train_qann(qann, loader, epochs, lr=1e-3, loss_fn=None):
    """Adam on every parameter (weights, biases, thresholds lambda), cross-entropy by default;
    lambda is kept >= 1e-3 after each step (the activations' `constrain`). Returns the
    per-epoch mean losses."""
    return finetune(qann, loader, epochs=epochs, lr=lr, progress=False, loss_fn=loss_fn)


def _skeleton(kind, levels, kwargs):
    from ..examples import DIGITS_INPUT_SHAPE, digits_cnn
    q = convert(digits_cnn(), DIGITS_INPUT_SHAPE, levels=levels, pool="avg")
    return swap_activations(q, kind, **kwargs) if kind != "qrelu" else q


def save_method_qann(path, qann, kind, kwargs, extra=None):
    meta = {"activation": kind, "levels": qann.levels, "kwargs": kwargs, **(extra or {})}
    save_state(path, qann.state_dict(), meta)


def load_method_qann(name, prefix=""):
    """The QANN stored in bundled `<name>.safetensors` (keys under `prefix`)."""
    tensors, meta = load_state(f"{name}.safetensors")
    return qann_from_state(tensors, meta, prefix)


def qann_from_state(tensors, meta, prefix=""):
    kind, levels, kw = meta["activation"], int(meta.get("levels", 8)), meta.get("kwargs", {})
    if prefix:
        levels = int(meta["per_T"][prefix.rstrip(".")]["levels"])
    q = _skeleton(kind, levels, kw)
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        q.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConversionError(f"method weights ({kind}, prefix {prefix!r}) do not match the digits "
                              f"QANN: {str(exc).splitlines()[0]}") from exc
    q.eval()
    return q
