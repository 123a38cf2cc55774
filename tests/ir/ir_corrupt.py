"""Seeded corruptions of a valid IR file, for the loader fuzz test.

`cases(seed)` returns (label, bytes, must_fail) for every kind of damage the loader must
survive: byte flips, truncation, ZIP tricks (unknown compression method, encryption flags,
bombs with true and lying sizes, ZIP64, oversized directories, duplicate members), .npy tricks
(huge declared shapes, wrong dtype, pickled objects, values outside the declared bits) and
header.json mutations (wrong types, null, missing keys, Infinity/NaN, deep nesting, lists for
objects, bad strides, huge shapes, bits mismatches, bad edges). `must_fail` is False only for
byte flips, which may hit bytes no reader looks at (then the file must load unchanged).
"""

import copy
import io
import json
import random
import struct
import zipfile
import zlib

import numpy as np

from hwsnn import ir

__all__ = ["base_graph", "base_file", "cases", "zip_bytes", "deflate", "bomb"]


def base_graph():
    """A valid graph holding every node type, several array dtypes and both delays."""
    rng = np.random.default_rng(7)
    W = lambda shape, m: np.clip(rng.integers(-m, m + 1, shape), -m, m)
    nodes = {
        "in": ir.Source((2, 6, 6), encoding="analog", R=2, x_bits=6),
        "c": ir.Conv2d(np.concatenate([W((3, 1, 3, 3), 7), np.full((1, 1, 3, 3), 7)]),
                       stride=(1, 1), padding=(1, 1), groups=2, w_bits=4),
        "n1": ir.STBIF((4, 6, 6), theta=rng.integers(2, 9, (4, 1, 1)), v0=1,
                       bias=np.array([-5, 0, 7, 3]).reshape(4, 1, 1), bias_R=2, s_min=-1, s_max=3,
                       v_bits=12, s_bits=4),
        "p": ir.SumPool2d(kernel=(2, 2), stride=(2, 2)),
        "n2": ir.IF((4, 3, 3), theta=3, v0=1, bias=0, bias_R=1, s_max=4, v_bits=16, s_bits=8),
        "f": ir.Flatten(),
        "d": ir.Dense(W((5, 36), 100), w_bits=8),
        "n3": ir.CaLIF((5,), theta=rng.integers(4, 9, (5,)), leak=[1, -1, 0, 2, 0], T=4, s_max=6,
                       gate=True, v_bits=16, s_bits=8),
        "d2": ir.Dense(W((5, 5), 9000), w_bits=16),
        "sc": ir.Scale(np.array([2, -1, 3, 1, 1]), w_bits=3),
        "n4": ir.ILIF((5,), theta=np.array([100, 5000, 69999, 300, 4000]), T=3, bias=[1, 2, 3, 4, 5],
                      v_bits=24),
        "d3": ir.Dense(W((3, 5), 7), w_bits=4),
        "out": ir.Readout((3,), v_bits=20, horner=False),
        "dq": ir.Dense(2 * W((4, 5), 100), w_bits=9, w_exp=-2),
        "cu": ir.CUBALIF((4,), vth=300, du=4095, dv=17, bias_mant=[-4096, 0, 5, 4095],
                         bias_exp=np.array([7, 0, 3, 1]), v_bits=24, s_bits=16),
    }
    edges = [ir.Edge("in", "c", 1), ir.Edge("c", "n1"), ir.Edge("n1", "p"), ir.Edge("p", "n2"),
             ir.Edge("n2", "f", 1), ir.Edge("f", "d"), ir.Edge("d", "n3"), ir.Edge("n3", "d2", 1),
             ir.Edge("n3", "sc"), ir.Edge("d2", "n4"), ir.Edge("sc", "n4"), ir.Edge("n4", "d3"),
             ir.Edge("d3", "out"), ir.Edge("n3", "dq", 1), ir.Edge("dq", "cu")]
    return ir.Graph(nodes, edges, "fuzz-base", {"note": "every node type", "levels": [1, 2]})


def base_file(tmp):
    return ir.save(base_graph(), tmp / "base.hwir")


def deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def bomb(prefix, mib, fill=b"\0"):
    """Raw deflate stream of `prefix` then `mib` MiB of `fill`, built in milliseconds: after a
    full flush every MiB compresses to the same independent block, so it is repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = fill * (1 << 20)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    seg = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    seg2 = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    assert seg == seg2  # independent blocks: safe to repeat
    return head + seg * mib + c.flush()


def member(name, payload, method=8, flags=0, usize=None, crc=None, data=None):
    return {"name": name, "method": method, "flags": flags,
            "data": data if data is not None else (deflate(payload) if method == 8 else payload),
            "usize": len(payload) if usize is None else usize,
            "crc": zlib.crc32(payload) if crc is None else crc, "cd_name": name}


def zip_bytes(members, comment=b"", cd_size=None, zip64_locator=False):
    """A ZIP archive written by hand, so that every field can lie."""
    out, cd = bytearray(), bytearray()
    for m in members:
        name, cd_name = m["name"].encode(), m["cd_name"].encode()
        off = len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, m["flags"], m["method"], 0, 0,
                           m["crc"], len(m["data"]), m["usize"] & 0xFFFFFFFF, len(name), 0)
        out += name + m["data"]
        cd += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, m["flags"], m["method"], 0, 0,
                          m["crc"], len(m["data"]), m["usize"] & 0xFFFFFFFF, len(cd_name),
                          0, 0, 0, 0, 0, off) + cd_name
    cd_off = len(out)
    out += cd
    if zip64_locator:
        out += struct.pack("<4sLQL", b"PK\x06\x07", 0, len(out), 1)
    n = len(members)
    out += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n,
                       len(cd) if cd_size is None else cd_size, cd_off, len(comment)) + comment
    return bytes(out)


def _read(path):
    with zipfile.ZipFile(path) as zf:
        return [(n, zf.read(n)) for n in zf.namelist()]


def _npy(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_raw(header_text, data=b"", version=(1, 0)):
    h = header_text.encode("latin1")
    if version == (1, 0):
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data
    return b"\x93NUMPY" + bytes(version) + struct.pack("<I", len(h)) + h + data


# --- header.json mutations -------------------------------------------------------------------

BAD_VALUES = ["1", 1.5, 8.5, True, False, None, [], {}, "x", 2 ** 70, -(2 ** 70), [1], -1, 0]


def _paths(obj, path=()):
    """Every (path, value) inside a JSON value, depth first."""
    yield path, obj
    if isinstance(obj, dict):
        for k in obj:
            yield from _paths(obj[k], path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, path + (i,))


def _set(obj, path, value):
    for p in path[:-1]:
        obj = obj[p]
    obj[path[-1]] = value


def _delete(obj, path):
    for p in path[:-1]:
        obj = obj[p]
    del obj[path[-1]]


def _param_mutations(header, rng):
    """(label, header) with one param given a value of the wrong kind or out of range."""
    out = []
    for i, node in enumerate(header["nodes"]):
        for pname, value in node["params"].items():
            flag = isinstance(value, bool)
            bad = [v for v in BAD_VALUES if not (flag and isinstance(v, bool))]
            if pname == "s_min":
                bad = [v for v in bad if v not in (-1, 0)]
            if pname in ("w_exp", "du", "dv", "vth"):
                bad = [v for v in bad if v not in (-1, 0)]  # valid exponents, decays, thresholds
            if pname == "s_max" or (pname == "T" and node["type"] == "Source"):
                bad = [v for v in bad if v != 0]  # 0 is a valid s_max and analog T
            for v in rng.sample(bad, 3):
                h = copy.deepcopy(header)
                h["nodes"][i]["params"][pname] = v
                out.append((f"param {node['name']}.{pname}={v!r}", h))
    return out


def _structural_mutations(header):
    H = lambda: copy.deepcopy(header)
    idx = {n["name"]: i for i, n in enumerate(header["nodes"])}
    m = []

    def mut(label, fn, whole=False):
        h = H()
        r = fn(h)
        m.append((label, r if whole else h))

    c, n1, d = idx["c"], idx["n1"], idx["d"]
    mut("stride 0", lambda h: _set(h, ("nodes", c, "params", "stride"), [0, 1]))
    mut("stride -1", lambda h: _set(h, ("nodes", c, "params", "stride"), [1, -1]))
    mut("stride scalar", lambda h: _set(h, ("nodes", c, "params", "stride"), 1))
    mut("padding -1", lambda h: _set(h, ("nodes", c, "params", "padding"), [-1, 0]))
    mut("padding huge", lambda h: _set(h, ("nodes", c, "params", "padding"), [60000, 60000]))
    mut("groups 0", lambda h: _set(h, ("nodes", c, "params", "groups"), 0))
    mut("groups 3", lambda h: _set(h, ("nodes", c, "params", "groups"), 3))
    mut("pool kernel 0", lambda h: _set(h, ("nodes", idx["p"], "params", "kernel"), [0, 2]))
    mut("pool stride 0", lambda h: _set(h, ("nodes", idx["p"], "params", "stride"), [2, 0]))
    mut("pool kernel 3 items", lambda h: _set(h, ("nodes", idx["p"], "params", "kernel"), [2, 2, 2]))
    for shape in ([1.5, 6, 6], [2 ** 40], [65536, 65536], [], [2, 6, 6, 1, 1, 1, 1, 1, 1], [2, 0, 6],
                  [2, -6, 6], "2,6,6", None, [True, 6, 6]):
        mut(f"source shape {shape!r}", lambda h, s=shape: _set(h, ("nodes", 0, "params", "shape"), s))
    mut("neuron shape mismatch", lambda h: _set(h, ("nodes", n1, "params", "shape"), [4, 6, 5]))
    for shape in ([10 ** 13], [3, 4], [4, 1, 1, 1], [1.5], None, [0], [2 ** 25, 2], "x"):
        mut(f"array shape {shape!r}", lambda h, s=shape: _set(h, ("nodes", d, "arrays", "W", "shape"), s))
    for bits in (16, 4, 64, "8", None, 8.0, True):
        mut(f"array bits {bits!r}", lambda h, b=bits: _set(h, ("nodes", d, "arrays", "W", "bits"), b))
    mut("w_bits 2 (values do not fit)", lambda h: (_set(h, ("nodes", c, "params", "w_bits"), 2),
                                                   _set(h, ("nodes", c, "arrays", "W", "bits"), 2)))
    mut("v_bits 17 (theta does not fit)", lambda h: [_set(h, ("nodes", idx["n4"], *p), 17) for p in (
        ("params", "v_bits"), ("arrays", "theta", "bits"), ("arrays", "bias", "bits"))])
    mut("s_max over s_bits", lambda h: _set(h, ("nodes", n1, "params", "s_max"), 100))
    mut("s_min 1", lambda h: _set(h, ("nodes", n1, "params", "s_min"), 1))
    # the values the first fuzz found coerced or crashing, always present
    for v in ("1", 1.5, None):
        mut(f"R {v!r}", lambda h, v=v: _set(h, ("nodes", 0, "params", "R"), v))
    for v in (None, 8.5, "3"):
        mut(f"s_max {v!r}", lambda h, v=v: _set(h, ("nodes", n1, "params", "s_max"), v))
    mut("R 0", lambda h: _set(h, ("nodes", 0, "params", "R"), 0))
    mut("R huge", lambda h: _set(h, ("nodes", 0, "params", "R"), 10 ** 9))
    mut("rate T 0", lambda h: _set(h, ("nodes", 0, "params", "encoding"), "rate"))
    mut("encoding unknown", lambda h: _set(h, ("nodes", 0, "params", "encoding"), "isi"))
    mut("ILIF T 0", lambda h: _set(h, ("nodes", idx["n4"], "params", "T"), 0))
    mut("ILIF T 1000", lambda h: _set(h, ("nodes", idx["n4"], "params", "T"), 1000))
    mut("unknown param", lambda h: _set(h, ("nodes", d, "params", "bias"), 1))
    mut("unknown array", lambda h: _set(h, ("nodes", d, "arrays", "b"),
                                        {"key": "d.b", "shape": [5], "bits": 8}))
    mut("array key reused", lambda h: _set(h, ("nodes", idx["d3"], "arrays", "W", "key"), "d.W"))
    mut("array key swapped", lambda h: (_set(h, ("nodes", idx["d3"], "arrays", "W", "key"), "d2.W"),
                                        _set(h, ("nodes", idx["d2"], "arrays", "W", "key"), "d3.W")))
    mut("array key empty", lambda h: _set(h, ("nodes", d, "arrays", "W", "key"), ""))
    mut("array key missing member", lambda h: _set(h, ("nodes", d, "arrays", "W", "key"), "zz"))
    mut("duplicate node name", lambda h: _set(h, ("nodes", idx["n2"], "name"), "n1"))
    mut("empty node name", lambda h: _set(h, ("nodes", idx["n2"], "name"), ""))
    mut("node name int", lambda h: _set(h, ("nodes", idx["n2"], "name"), 5))
    mut("node name newline", lambda h: _set(h, ("nodes", idx["n2"], "name"), "a\nb"))
    for t in ("LSTM", None, "dense", 3, "Node"):
        mut(f"type {t!r}", lambda h, t=t: _set(h, ("nodes", d, "type"), t))
    for delay in (2, -1, "0", 0.5, True, None, [0]):
        mut(f"delay {delay!r}", lambda h, x=delay: _set(h, ("edges", 0, "delay"), x))
    mut("delay on synapse edge", lambda h: _set(h, ("edges", 1, "delay"), 1))
    mut("edge to unknown node", lambda h: _set(h, ("edges", 0, "dst"), "nowhere"))
    mut("edge src list", lambda h: _set(h, ("edges", 0, "src"), ["in"]))
    mut("duplicate edge", lambda h: h["edges"].append(dict(h["edges"][10])))
    mut("cycle", lambda h: h["edges"].append({"src": "n4", "dst": "d", "delay": 0}))
    mut("edge into source", lambda h: h["edges"].append({"src": "d3", "dst": "in", "delay": 0}))
    mut("edge from readout", lambda h: h["edges"].append({"src": "out", "dst": "sc", "delay": 0}))
    mut("neuron to neuron", lambda h: h["edges"].append({"src": "n3", "dst": "n4", "delay": 0}))
    mut("synapse two inputs", lambda h: h["edges"].append({"src": "n1", "dst": "d", "delay": 0}))
    mut("dangling synapse", lambda h: h["edges"].pop(12))
    mut("neuron without input", lambda h: h["edges"].pop(6))
    mut("no edges", lambda h: _set(h, ("edges",), []))
    mut("no readout", lambda h: (h["nodes"].pop(idx["out"]), h["edges"].pop(12)))
    mut("format", lambda h: _set(h, ("format",), "hwsnn"))
    for v in ("1", True, 2, 1.0, None):
        mut(f"version {v!r}", lambda h, v=v: _set(h, ("version",), v))
    mut("name int", lambda h: _set(h, ("name",), 7))
    mut("meta list", lambda h: _set(h, ("meta",), [1]))
    mut("nodes dict", lambda h: _set(h, ("nodes",), {"a": 1}))
    mut("nodes empty", lambda h: _set(h, ("nodes",), []))
    mut("edges null", lambda h: _set(h, ("edges",), None))
    mut("extra top key", lambda h: _set(h, ("extra",), 1))
    mut("header list", lambda h: [h], whole=True)
    mut("header null", lambda h: None, whole=True)
    mut("arrays list", lambda h: _set(h, ("nodes", d, "arrays"), [h["nodes"][d]["arrays"]["W"]]))
    mut("params list", lambda h: _set(h, ("nodes", d, "params"), [["w_bits", 8]]))
    mut("node entry list", lambda h: _set(h, ("nodes", d), list(h["nodes"][d].items())))
    mut("array ref list", lambda h: _set(h, ("nodes", d, "arrays", "W"), ["d.W", [5, 36], 8]))
    mut("edge list", lambda h: _set(h, ("edges", 0), ["in", "c", 1]))
    return m


def _header_cases(header, rng):
    out = _param_mutations(header, rng) + _structural_mutations(header)
    # delete every key once, at every level that has one
    for path, value in list(_paths(header)):
        if path and isinstance(path[-1], str) and not (len(path) > 1 and path[-2] == "meta"):
            h = copy.deepcopy(header)
            _delete(h, path)
            out.append((f"missing key {'/'.join(map(str, path))}", h))
    return [(label, json.dumps(h).encode()) for label, h in out]


def _text_cases(header):
    """Mutations that only exist as JSON text."""
    text = json.dumps(header)
    out = []
    for token in ("Infinity", "-Infinity", "NaN"):
        out.append((f"{token} in a shape", text.replace('"shape": [2, 6, 6]', f'"shape": [{token}, 6, 6]', 1)))
        out.append((f"{token} as R", text.replace('"R": 2', f'"R": {token}', 1)))
    out.append(("1e400 in a shape", text.replace('"shape": [2, 6, 6]', '"shape": [1e400, 6, 6]', 1)))
    out.append(("5000-digit int", text.replace('"R": 2', '"R": ' + "9" * 5000, 1)))
    for depth in (65, 200, 999, 5000, 200000):
        nested = "[" * depth + "]" * depth
        out.append((f"meta nested {depth}", text.replace('"levels": [1, 2]', f'"levels": {nested}', 1)))
    out.append(("R nested 3000", text.replace('"R": 2', '"R": ' + "[" * 3000 + "]" * 3000, 1)))
    out.append(("duplicate JSON key", text.replace('"R": 2', '"R": 2, "R": 1', 1)))
    out.append(("truncated JSON", text[: len(text) // 2]))
    out.append(("empty header", ""))
    out.append(("trailing garbage", text + " x"))
    out.append(("not JSON", "format = hwsnn-ir"))
    cases = [(label, t.encode()) for label, t in out]
    cases.append(("header not UTF-8", text.encode().replace(b"fuzz-base", b"fuzz-\xff\xfe", 1)))
    cases.append(("header UTF-16", text.encode("utf-16")))
    return cases


def _member_cases(members):
    """(label, members) with one .npy member replaced or the member list changed."""
    arrays = dict(members)
    key = "d.W.npy"
    W = np.load(io.BytesIO(arrays[key]), allow_pickle=False)
    hostile = io.BytesIO()
    np.save(hostile, np.array([object()], dtype=object), **{"allow_pickle": True})
    d2 = np.load(io.BytesIO(arrays["c.W.npy"]), allow_pickle=False)
    replace = {
        "npy int16": _npy(W.astype(np.int16)),
        "npy float64": _npy(W.astype(np.float64)),
        "npy uint8": _npy(W.astype(np.uint8)),
        "npy bool": _npy(W != 0),
        "npy pickled object": hostile.getvalue(),
        "npy shape 10^13": _npy_raw("{'descr': '|i1', 'fortran_order': False, 'shape': (10000000000000,), }"),
        "npy shape swapped": _npy(np.ascontiguousarray(W.T)),
        "npy truncated data": arrays[key][:-7],
        "npy trailing data": arrays[key] + b"\0" * 9,
        "npy empty": b"",
        "npy bad magic": b"\x93NUMPX" + arrays[key][6:],
        "npy version 3": b"\x93NUMPY\x03\x00" + arrays[key][8:],
        "npy header length 60000": b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) + arrays[key][10:],
        "npy header 2.0 length 2^31": _npy_raw("", version=(2, 0))[:8] + struct.pack("<I", 2 ** 31),
        "npy header not a dict": _npy_raw("[1, 2, 3]" + " " * 50 + "\n"),
        "npy header nested": _npy_raw("{'descr': " + "(" * 150 + ")" * 150 + "}\n"),
        "npy header nested 250": _npy_raw("{'descr': " + "(" * 250 + ")" * 250 + "}\n"),
        "npy header python2": _npy_raw("{'descr': '|i1', 'fortran_order': False, 'shape': (5L, 36L), }\n"),
        "npy fortran_order str": _npy_raw("{'descr': '|i1', 'fortran_order': 'yes', 'shape': (5, 36), }\n",
                                          W.tobytes()),
        "npy descr struct": _npy_raw("{'descr': [('a', '|i1')], 'fortran_order': False, 'shape': (5, 36), }\n",
                                     W.tobytes()),
        "npy descr subarray": _npy_raw("{'descr': ('|i1', (2,)), 'fortran_order': False, 'shape': (5, 36), }\n",
                                       W.tobytes() * 2),
        "values outside declared bits": _npy(np.full(d2.shape, 100, np.int8)),   # c has w_bits 4
    }
    out = []
    for label, data in replace.items():
        if data is None:
            continue
        target = "c.W.npy" if label == "values outside declared bits" else key
        out.append((label, [(n, data if n == target else b) for n, b in members]))
    out.append(("member missing", [(n, b) for n, b in members if n != key]))
    out.append(("header.json missing", [(n, b) for n, b in members if n != "header.json"]))
    out.append(("extra member", members + [("zz.npy", _npy(np.zeros(3, np.int8)))]))
    out.append(("extra text member", members + [("README", b"hi")]))
    out.append(("duplicate member", members + [(key, arrays[key])]))
    return out


def _zip_cases(members):
    """(label, bytes) for tricks at the ZIP level, written by hand."""
    def with_member(target, **kw):
        return [member(n, b, **kw) if n == target else member(n, b) for n, b in members]

    out = [("hand-written copy", zip_bytes([member(n, b) for n, b in members]), False)]
    for method in (1, 6, 9, 12, 14, 98, 99):
        for target in ("header.json", "d.W.npy"):
            out.append((f"method {method} on {target}", zip_bytes(with_member(target, method=method)), True))
    for flags in (0x1, 0x41, 0x20):
        for target in ("header.json", "n4.theta.npy"):
            out.append((f"flags {flags:#x} on {target}", zip_bytes(with_member(target, flags=flags)), True))
    arrays = dict(members)
    header = arrays["header.json"]
    # bombs: header.json that is valid JSON followed by 2 GiB of spaces; true and lying sizes
    hb = bomb(header, 2048, b" ")
    for usize, label in (((2048 << 20) + len(header), "true size"), (len(header), "lying size"),
                         (0, "size 0")):
        m = with_member("header.json", data=hb, usize=usize, crc=0)
        out.append((f"header bomb 2 GiB, {label}", zip_bytes(m), True))
    # an array member: its .npy header, then 2 GiB of zeros
    npy_head = _npy(np.zeros((5, 36), np.int8))[:-180]
    ab = bomb(npy_head, 2048)
    for usize, label in (((2048 << 20) + len(npy_head), "true size"), (len(npy_head) + 180, "lying size")):
        m = with_member("d.W.npy", data=ab, usize=usize, crc=0)
        out.append((f"array bomb 2 GiB, {label}", zip_bytes(m), True))
    # a .npy header that declares 2^31 int8 values, matching nothing in header.json
    big = _npy_raw("{'descr': '|i1', 'fortran_order': False, 'shape': (2147483648,), }\n")
    m = with_member("d.W.npy", data=bomb(big, 2048), usize=len(big) + (2048 << 20), crc=0)
    out.append(("array bomb with huge npy shape", zip_bytes(m), True))
    m = with_member("d.W.npy", data=bomb(big, 2048), usize=len(big) + 180, crc=0)
    out.append(("array bomb with huge npy shape, lying size", zip_bytes(m), True))
    # ZIP structure
    plain = [member(n, b) for n, b in members]
    out.append(("central directory size 2^31", zip_bytes(plain, cd_size=2 ** 31), True))
    out.append(("central directory size 0", zip_bytes(plain, cd_size=0), True))
    out.append(("ZIP64 locator", zip_bytes(plain, zip64_locator=True), True))
    many = plain + [member(f"x{i:05d}.npy", b"", method=0) for i in range(30000)]
    out.append(("30000 members", zip_bytes(many), True))
    renamed = [dict(m, cd_name="other.npy") if m["name"] == "d.W.npy" else m for m in plain]
    out.append(("local and central names differ", zip_bytes(renamed), True))
    out.append(("comment with a fake end record", zip_bytes(plain, comment=b"PK\x05\x06" + b"\0" * 30), True))
    out.append(("bad CRC", zip_bytes(with_member("d.W.npy", crc=1)), True))
    out.append(("stored with wrong size", zip_bytes(with_member("d.W.npy", method=0, usize=10 ** 6)), True))
    out.append(("deflate data garbage", zip_bytes(with_member("d.W.npy", data=b"\xff" * 200)), True))
    out.append(("empty file", b"", True))
    out.append(("text file", b"this is not a zip file\n" * 10, True))
    out.append(("only an end record", struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0, 0, 0, 0, 0), True))
    return out


def cases(tmp, seed=0, flips=80, truncations=30, cuts=30):
    """Every corruption case: [(label, bytes, must_fail)]."""
    rng = random.Random(seed)
    data = open(base_file(tmp), "rb").read()
    members = _read(tmp / "base.hwir")
    header = json.loads(dict(members)["header.json"])
    rezip = lambda ms: zip_bytes([member(n, b) for n, b in ms])
    out = []
    for i in range(flips):
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        out.append((f"flip #{i}", bytes(b), False))
    for i in range(truncations):
        out.append((f"truncate #{i}", data[: rng.randrange(len(data))], True))
    for i in range(cuts):  # a slice cut out of the middle: the end record survives
        a = rng.randrange(len(data) - 30)
        out.append((f"cut #{i}", data[:a] + data[a + rng.randint(1, 2000):], True))
    for label, text in _header_cases(header, rng) + _text_cases(header):
        ms = [(n, text if n == "header.json" else b) for n, b in members]
        out.append((label, rezip(ms), True))
    for label, ms in _member_cases(members):
        out.append((label, rezip(ms), True))
    out += _zip_cases(members)
    return out
