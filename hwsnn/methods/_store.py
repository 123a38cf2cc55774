"""Trained method weights: safetensors files in hwsnn/data/methods/ (made by
scripts/train_methods.py). A file holds one QANN state dict (or several, one per T under
"T<k>." prefixes) and JSON metadata {"method", "activation", "levels", "kwargs", ...}."""

import json
import os
from importlib import resources

import torch

from ..errors import ConversionError

__all__ = ["save_state", "load_state", "methods_dir"]


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
