"""The digits set-up the methods share: the input quantization and `compile_fit`, the trained
method weights (safetensors files in hwsnn/data/methods/, made by scripts/train_methods.py: one
QANN state dict, or several under "T<k>." prefixes, with JSON metadata {"method", "activation",
"levels", "kwargs", ...}), and the QANN training loops."""

import json
import os
from importlib import resources

import numpy as np
import torch
from torch import nn

from ..compile import compile_qann
from ..convert import convert, finetune, swap_activations
from ..errors import CompileError, ConversionError

__all__ = ["SCALE", "RANGE", "compile_fit", "encode_levels", "identity", "save_state", "load_state", "methods_dir", "digits_loader", "train_qann", "accuracy", "load_method_qann", "save_method_qann",
           "ACT_KW"]


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


# --- trained method weights ------------------------------------------------------------

def methods_dir():
    """Folder of the bundled method weights."""
    return resources.files("hwsnn.data").joinpath("methods")


def save_state(path, tensors, meta):
    """Write {name: tensor} and `meta` (JSON-able dict) to `path`, atomically."""
    from safetensors.torch import save_file

    t = {k: v.detach().contiguous().clone() for k, v in tensors.items()}
    tmp = f"{path}.tmp{os.getpid()}"
    save_file(t, tmp, metadata={"hwsnn": json.dumps(meta)})
    os.chmod(tmp, 0o644)          # safetensors creates the file owner-only; these are shipped
    os.replace(tmp, path)


def load_state(name):
    """({name: tensor}, meta) of bundled file `name` (e.g. "qcfs.safetensors") or a path."""
    from safetensors import safe_open

    path = name if os.path.isfile(str(name)) else methods_dir().joinpath(name)
    with resources.as_file(path) as p:
        if not os.path.isfile(p):
            raise ConversionError(f"method weights '{p}' do not exist: run scripts/train_methods.py")
        with safe_open(str(p), framework="pt") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta = json.loads((f.metadata() or {}).get("hwsnn", "{}"))
    return tensors, meta


# --- training ----------------------------------------------------------------------------

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
