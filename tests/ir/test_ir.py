"""IR: every node type round-trips through the file format; verify() names what is wrong."""

import dataclasses
import json
import zipfile

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.errors import IRError, IRFormatError


def _example(cls):
    """A valid instance of every node class (found by introspection below)."""
    rng = np.random.default_rng(0)
    return {
        ir.Source: ir.Source((2, 4, 4), encoding="analog", R=3, x_bits=6),
        ir.Dense: ir.Dense(rng.integers(-100, 100, (3, 5)), w_bits=8),
        ir.Conv2d: ir.Conv2d(rng.integers(-7, 8, (4, 2, 3, 3)), stride=(1, 2), padding=1, w_bits=4),
        ir.SumPool2d: ir.SumPool2d(kernel=2, stride=2),
        ir.Scale: ir.Scale(rng.integers(-3, 4, (2, 1, 1)), w_bits=3),
        ir.Flatten: ir.Flatten(),
        ir.STBIF: ir.STBIF((3,), theta=rng.integers(2, 9, (3,)), v0=1, bias=[-5, 0, 7], bias_R=2,
                           s_min=-1, s_max=4, v_bits=12, s_bits=4),
        ir.IF: ir.IF((3,), theta=6, v0=3, bias=2, s_max=5),
        ir.ILIF: ir.ILIF((3,), theta=9, T=4, bias=[1, 2, 3]),
        ir.CaLIF: ir.CaLIF((3,), theta=8, leak=[1, -1, 0], T=5, s_max=7, gate=False),
        ir.Readout: ir.Readout((3,), v_bits=20, horner=True),
        ir.MaxPool2d: ir.MaxPool2d((2, 3, 2), (2, 5, 4), kernel=(3, 2), stride=(2, 2), padding=(1, 0),
                                   ceil_mode=True, s_bits=6),
        ir.CUBALIF: ir.CUBALIF((3,), vth=77, du=4095, dv=12, bias_mant=[-4096, 3, 4095],
                               bias_exp=[7, 0, 2], s_bits=10),
    }[cls]


@pytest.mark.parametrize("cls", list(ir.NODE_TYPES.values()), ids=list(ir.NODE_TYPES))
def test_every_node_type_round_trips(cls):
    node = _example(cls)
    header, arrays = ir.to_dict(ir.Graph({"n": node}, []))
    header = json.loads(json.dumps(header))  # must be plain JSON
    entry = header["nodes"][0]
    again = ir.NODE_TYPES[entry["type"]](**entry["params"], **{
        f: arrays[ref["key"]] for f, ref in entry["arrays"].items()})
    assert type(again) is cls
    for f in dataclasses.fields(cls):
        a, b = getattr(node, f.name), getattr(again, f.name)
        if isinstance(a, np.ndarray):
            assert a.shape == b.shape and np.array_equal(a, b), f.name
        else:
            assert a == b, f.name


def _chain(**stbif):
    rng = np.random.default_rng(1)
    nodes = {"in": ir.Source((4,), x_bits=6), "fc1": ir.Dense(rng.integers(-5, 6, (3, 4))),
             "n1": ir.STBIF((3,), theta=4, v0=2, s_max=3, **stbif),
             "fc2": ir.Dense(rng.integers(-5, 6, (2, 3))), "out": ir.Readout((2,))}
    edges = [ir.Edge("in", "fc1"), ir.Edge("fc1", "n1"), ir.Edge("n1", "fc2", 1), ir.Edge("fc2", "out")]
    return ir.Graph(nodes, edges)


def test_save_load_round_trip(tmp_path):
    g = _chain(bias=[1, -2, 3], bias_R=2)
    path = ir.save(g, tmp_path / "net.hwir")
    h = ir.load(path)
    assert list(h.nodes) == list(g.nodes) and h.edges == g.edges
    assert np.array_equal(h.nodes["fc1"].W, g.nodes["fc1"].W)
    # readable without hwsnn: a zip with header.json and .npy arrays, no pickle
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
    assert header["format"] == "hwsnn-ir" and header["version"] == 1
    npz = np.load(path, allow_pickle=False)
    assert np.array_equal(npz["fc1.W"], g.nodes["fc1"].W)
    assert npz["fc1.W"].dtype == np.int8  # stored in the smallest dtype of w_bits=8


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path):
    ir.save(_chain(), tmp_path / "a.hwir")
    bad = _chain()
    bad.edges.append(ir.Edge("fc2", "missing"))
    with pytest.raises(IRError):
        ir.save(bad, tmp_path / "a.hwir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.hwir"]
    ir.load(tmp_path / "a.hwir")  # the old file is intact


def test_saved_file_has_the_mode_of_a_plain_open(tmp_path):
    """The temp file of the atomic write is 0600; the saved IR gets 0666 less the umask."""
    import os
    old = os.umask(0o022)
    try:
        ir.save(_chain(), tmp_path / "a.hwir")
    finally:
        os.umask(old)
    assert (tmp_path / "a.hwir").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("mutate, message", [
    (lambda g: g.edges.append(ir.Edge("fc2", "nowhere")),
     "edge 'fc2' -> 'nowhere': node 'nowhere' does not exist"),
    (lambda g: g.nodes.__setitem__("fc2", ir.Dense(np.ones((2, 5), int))),
     "node 'fc2': input shape must be (5,), not (3,)"),
    (lambda g: g.nodes.__setitem__("fc1", ir.Dense(np.full((3, 4), 200), w_bits=8)),
     "node 'fc1': W must fit int8 [-128, 127], not values in [200, 200]"),
    (lambda g: (g.nodes.__setitem__("fc3", ir.Dense(np.ones((2, 3), int))),
                g.edges.append(ir.Edge("n1", "fc3"))),
     "node 'fc3': synapse output is not connected to anything"),
    (lambda g: g.edges.append(ir.Edge("n1", "fc1")),
     "graph 'net' has a cycle through nodes ['fc1', 'fc2', 'n1', 'out']"),
    (lambda g: g.edges.append(ir.Edge("in", "n1")),
     "edge 'in' -> 'n1': a STBIF takes input only through synapses, not from a Source"),
    (lambda g: g.edges.__setitem__(0, ir.Edge("in", "fc1", 2)),
     "edge 'in' -> 'fc1': delay must be 0 or 1, not 2"),
    (lambda g: g.edges.__setitem__(3, ir.Edge("fc2", "out", 1)),
     "edge 'fc2' -> 'out': a delay is allowed only on edges leaving a Source or neuron, not a Dense"),
    (lambda g: g.nodes.__setitem__("n1", ir.STBIF((3,), theta=0, s_max=3)),
     "node 'n1': theta must be > 0, not min 0"),
    (lambda g: g.nodes.__setitem__("n1", ir.STBIF((3,), theta=4, s_max=200, s_bits=8)),
     "node 'n1': s_min/s_max must fit int8 [-128, 127], not values in [0, 200]"),
    (lambda g: g.nodes.__setitem__("n1", ir.STBIF((3,), theta=4, v0=[1, 2], s_max=3)),
     "node 'n1': v0 of shape (2,) must broadcast to the node shape (3,)"),
    (lambda g: g.nodes.__setitem__("x", object()),
     "node 'x': unknown type 'object'"),
])
def test_verify_names_the_fault(mutate, message):
    g = _chain()
    ir.verify(g)
    mutate(g)
    with pytest.raises(IRError) as exc:
        ir.verify(g)
    assert str(exc.value).startswith(message)


def test_missing_input():
    g = ir.Graph({"in": ir.Source((2,)), "n": ir.STBIF((2,), theta=2, s_max=1),
                  "fc": ir.Dense(np.ones((2, 2), int)), "out": ir.Readout((2,))},
                 [ir.Edge("in", "fc"), ir.Edge("fc", "out")])
    with pytest.raises(IRError, match=r"^node 'n': missing input: no synapse ends in this STBIF$"):
        ir.verify(g)


def test_conv_shapes():
    g = ir.Graph({"in": ir.Source((2, 6, 6)), "c": ir.Conv2d(np.ones((4, 1, 3, 3), int), stride=2,
                                                             padding=1, groups=2),
                  "n": ir.STBIF((4, 3, 3), theta=3, s_max=2), "p": ir.SumPool2d(2, 1),
                  "m": ir.STBIF((4, 2, 2), theta=3, s_max=2), "f": ir.Flatten(),
                  "d": ir.Dense(np.ones((5, 16), int)), "out": ir.Readout((5,))},
                 [ir.Edge("in", "c"), ir.Edge("c", "n"), ir.Edge("n", "p"), ir.Edge("p", "m"),
                  ir.Edge("m", "f"), ir.Edge("f", "d"), ir.Edge("d", "out")])
    shapes = ir.verify(g)
    assert shapes["c"] == (4, 3, 3) and shapes["p"] == (4, 2, 2) and shapes["f"] == (16,)


def test_load_errors_name_the_file(tmp_path):
    good = ir.save(_chain(), tmp_path / "good.hwir")
    data = open(good, "rb").read()
    (tmp_path / "trunc.hwir").write_bytes(data[: len(data) // 2])
    with pytest.raises(IRFormatError, match=r"trunc.hwir: not a readable hwsnn IR file \(truncated or corrupt"):
        ir.load(tmp_path / "trunc.hwir")
    with pytest.raises(IRFormatError, match=r"nope.hwir: no such IR file"):
        ir.load(tmp_path / "nope.hwir")
    # a zip without header, wrong version, a missing array
    with zipfile.ZipFile(tmp_path / "nohead.hwir", "w") as zf:
        zf.writestr("x.npy", b"")
    with pytest.raises(IRFormatError, match=r"nohead.hwir: not an hwsnn IR file \(no header.json\)"):
        ir.load(tmp_path / "nohead.hwir")
    with zipfile.ZipFile(good) as zf:
        header = json.loads(zf.read("header.json"))
        members = {n: zf.read(n) for n in zf.namelist() if n != "header.json"}

    def write(name, hdr, drop=()):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr("header.json", json.dumps(hdr))
            for n, b in members.items():
                if n not in drop:
                    zf.writestr(n, b)
        return tmp_path / name

    with pytest.raises(IRFormatError, match=r"v9.hwir: version must be 1, not 9"):
        ir.load(write("v9.hwir", {**header, "version": 9}))
    with pytest.raises(IRFormatError, match=r"noarr.hwir: node 'fc1': array 'fc1.W' is missing"):
        ir.load(write("noarr.hwir", header, drop=("fc1.W.npy",)))
    bad_type = json.loads(json.dumps(header))
    bad_type["nodes"][1]["type"] = "LSTM"
    with pytest.raises(IRFormatError, match=r"badtype.hwir: node 'fc1': unknown type 'LSTM'"):
        ir.load(write("badtype.hwir", bad_type))


def test_pickled_arrays_are_refused(tmp_path):
    import io
    path = ir.save(_chain(), tmp_path / "p.hwir")
    with zipfile.ZipFile(path) as zf:
        header = zf.read("header.json")
        members = {n: zf.read(n) for n in zf.namelist() if n != "header.json"}
    buf = io.BytesIO()
    # a hostile file: an object array, which .npy can only store pickled
    np.save(buf, np.array([object()], dtype=object), **{"allow_pickle": True})
    members["fc1.W.npy"] = buf.getvalue()
    with zipfile.ZipFile(tmp_path / "pk.hwir", "w") as zf:
        zf.writestr("header.json", header)
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(IRFormatError, match=r"pk.hwir: member 'fc1.W.npy' is stored as dtype object; "
                                            r"its declared bits need int8 \(integers, never pickled"):
        ir.load(tmp_path / "pk.hwir")


def test_param_table_covers_every_scalar_field():
    """The loader's param table (kinds, ranges) names exactly each node type's scalar fields."""
    from hwsnn.ir._params import PARAMS
    for name, cls in ir.NODE_TYPES.items():
        fields = {f.name for f in dataclasses.fields(cls)} - set(cls.ARRAYS)
        assert set(PARAMS[name]) == fields, name


@pytest.mark.parametrize("make, message", [
    (lambda: ir.STBIF((3,), theta=4, s_max=8.5), "node 'n1': s_max must be an integer in [0, "),
    (lambda: ir.STBIF((3,), theta=4, s_max=True), "node 'n1': s_max must be an integer in [0, "),
    (lambda: ir.STBIF((1.5, 2), theta=4, s_max=3), "node 'n1': shape must be a list of 1 to 8 integers"),
    (lambda: ir.STBIF((3,), theta=4, s_max=3, bias_R="2"), "node 'n1': bias_R must be an integer in [1, "),
    (lambda: ir.STBIF((3,), theta=4, s_max=3, v_bits=49), "node 'n1': v_bits must be an integer in [2, 48], not 49"),
])
def test_verify_refuses_coercible_params_in_memory(make, message):
    g = _chain()
    g.nodes["n1"] = make()
    with pytest.raises(IRError) as exc:
        ir.verify(g)
    assert str(exc.value).startswith(message)


def test_verify_refuses_bool_delay_and_duplicate_edges():
    g = _chain()
    g.edges[0] = ir.Edge("in", "fc1", True)
    with pytest.raises(IRError, match=r"^edge 'in' -> 'fc1': delay must be 0 or 1, not True$"):
        ir.verify(g)
    g = _chain()
    g.edges.append(ir.Edge("fc2", "out"))
    with pytest.raises(IRError, match=r"^edge 'fc2' -> 'out': duplicate edge"):
        ir.verify(g)


def test_graph_errors_of_a_file_name_the_file(tmp_path):
    path = ir.save(_chain(), tmp_path / "g.hwir")
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
        members = {n: zf.read(n) for n in zf.namelist() if n != "header.json"}
    header["edges"].append({"src": "n1", "dst": "fc1", "delay": 0})
    with zipfile.ZipFile(tmp_path / "cyc.hwir", "w") as zf:
        zf.writestr("header.json", json.dumps(header))
        for n, b in members.items():
            zf.writestr(n, b)
    with pytest.raises(IRError, match=r"cyc.hwir: graph 'net' has a cycle through nodes"):
        ir.load(tmp_path / "cyc.hwir")


def test_bundled_digits_ir_round_trips(tmp_path):
    """The files the compiler writes still load, unchanged, under the strict rules."""
    from hwsnn.examples import load_digits_ir
    g = load_digits_ir(n_test=1)[0]
    h = ir.load(ir.save(g, tmp_path / "digits.hwir"))
    assert list(h.nodes) == list(g.nodes) and h.edges == g.edges and h.meta == g.meta
    for name, node in g.nodes.items():
        assert h.nodes[name].scalars() == node.scalars(), name
        for field, arr in node.arrays().items():
            assert np.array_equal(h.nodes[name].arrays()[field], arr), (name, field)


def test_save_refuses_what_load_would_refuse(tmp_path):
    deep = []
    for _ in range(70):
        deep = [deep]
    g = _chain()
    g.meta["deep"] = deep
    with pytest.raises(IRError, match=r"x.hwir: header.json nests arrays/objects deeper than 64 levels$"):
        ir.save(g, tmp_path / "x.hwir")
    g = _chain()
    g.meta["bad"] = float("nan")
    with pytest.raises(IRError, match=r"x.hwir: graph name or meta cannot be stored as JSON"):
        ir.save(g, tmp_path / "x.hwir")
    assert list(tmp_path.iterdir()) == []


def test_graph_is_checked_before_any_array_data_is_read(tmp_path):
    """A file with a 16 MiB weight member and a graph error elsewhere fails without reading
    the member: the header and graph are checked first, with placeholder arrays."""
    import tracemalloc
    W = np.random.default_rng(0).integers(-100, 100, (4096, 4096))
    g = ir.Graph({"in": ir.Source((4096,)), "d": ir.Dense(W), "out": ir.Readout((4096,))},
                 [ir.Edge("in", "d"), ir.Edge("d", "out")])
    path = ir.save(g, tmp_path / "big.hwir")
    with zipfile.ZipFile(path) as zf:
        header = json.loads(zf.read("header.json"))
        members = {n: zf.read(n) for n in zf.namelist() if n != "header.json"}
    header["nodes"][2]["params"]["shape"] = [4095]
    with zipfile.ZipFile(tmp_path / "bad.hwir", "w") as zf:
        zf.writestr("header.json", json.dumps(header))
        for n, b in members.items():
            zf.writestr(n, b)
    tracemalloc.start()
    try:
        with pytest.raises(IRError, match=r"bad.hwir: node 'out': input from 'd' has shape \(4096,\), "
                                          r"expected the node shape \(4095,\)$"):
            ir.load(tmp_path / "bad.hwir")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20, peak  # reading W would take 16 MiB (int8) + 32 MiB (int16)
