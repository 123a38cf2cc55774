"""Loader rules at their edges: a value one past its declared bits, a delay one past 1, an array
key used twice, bits one off the node's: each refused with its own message (hwsnn.ir.load)."""

import json

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.errors import IRFormatError

from ir_corrupt import _npy, _read, member, zip_bytes


def _graph():
    return ir.Graph({"in": ir.Source((3,), x_bits=6), "w": ir.Dense(np.array([[7, -8, 1], [0, 2, -1]]), w_bits=4),
                     "n": ir.STBIF((2,), theta=4, v0=2, s_max=3, v_bits=8, s_bits=4),
                     "r": ir.Dense(np.array([[1, 1]]), w_bits=2), "out": ir.Readout((1,), v_bits=10)},
                    [ir.Edge("in", "w", 1), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")], "edges")


def _rewrite(tmp_path, header=None, arrays=None):
    """The saved graph with header.json edited by `header(h)` and members replaced by `arrays`."""
    members = _read(ir.save(_graph(), tmp_path / "ok.hwir"))
    out = []
    for name, data in members:
        if name == "header.json" and header is not None:
            h = json.loads(data)
            header(h)
            data = json.dumps(h).encode()
        if arrays and name in arrays:
            data = _npy(arrays[name])
        out.append(member(name, data))
    path = tmp_path / "bad.hwir"
    path.write_bytes(zip_bytes(out))
    return path


def _refused(path, message):
    with pytest.raises(IRFormatError) as exc:
        ir.load(path)
    assert str(exc.value) == f"{path}: {message}"


def test_the_unedited_file_loads(tmp_path):
    g = ir.load(_rewrite(tmp_path))
    assert g.nodes["w"].W.tolist() == [[7, -8, 1], [0, 2, -1]] and g.edges[0].delay == 1


@pytest.mark.parametrize("value", [8, -9])
def test_a_weight_one_past_its_bits_is_refused(tmp_path, value):
    key = _graph_key(tmp_path, "w", "W")
    W = np.array([[7, -8, 1], [0, 2, value]], dtype=np.int8)
    _refused(_rewrite(tmp_path, arrays={f"{key}.npy": W}),
             f"node 'w': array W ({key!r}) holds values in [{min(value, -8)}, {max(value, 7)}], outside its "
             f"declared bits 4 [-8, 7]")


def _graph_key(tmp_path, node, field):
    members = dict(_read(ir.save(_graph(), tmp_path / "keys.hwir")))
    h = json.loads(members["header.json"])
    return next(n["arrays"][field]["key"] for n in h["nodes"] if n["name"] == node)


def test_a_delay_of_two_is_refused(tmp_path):
    def edit(h):
        h["edges"][0]["delay"] = 2
    _refused(_rewrite(tmp_path, header=edit), "edges[0]: delay must be 0 or 1, not 2")


def test_an_array_key_used_twice_is_refused(tmp_path):
    def edit(h):
        nodes = {n["name"]: n for n in h["nodes"]}
        nodes["r"]["arrays"]["W"]["key"] = nodes["w"]["arrays"]["W"]["key"]
    key = _graph_key(tmp_path, "w", "W")
    _refused(_rewrite(tmp_path, header=edit),
             f"node 'r': array W key {key!r} is already used by node 'w' array W")


@pytest.mark.parametrize("bits", [3, 5])
def test_array_bits_one_off_the_node_are_refused(tmp_path, bits):
    def edit(h):
        next(n for n in h["nodes"] if n["name"] == "w")["arrays"]["W"]["bits"] = bits
    _refused(_rewrite(tmp_path, header=edit), f"node 'w': array W declares bits {bits}, expected the node's w_bits = 4")
