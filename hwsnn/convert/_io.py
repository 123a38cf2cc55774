"""Weights files: a float model's state dict plus, optionally, its fine-tuned QANN.

Layout (safetensors): the float model's keys as they are, the QANN's keys under "qann.",
metadata {"levels": n, "input_scale": s_in, "input_range": "lo,hi", "pool": "max" or "avg"}
(a file without "pool" holds an average-pool QANN, as every file before exact max pooling). Also reads .pt/.pth
state dicts with torch.load(weights_only=True) (never unpickles code).
"""

import os

import torch

from ..errors import ConversionError
from ._trace import convert

__all__ = ["save_weights", "load_weights", "read_tensors"]

QANN_PREFIX = "qann."


def save_weights(path, model, qann=None, metadata=None):
    """Write `model` (and `qann`) to `path` (.safetensors), atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    if qann is not None:
        tensors.update({QANN_PREFIX + k: v.detach().contiguous().clone()
                        for k, v in qann.state_dict().items()})
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    if qann is not None:
        meta.setdefault("levels", str(qann.levels))
        meta.setdefault("pool", getattr(qann, "pool", "max"))
    tmp = f"{path}.tmp{os.getpid()}"
    save_file(tensors, tmp, metadata=meta)
    os.replace(tmp, path)


def read_tensors(path):
    """({name: tensor}, metadata dict) from a .safetensors or a torch state-dict file."""
    if not os.path.isfile(path):
        raise ConversionError(f"weights file '{path}' does not exist")
    if str(path).endswith(".safetensors"):
        from safetensors import safe_open
        try:
            with safe_open(path, framework="pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
        except Exception as exc:
            raise ConversionError(f"weights file '{path}' is not a readable safetensors file: {exc}") from exc
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConversionError(f"weights file '{path}' cannot be read by torch.load(weights_only=True): "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ConversionError(f"weights file '{path}' must hold a state dict of tensors")
    return obj, {}


def load_weights(model, path, input_shape, levels=None):
    """Load `path` into float `model`; return (model, qann, metadata). The QANN comes from the
    file's "qann." keys when present (fine-tuned), else it is None (convert and calibrate)."""
    tensors, meta = read_tensors(path)
    floats = {k: v for k, v in tensors.items() if not k.startswith(QANN_PREFIX)}
    try:
        model.load_state_dict(floats, strict=True)
    except RuntimeError as exc:
        raise ConversionError(f"weights file '{path}' does not match model {type(model).__name__}: "
                              f"{str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc}") from exc
    model.eval()
    qkeys = {k[len(QANN_PREFIX):]: v for k, v in tensors.items() if k.startswith(QANN_PREFIX)}
    if not qkeys:
        return model, None, meta
    n = int(meta.get("levels", levels or 8))
    if levels is not None and int(levels) != n:
        raise ConversionError(f"weights file '{path}' holds a QANN with {n} levels, not {levels}")
    qann = convert(model, input_shape, levels=n, pool=meta.get("pool", "avg"))  # files before "pool": avg
    try:
        qann.load_state_dict(qkeys, strict=True)
    except RuntimeError as exc:
        raise ConversionError(f"weights file '{path}': its QANN does not match the converted "
                              f"model: {exc}") from exc
    qann.eval()
    return model, qann, meta
