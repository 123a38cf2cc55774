"""IR file format (docs/ir-format.md): a ZIP archive holding `header.json` and one `.npy` per
integer array (so numpy's `np.load(path, allow_pickle=False)` opens it too). Never pickle.

`load` checks the header completely (every param's kind and range, every array ref) and the
graph with placeholder arrays of the declared shapes before it reads any array data, so no
member is read beyond the size the graph gives it. Every error names the file."""

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from ..errors import IRError, IRFormatError
from ._bits import dtype_for, fits, int_range
from ._graph import Edge, Graph
from ._header import parse_header, parse_json
from ._nodes import NODE_TYPES
from ._verify import verify
from ._zip import MAX_HEADER_BYTES, Archive

__all__ = ["save", "load", "to_dict", "from_dict", "FORMAT", "VERSION"]

FORMAT = "hwsnn-ir"
VERSION = 1


def _array_bits(node):
    return node.w_bits if hasattr(node, "w_bits") else node.v_bits


def _json_scalar(value):
    if isinstance(value, tuple):
        return [_json_scalar(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
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
            bits = _array_bits(node)
            arrays[key] = arr.astype(dtype_for(bits))
            entry["arrays"][field] = {"key": key, "shape": list(arr.shape), "bits": bits}
        nodes.append(entry)
    header = {
        "format": FORMAT, "version": VERSION, "name": graph.name, "meta": graph.meta,
        "nodes": nodes,
        "edges": [{"src": e.src, "dst": e.dst, "delay": e.delay} for e in graph.edges],
    }
    return header, arrays


def _graph(name, meta, specs, edges, arrays):
    nodes = {s.name: NODE_TYPES[s.tname](**s.params, **arrays(s)) for s in specs}
    return Graph(nodes, [Edge(*e) for e in edges], name, meta)


def _placeholders(spec):
    """Read-only arrays of the declared shapes (all ones: theta > 0, fits every width), in the
    dtype the node keeps (weights narrow), so that building the node allocates nothing."""
    cls = NODE_TYPES[spec.tname]
    narrow = dtype_for(spec.params["w_bits"] + 1) if "w_bits" in spec.params else np.int64
    return {f: np.broadcast_to(np.ones((), narrow if f in getattr(cls, "NARROW", ()) else np.int64),
                               shape) for f, (key, shape, dt) in spec.refs.items()}


def _check_values(spec, field, arr):
    key, shape, dtype = spec.refs[field]
    bits = spec.params["w_bits"] if "w_bits" in spec.params else spec.params["v_bits"]
    if not fits(arr, bits):
        lo, hi = int_range(bits)
        raise IRFormatError(f"node {spec.name!r}: array {field} ({key!r}) holds values in "
                            f"[{int(arr.min())}, {int(arr.max())}], outside its declared bits "
                            f"{bits} [{lo}, {hi}]")
    return arr


def _build(header, fetch, check_members=None):
    """Header dict -> verified Graph; `fetch(key, shape, dtype)` returns one stored array."""
    name, meta, specs, edges = parse_header(header)
    if check_members:
        check_members(specs)
    verify(_graph(name, meta, specs, edges, _placeholders))  # shapes, before reading data
    graph = _graph(name, meta, specs, edges, lambda s: {
        f: _check_values(s, f, fetch(*s.refs[f])) for f in s.refs})
    verify(graph)
    return graph


def _named(where, fn, *args):
    """Run fn; an IRError gets `where` (the file) in front of its message."""
    try:
        return fn(*args)
    except IRError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def from_dict(header, arrays, where="<memory>"):
    """Graph from a header dict and {key: array}, with every check `load` makes."""
    def fetch(key, shape, dtype):
        arr = arrays.get(key) if isinstance(arrays, dict) else None
        if not isinstance(arr, np.ndarray):
            raise IRFormatError(f"array {key!r} is missing")
        if arr.dtype.kind != "i" or arr.dtype.itemsize != dtype.itemsize:
            raise IRFormatError(f"array {key!r} has dtype {arr.dtype}; its declared bits need {dtype}")
        if arr.shape != shape:
            raise IRFormatError(f"array {key!r} has shape {list(arr.shape)}, header says {list(shape)}")
        return arr
    return _named(where, _build, header, fetch)


def _check_writable(data):
    """Refuse to write what `load` would refuse: the same header checks and size limits."""
    if len(data) > MAX_HEADER_BYTES:
        raise IRError(f"header.json would hold {len(data)} bytes, more than the "
                      f"{MAX_HEADER_BYTES} a header may hold")
    parse_header(parse_json(data))


def save(graph, path):
    """Verify `graph` and write it to `path` atomically (temp file + rename). A graph the
    loader would refuse (a name that is not a string, meta nested too deep, arrays beyond the
    file limits) raises IRError and writes nothing."""
    verify(graph)
    header, arrays = to_dict(graph)
    path = os.fspath(path)
    try:
        text = json.dumps(header, indent=1, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise IRError(f"{path}: graph name or meta cannot be stored as JSON ({exc})") from None
    _named(path, _check_writable, text.encode())
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".hwir-", dir=folder)
    mask = os.umask(0)  # mkstemp makes the file 0600: give it the mode a plain open would
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("header.json", text)
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


def _load(path):
    with Archive(path) as archive:
        def members(specs):
            wanted = {"header.json"}
            for s in specs:
                for field, (key, shape, dtype) in s.refs.items():
                    if f"{key}.npy" not in archive.infos:
                        raise IRFormatError(f"node {s.name!r}: array {key!r} is missing "
                                            f"(no member {key + '.npy'!r})")
                    wanted.add(f"{key}.npy")
            extra = [n for n in archive.names() if n not in wanted]
            if extra:
                raise IRFormatError(f"member {extra[0]!r} is not an array of header.json "
                                    f"({len(extra)} such member(s))")
        header = parse_json(archive.read_header())
        return _build(header, archive.read_array, members)


def load(path):
    """Read an IR file. Anything malformed, truncated or oversized raises IRFormatError (or
    IRError for a graph rule) whose message starts with the path; see docs/ir-format.md."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise IRFormatError(f"{path}: no such IR file")
    try:
        return _named(path, _load, path)
    except OSError as exc:  # unreadable file (permissions, I/O error)
        raise IRFormatError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
