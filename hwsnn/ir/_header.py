"""header.json: parse it (bounded, strict JSON) and check its layout before any array is read.

Every check runs in a fixed order (the file's own order, key lists sorted), so a malformed
header gives the same IRFormatError on every run. Messages do not name the file: `load` adds it.
"""

import json
import math

from ..errors import IRFormatError
from ._bits import dtype_for
from ._nodes import NODE_TYPES
from ._params import MAX_RANK, PARAMS, is_int, param_error, show

__all__ = ["parse_json", "parse_header", "NodeSpec", "MAX_DEPTH", "MAX_ARRAY_VALUES"]

MAX_DEPTH = 64                # nesting of JSON arrays/objects in header.json (meta included)
MAX_ARRAY_VALUES = 1 << 28    # values in all arrays of one file (VGG-16: 138 M; int8 weights: 256 MiB)

TOP_KEYS = ("edges", "format", "meta", "name", "nodes", "version")
NODE_KEYS = ("arrays", "name", "params", "type")
REF_KEYS = ("bits", "key", "shape")
EDGE_KEYS = ("delay", "dst", "src")


def _bad(msg):
    raise IRFormatError(msg)


def _no_constant(name):
    raise ValueError(f"{name} is not allowed in an IR header")


def _unique_keys(pairs):
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise ValueError(f"duplicate key {show(k)} in one JSON object")
        obj[k] = v
    return obj


def _depth(value):
    """Nesting depth of a parsed JSON value, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d)
            if d > MAX_DEPTH:
                return d
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def parse_json(data):
    """header.json bytes -> dict: UTF-8, no NaN/Infinity, no duplicate keys, depth <= MAX_DEPTH."""
    too_deep = f"header.json nests arrays/objects deeper than {MAX_DEPTH} levels"
    try:
        text = data.decode("utf-8")
        header = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError as exc:
        _bad(f"header.json is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except RecursionError:
        _bad(too_deep)
    except ValueError as exc:  # JSONDecodeError, our hooks, integers of > 4300 digits
        _bad(f"header.json is not valid JSON: {' '.join(str(exc).split())}")
    if _depth(header) > MAX_DEPTH:
        _bad(too_deep)
    return header


def _keys(what, obj, keys):
    """`obj` must be a JSON object with exactly `keys`."""
    if not isinstance(obj, dict):
        _bad(f"{what} must be an object with keys {list(keys)}, not {show(obj)}")
    missing = sorted(k for k in keys if k not in obj)
    if missing:
        _bad(f"{what}: missing key {show(missing[0])} (expected keys {list(keys)})")
    extra = sorted(k for k in obj if k not in keys)
    if extra:
        _bad(f"{what}: unknown key(s) {show(extra)} (expected keys {list(keys)})")


class NodeSpec:
    """One node entry of a checked header: params ready for the node class; array refs."""

    def __init__(self, name, tname, params, refs):
        self.name, self.tname, self.params, self.refs = name, tname, params, refs


def _widths(tname, params):
    """Declared width of the node's arrays: w_bits for synapses, v_bits for neurons."""
    return params["w_bits"] if "w_bits" in params else params.get("v_bits")


def _node(i, entry, keys_used, total):
    _keys(f"nodes[{i}]", entry, NODE_KEYS)
    name, tname = entry["name"], entry["type"]
    if not isinstance(name, str) or not name:
        _bad(f"nodes[{i}]: name must be a non-empty string, not {show(name)}")
    where = f"node {show(name)}"
    if not isinstance(tname, str) or tname not in NODE_TYPES:
        _bad(f"{where}: unknown type {show(tname)}; expected one of {sorted(NODE_TYPES)}")
    spec = PARAMS[tname]
    _keys(f"{where} ({tname}) params", entry["params"], tuple(sorted(spec)))
    params = {}
    for pname in sorted(spec):
        value = entry["params"][pname]
        err = param_error(tname, pname, value)
        if err:
            _bad(f"{where}: {pname} {err}")
        params[pname] = tuple(value) if isinstance(value, list) else value
    fields = NODE_TYPES[tname].ARRAYS
    _keys(f"{where} ({tname}) arrays", entry["arrays"], tuple(sorted(fields)))
    width = _widths(tname, params)
    refs = {}
    for field in fields:
        ref = entry["arrays"][field]
        _keys(f"{where}: array {field}", ref, REF_KEYS)
        key, shape, bits = ref["key"], ref["shape"], ref["bits"]
        if not isinstance(key, str) or not key:
            _bad(f"{where}: array {field} key must be a non-empty string, not {show(key)}")
        if key in keys_used:
            _bad(f"{where}: array {field} key {show(key)} is already used by {keys_used[key]}")
        keys_used[key] = f"node {show(name)} array {field}"
        if (not isinstance(shape, list) or len(shape) > MAX_RANK or
                not all(is_int(n) and 1 <= n <= MAX_ARRAY_VALUES for n in shape)):
            _bad(f"{where}: array {field} shape must be a list of at most {MAX_RANK} integers in "
                 f"[1, {MAX_ARRAY_VALUES}], not {show(shape)}")
        total[0] += math.prod(shape)
        if total[0] > MAX_ARRAY_VALUES:
            _bad(f"{where}: array {field} brings the file's arrays to {total[0]} values, more "
                 f"than the {MAX_ARRAY_VALUES} an IR file may hold")
        if not is_int(bits) or bits != width:
            _bad(f"{where}: array {field} declares bits {show(bits)}, expected the node's "
                 f"{'w_bits' if 'w_bits' in params else 'v_bits'} = {width}")
        refs[field] = (key, tuple(shape), dtype_for(bits))
    return NodeSpec(name, tname, params, refs)


def parse_header(header):
    """Check the header's layout, every param's kind and range and every array ref.
    Returns (name, meta, [NodeSpec], [(src, dst, delay)])."""
    if not isinstance(header, dict):
        _bad(f"header.json must hold a JSON object, not {show(header)}")
    if header.get("format") != "hwsnn-ir":
        _bad(f"format must be 'hwsnn-ir', not {show(header.get('format'))}")
    if not is_int(header.get("version")) or header["version"] != 1:
        _bad(f"version must be 1, not {show(header.get('version'))}")
    _keys("header.json", header, TOP_KEYS)
    if not isinstance(header["name"], str):
        _bad(f"name must be a string, not {show(header['name'])}")
    if not isinstance(header["meta"], dict):
        _bad(f"meta must be an object, not {show(header['meta'])}")
    nodes, edges = header["nodes"], header["edges"]
    if not isinstance(nodes, list) or not nodes:
        _bad(f"nodes must be a non-empty list, not {show(nodes)}")
    if not isinstance(edges, list):
        _bad(f"edges must be a list, not {show(edges)}")
    specs, index, keys_used, total = [], {}, {}, [0]
    for i, entry in enumerate(nodes):
        spec = _node(i, entry, keys_used, total)
        if spec.name in index:
            _bad(f"nodes[{i}]: name {show(spec.name)} is already used by nodes[{index[spec.name]}]")
        index[spec.name] = i
        specs.append(spec)
    out = []
    for i, e in enumerate(edges):
        _keys(f"edges[{i}]", e, EDGE_KEYS)
        for end in ("src", "dst"):
            if not isinstance(e[end], str):
                _bad(f"edges[{i}]: {end} must be a node name (string), not {show(e[end])}")
        if not is_int(e["delay"]) or e["delay"] not in (0, 1):
            _bad(f"edges[{i}]: delay must be 0 or 1, not {show(e['delay'])}")
        out.append((e["src"], e["dst"], e["delay"]))
    return header["name"], header["meta"], specs, out
