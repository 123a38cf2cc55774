"""50 corrupted or hostile NIR files (truncated, not HDF5, wrong types, huge declared shapes,
missing keys, links out of the file, bad graphs), written into a folder: `make_corpus(folder)`
returns [(name, path)]. Built with h5py from a valid small graph (nirfiles.small_graph)."""

import os

import h5py
import numpy as np

from nirfiles import small_graph, write_nir

__all__ = ["make_corpus"]


def _edit(path, fn):
    with h5py.File(path, "r+") as f:
        fn(f)


def _replace(key, make):
    def fn(f):
        g = f["node/nodes"]
        node, _, leaf = key.partition("/")
        del g[node][leaf]
        make(g[node], leaf)
    return fn


def _hostile():
    """(name, edit of the valid file) pairs."""
    S = h5py.string_dtype()
    n = "node/nodes"
    yield "missing version", lambda f: f.__delitem__("version")
    yield "version int", lambda f: (f.__delitem__("version"), f.create_dataset("version", data=[1, 2]))
    yield "missing node", lambda f: f.__delitem__("node")
    yield "node is dataset", lambda f: (f.__delitem__("node"), f.create_dataset("node", data=1))
    yield "graph type Foo", lambda f: (f["node"].__delitem__("type"),
                                       f["node"].create_dataset("type", data="Foo", dtype=S))
    yield "graph type int", lambda f: (f["node"].__delitem__("type"),
                                       f["node"].create_dataset("type", data=3))
    yield "missing nodes", lambda f: f["node"].__delitem__("nodes")
    yield "missing edges", lambda f: f["node"].__delitem__("edges")
    yield "edges float", lambda f: (f["node"].__delitem__("edges"),
                                    f["node"].create_dataset("edges", data=np.ones((5, 2))))
    yield "edges 3 columns", lambda f: (f["node"].__delitem__("edges"),
                                        f["node"].create_dataset("edges", data=np.array(
                                            [["a", "b", "c"]], dtype=object), dtype=S))
    yield "edge to missing node", lambda f: (f["node"].__delitem__("edges"),
                                             f["node"].create_dataset("edges", data=np.array(
                                                 [["input", "ghost"]], dtype=object), dtype=S))
    yield "node without type", lambda f: f[n]["lif1"].__delitem__("type")
    yield "unknown node type", _replace("lif1/type", lambda g, k: g.create_dataset(k, data="Delay", dtype=S))
    yield "weight string", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data="w", dtype=S))
    yield "weight 1-D", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data=np.ones(30)))
    yield "weight 5-D", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data=np.ones((1, 1, 5, 6, 1))))
    yield "weight NaN", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data=np.full((5, 6), np.nan)))
    yield "tau infinite", _replace("lif1/tau", lambda g, k: g.create_dataset(k, data=np.full(5, np.inf)))
    yield "huge declared weight", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, shape=(1 << 20, 1 << 20), dtype="f8", chunks=(1, 1024)))
    yield "huge Input shape", _replace("input/shape", lambda g, k: g.create_dataset(k, data=[10 ** 12]))
    yield "negative Input shape", _replace("input/shape", lambda g, k: g.create_dataset(k, data=[-6]))
    yield "huge declared edges", lambda f: (f["node"].__delitem__("edges"), f["node"].create_dataset(
        "edges", shape=(10 ** 8, 2), dtype=S, chunks=(1024, 2)))
    yield "1 MB fixed string type", _replace("lif1/type", lambda g, k: g.create_dataset(
        k, data=np.bytes_("LIF"), dtype="S1000000"))
    yield "2 MB vlen string type", _replace("lif1/type", lambda g, k: g.create_dataset(
        k, data="L" * (2 << 20), dtype=S))
    yield "external link", lambda f: (f.__delitem__("node"),
                                      f.__setitem__("node", h5py.ExternalLink("/etc/hostname", "/")))
    yield "soft link", lambda f: (f[n].__delitem__("fc1"),
                                  f[n].__setitem__("fc1", h5py.SoftLink("/nowhere")))
    yield "external storage", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, shape=(5, 6), dtype="f8", external=[("/dev/zero", 0, h5py.h5f.UNLIMITED)]))
    yield "compound dtype", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, data=np.zeros((5, 6), dtype=[("a", "f8"), ("b", "i4")])))
    yield "complex dtype", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data=np.ones((5, 6)) * 1j))
    yield "reference dtype", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, data=g.ref, dtype=h5py.ref_dtype))
    yield "vlen int dtype", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, shape=(2,), dtype=h5py.vlen_dtype(np.int32)))
    yield "null dataset", _replace("fc1/weight", lambda g, k: g.create_dataset(k, data=h5py.Empty("f8")))
    yield "too many nodes", lambda f: [f[n].create_group(f"x{i}") for i in range(4100)]
    yield "too many keys", lambda f: [f[n]["lif1"].create_dataset(f"k{i}", data=1.0) for i in range(40)]
    yield "gzip bomb", _replace("fc1/weight", lambda g, k: g.create_dataset(
        k, data=np.zeros((4096, 4096), dtype="f4"), compression="gzip", chunks=(256, 4096)))
    yield "nested graph", lambda f: f[n]["lif1"].create_group("nodes")
    yield "recurrent edge", lambda f: (f["node"].__delitem__("edges"), f["node"].create_dataset(
        "edges", data=np.array([["input", "fc1"], ["fc1", "lif1"], ["lif1", "fc2"], ["fc2", "lif2"],
                                ["lif2", "output"], ["lif2", "fc1"]], dtype=object), dtype=S))
    yield "shapes do not chain", _replace("fc2/weight", lambda g, k: g.create_dataset(k, data=np.ones((3, 4))))
    yield "type is a group", _replace("lif1/type", lambda g, k: g.create_group(k))


def make_corpus(folder):
    folder = str(folder)
    base = write_nir(os.path.join(folder, "base.nir"), *small_graph())
    data = open(base, "rb").read()
    out = []
    for frac in (0, 1, 7, 8, 64, 200, 0.25, 0.5, 0.75, -1):
        cut = len(data) + frac if frac == -1 else int(frac * len(data)) if isinstance(frac, float) else frac
        p = os.path.join(folder, f"trunc{cut}.nir")
        open(p, "wb").write(data[:cut])
        out.append((f"truncated at {cut}", p))
    rng = np.random.default_rng(0)
    for name, blob in (("random bytes", rng.bytes(4096)), ("text", b"not a NIR file\n"),
                       ("zip", b"PK\x03\x04" + bytes(100)),
                       ("hdf5 signature then garbage", data[:8] + rng.bytes(2000)),
                       ("superblock bytes flipped", data[:8] + bytes(b ^ 0xFF for b in data[8:40]) + data[40:])):
        p = os.path.join(folder, name.replace(" ", "_") + ".nir")
        open(p, "wb").write(blob)
        out.append((name, p))
    # found by fuzzing (one byte set to 229): a damaged variable-length string reference in
    # `edges` makes HDF5 allocate without bound, one byte after the `version` string makes it
    # loop; only the read's guard (memory cap, CPU deadline) stops them
    with h5py.File(base, "r") as f:
        spots = {"edges heap reference damaged": f["node/edges"].id.get_offset() + 147,
                 "byte after version damaged (HDF5 loops)": f["version"].id.get_offset() + 24}
    for name, at in spots.items():
        blob = bytearray(data)
        blob[at] = 229
        p = os.path.join(folder, name.split(" ")[0] + f"_{at}.nir")
        open(p, "wb").write(bytes(blob))
        out.append((name, p))
    for i, (name, fn) in enumerate(_hostile()):
        p = os.path.join(folder, f"h{i:02d}.nir")
        write_nir(p, *small_graph())
        _edit(p, fn)
        out.append((name, p))
    return out
