"""Bounded reader of NIR's HDF5 files: h5py only, every limit checked before a byte is read.

A NIR file holds `version` and a group `node` (type "NIRGraph") with `nodes/<name>/<key>`
datasets and `edges` (n, 2) strings. Before reading any dataset this module checks that it is
reached by a hard link (no external or soft links), is not virtual and has no external storage,
has a plain numeric or string dtype, at most 4 dimensions and a declared size within the limits
below. A file that breaks any of this is a `NIRError` naming the file, node and key.
"""

import math
import os

import numpy as np

from ..errors import NIRError

__all__ = ["read_file", "read_raw", "MAX_FILE_BYTES", "MAX_ELEMENTS", "MAX_NODES", "MAX_EDGES"]

MAX_FILE_BYTES = 64 << 20      # a file (and so any vlen string in it) is at most 64 MiB
MAX_ELEMENTS = 4 << 20         # all numeric datasets together: 4 Mi values (32 MiB as float64)
MAX_NODES = 4096
MAX_EDGES = 16384
MAX_KEYS = 32                  # datasets per node
MAX_NDIM = 4
MAX_NAME = 256                 # characters in a node name, a key or a type string


class _Budget:
    """Numeric values still allowed in this file."""

    def __init__(self):
        self.left = MAX_ELEMENTS

    def take(self, n, where):
        if n > self.left:
            raise NIRError(f"{where}: declares {n} values, more than the {MAX_ELEMENTS} a NIR file "
                           f"may hold in all")
        self.left -= n


def _child(group, key, where):
    """group[key] through a hard link only; None when absent."""
    import h5py

    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise NIRError(f"{where}/{key}: must be a hard link, not {type(link).__name__}")
    return group[key]


def _keys(group, where, limit):
    n = len(group)
    if n > limit:
        raise NIRError(f"{where}: holds {n} entries, more than {limit}")
    keys = list(group.keys())
    for k in keys:
        if not isinstance(k, str) or not k or len(k) > MAX_NAME:
            raise NIRError(f"{where}: entry names must be 1..{MAX_NAME} characters, not {k!r}")
    return keys


def _dataset(obj, where):
    import h5py

    if not isinstance(obj, h5py.Dataset):
        raise NIRError(f"{where}: must be a dataset, not a {type(obj).__name__}")
    if obj.is_virtual or obj.external:
        raise NIRError(f"{where}: virtual or external-storage datasets are not read")
    shape = obj.shape
    if shape is None:
        raise NIRError(f"{where}: is an empty (null) dataset")
    if len(shape) > MAX_NDIM:
        raise NIRError(f"{where}: must have at most {MAX_NDIM} dimensions, not shape {shape}")
    return obj, shape


def _string(group, key, where):
    """A scalar string dataset (vlen or fixed length, at most MAX_NAME characters)."""
    import h5py

    obj = _child(group, key, where)
    if obj is None:
        raise NIRError(f"{where}: missing key {key!r}")
    ds, shape = _dataset(obj, f"{where}/{key}")
    info = h5py.check_string_dtype(ds.dtype)
    fixed = ds.dtype.kind == "S"
    if (info is None and not fixed) or shape != ():
        raise NIRError(f"{where}/{key}: must be a scalar string, not {ds.dtype} of shape {shape}")
    if fixed and ds.dtype.itemsize > MAX_NAME:
        raise NIRError(f"{where}/{key}: string of {ds.dtype.itemsize} bytes, more than {MAX_NAME}")
    value = ds[()]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str) or len(value) > MAX_NAME:
        raise NIRError(f"{where}/{key}: must be a string of at most {MAX_NAME} characters")
    return value


def _numeric(ds, shape, where, budget):
    """Numeric dataset as a numpy array (float64 or int64), within the budget."""
    if ds.dtype.kind not in "fiub" or ds.dtype.itemsize > 8 or ds.dtype.fields is not None:
        raise NIRError(f"{where}: must hold numbers, not dtype {ds.dtype}")
    budget.take(math.prod(shape), where)
    arr = np.asarray(ds[()])
    if arr.shape != shape:
        raise NIRError(f"{where}: read shape {arr.shape}, declared {shape}")
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    return arr.astype(np.int64)


def _edges(group, where):
    import h5py

    obj = _child(group, "edges", where)
    if obj is None:
        raise NIRError(f"{where}: missing key 'edges'")
    ds, shape = _dataset(obj, f"{where}/edges")
    if shape == (0,):
        return []
    is_str = h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind == "S"
    if not is_str or len(shape) != 2 or shape[1] != 2:
        raise NIRError(f"{where}/edges: must be (n, 2) strings, not {ds.dtype} of shape {shape}")
    if shape[0] > MAX_EDGES:
        raise NIRError(f"{where}/edges: {shape[0]} edges, more than {MAX_EDGES}")
    if ds.dtype.kind == "S" and ds.dtype.itemsize > MAX_NAME:
        raise NIRError(f"{where}/edges: strings of {ds.dtype.itemsize} bytes, more than {MAX_NAME}")
    out = []
    for a, b in ds[()]:
        pair = tuple(v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in (a, b))
        if not all(isinstance(v, str) and len(v) <= MAX_NAME for v in pair):
            raise NIRError(f"{where}/edges: entries must be node names, not {pair!r}")
        out.append(pair)
    return out


def _node(group, where, budget):
    """{"type": str, key: array or str} of one node group (flat: no subgroups but metadata)."""
    import h5py

    node = {"type": _string(group, "type", where)}
    for key in _keys(group, where, MAX_KEYS):
        if key in ("type", "metadata"):
            continue
        obj = _child(group, key, where)
        if isinstance(obj, h5py.Group):
            if key == "nodes":
                raise NIRError(f"{where}: nested graphs (subgroup 'nodes') are not supported")
            inner = _child(obj, "input", f"{where}/{key}") if key == "input_type" else None
            if inner is not None:  # Flatten's {"input": shape}
                ds, shape = _dataset(inner, f"{where}/{key}/input")
                node[key] = _numeric(ds, shape, f"{where}/{key}/input", budget)
            continue  # other subgroups carry nothing the importer reads
        ds, shape = _dataset(obj, f"{where}/{key}")
        if h5py.check_string_dtype(ds.dtype) is not None or ds.dtype.kind == "S":
            node[key] = _string(group, key, where)
        else:
            node[key] = _numeric(ds, shape, f"{where}/{key}", budget)
    return node


def read_file(path):
    """{"version": str, "nodes": {name: {"type", key: array | str}}, "edges": [(src, dst)]}.

    NIRError (one line, naming the file) for anything that is not a bounded, flat NIR graph. The
    read runs in a child process with a deadline and a memory cap (`_guard`)."""
    from ._guard import guarded

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NIRError(f"NIR file '{path}' does not exist or is not a file")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise NIRError(f"NIR file '{path}' has {size} bytes, more than {MAX_FILE_BYTES}")
    return guarded(read_raw, path)


def read_raw(path):
    """read_file's work in this process: every bound checked, but no deadline."""
    import h5py

    budget = _Budget()
    try:
        with h5py.File(path, "r", locking=False) as f:
            version = _string(f, "version", f"NIR file '{path}'")
            root = _child(f, "node", f"NIR file '{path}'")
            where = f"NIR file '{path}': node"
            if not isinstance(root, h5py.Group):
                raise NIRError(f"NIR file '{path}': 'node' must be a group (the graph), not "
                               f"{type(root).__name__ if root is not None else 'missing'}")
            kind = _string(root, "type", where)
            if kind != "NIRGraph":
                raise NIRError(f"{where}: type must be 'NIRGraph', not {kind!r}")
            nodes_group = _child(root, "nodes", where)
            if not isinstance(nodes_group, h5py.Group):
                what = type(nodes_group).__name__ if nodes_group is not None else "missing"
                raise NIRError(f"{where}: 'nodes' must be a group, not {what}")
            nodes = {}
            for name in _keys(nodes_group, f"{where}/nodes", MAX_NODES):
                sub = _child(nodes_group, name, f"{where}/nodes")
                if not isinstance(sub, h5py.Group):
                    raise NIRError(f"{where}/nodes/{name}: must be a group, not "
                                   f"{type(sub).__name__}")
                nodes[name] = _node(sub, f"NIR file '{path}': node {name!r}", budget)
            edges = _edges(root, where)
    except NIRError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, UnicodeError,
            OverflowError, MemoryError, IndexError) as exc:
        msg = " ".join(str(exc).split())[:200]
        raise NIRError(f"NIR file '{path}' cannot be read as HDF5: {type(exc).__name__}: {msg}") \
            from None
    return {"version": version, "nodes": nodes, "edges": edges}
