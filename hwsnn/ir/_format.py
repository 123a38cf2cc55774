"""IR file format (docs/ir-format.md): a ZIP archive holding `header.json` and one `.npy` per
integer array (so numpy's `np.load(path, allow_pickle=False)` opens it too). Never pickle."""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from ..errors import IRFormatError
from ._bits import dtype_for
from ._graph import Edge, Graph
from ._nodes import NODE_TYPES
from ._verify import verify

__all__ = ["save", "load", "to_dict", "from_dict", "FORMAT", "VERSION"]

FORMAT = "hwsnn-ir"
VERSION = 1


def _array_bits(node, field):
    for attr in ("w_bits", "v_bits"):
        if hasattr(node, attr):
            return getattr(node, attr)
    return 64


def _json_scalar(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def to_dict(graph):
    """(header dict, {array key: array}) for `graph`. Arrays are stored in the smallest signed
    dtype that holds their declared width."""
    nodes, arrays = [], {}
    for name, node in graph.nodes.items():
        entry = {"name": name, "type": node.type, "params": {}, "arrays": {}}
        for key, value in node.scalars().items():
            entry["params"][key] = _json_scalar(value)
        for field, arr in node.arrays().items():
            key = f"{name}.{field}"
            bits = _array_bits(node, field)
            arrays[key] = arr.astype(dtype_for(bits))
            entry["arrays"][field] = {"key": key, "shape": list(arr.shape), "bits": bits}
        nodes.append(entry)
    header = {
        "format": FORMAT, "version": VERSION, "name": graph.name, "meta": graph.meta,
        "nodes": nodes,
        "edges": [{"src": e.src, "dst": e.dst, "delay": e.delay} for e in graph.edges],
    }
    return header, arrays


def from_dict(header, arrays, where="<memory>"):
    def bad(msg):
        raise IRFormatError(f"{where}: {msg}")

    if not isinstance(header, dict) or header.get("format") != FORMAT:
        bad(f"format must be {FORMAT!r}, not {header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != VERSION:
        bad(f"version must be {VERSION}, not {header.get('version')!r}")
    nodes = {}
    try:
        for entry in header["nodes"]:
            name, tname = entry["name"], entry["type"]
            if tname not in NODE_TYPES:
                bad(f"node '{name}': unknown type {tname!r}; expected one of {sorted(NODE_TYPES)}")
            kwargs = dict(entry["params"])
            for field, ref in entry["arrays"].items():
                if ref["key"] not in arrays:
                    bad(f"node '{name}': array {ref['key']!r} is missing")
                arr = arrays[ref["key"]]
                if list(arr.shape) != list(ref["shape"]):
                    bad(f"node '{name}': array {ref['key']!r} has shape {list(arr.shape)}, "
                        f"header says {ref['shape']}")
                kwargs[field] = arr
            try:
                nodes[name] = NODE_TYPES[tname](**kwargs)
            except TypeError as exc:
                bad(f"node '{name}' ({tname}): {exc}")
        edges = [Edge(e["src"], e["dst"], int(e.get("delay", 0))) for e in header["edges"]]
    except (KeyError, TypeError) as exc:
        bad(f"malformed header: missing or wrong field {exc}")
    graph = Graph(nodes, edges, header.get("name", "net"), header.get("meta", {}))
    verify(graph)
    return graph


def save(graph, path):
    """Verify `graph` and write it to `path` atomically (temp file + rename)."""
    verify(graph)
    header, arrays = to_dict(graph)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hwir-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("header.json", json.dumps(header, indent=1))
            for key, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                zf.writestr(f"{key}.npy", buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load(path):
    """Read an IR file; IRFormatError naming the file on anything malformed or truncated."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise IRFormatError(f"{path}: no such IR file")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "header.json" not in names:
                raise IRFormatError(f"{path}: not an hwsnn IR file (no header.json)")
            header = json.loads(zf.read("header.json").decode("utf-8"))
            arrays = {}
            for name in names - {"header.json"}:
                if name.endswith(".npy"):
                    arrays[name[:-4]] = np.load(io.BytesIO(zf.read(name)), allow_pickle=False)
    except IRFormatError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise IRFormatError(f"{path}: not a readable hwsnn IR file (truncated or corrupt: {exc})") from None
    return from_dict(header, arrays, where=path)
