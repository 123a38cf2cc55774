"""The RTL's data from the IR alone (mappings/rtl/_images.py): synapse matrices, bias rows and
source events, held to references written here independently (torch.nn.functional for the
synapses, Python integer loops for the release formulas)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hwsnn import ir
from hwsnn.mappings.rtl import lower
from hwsnn.mappings.rtl._images import (bias_rows, release, source_events, source_values,
                                        synapse_matrix, unroll)

from randnets import random_stbif_net


def _torch_apply(node, x):
    """The synapse on a batch x (B, *in_shape), int64 -> int64 through float64 (exact here)."""
    t = torch.as_tensor(x, dtype=torch.float64)
    if isinstance(node, ir.Conv2d):
        y = F.conv2d(t, torch.as_tensor(node.W, dtype=torch.float64), stride=node.stride,
                     padding=node.padding, groups=node.groups)
    elif isinstance(node, ir.SumPool2d):
        y = F.avg_pool2d(t, node.kernel, node.stride, divisor_override=1)
    elif isinstance(node, ir.Dense):
        y = t @ torch.as_tensor(node.W, dtype=torch.float64).T
    elif isinstance(node, ir.Scale):
        y = t * torch.as_tensor(node.w, dtype=torch.float64)
    else:
        y = t.reshape(t.shape[0], -1)
    return y.numpy().astype(np.int64)


CONVS = [dict(cin=3, cout=4, k=(3, 3), stride=(1, 1), padding=(1, 1), groups=1, hw=(6, 5)),
         dict(cin=4, cout=6, k=(3, 3), stride=(2, 2), padding=(1, 1), groups=2, hw=(7, 8)),
         dict(cin=2, cout=4, k=(1, 1), stride=(2, 2), padding=(0, 0), groups=1, hw=(8, 8)),
         dict(cin=4, cout=4, k=(3, 2), stride=(2, 1), padding=(0, 1), groups=4, hw=(5, 6)),
         dict(cin=1, cout=2, k=(5, 5), stride=(3, 3), padding=(2, 2), groups=1, hw=(9, 7))]


@pytest.mark.parametrize("p", CONVS, ids=lambda p: f"k{p['k']}s{p['stride']}p{p['padding']}g{p['groups']}")
def test_conv_matrix_equals_torch_conv2d(p):
    rng = np.random.default_rng(sum(p["hw"]))
    node = ir.Conv2d(rng.integers(-9, 10, (p["cout"], p["cin"] // p["groups"], *p["k"])),
                     stride=p["stride"], padding=p["padding"], groups=p["groups"])
    in_shape = (p["cin"], *p["hw"])
    M, out_shape = synapse_matrix("c", node, in_shape)
    x = rng.integers(-5, 6, (7, *in_shape))
    want = _torch_apply(node, x)
    assert want.shape[1:] == out_shape
    assert np.array_equal(x.reshape(7, -1) @ M.toarray(), want.reshape(7, -1))


@pytest.mark.parametrize("node,in_shape", [(ir.SumPool2d(2, 2), (3, 6, 6)), (ir.SumPool2d(3, 2), (2, 7, 8)),
                                           (ir.SumPool2d((2, 3), (1, 2)), (1, 5, 7)),
                                           (ir.Scale(np.array([2, -3, 1]).reshape(3, 1, 1)), (3, 2, 2)),
                                           (ir.Flatten(), (2, 3, 4)),
                                           (ir.Dense(np.arange(-6, 6).reshape(4, 3)), (3,))])
def test_other_synapse_matrices_equal_torch(node, in_shape):
    x = np.random.default_rng(1).integers(-7, 8, (5, *in_shape))
    M, out_shape = synapse_matrix("s", node, in_shape)
    want = _torch_apply(node, x)
    assert want.shape[1:] == out_shape
    assert np.array_equal(x.reshape(5, -1) @ M.toarray(), want.reshape(5, -1))


def test_unroll_adds_paths_and_chains_synapses():
    """conv -> pool -> flatten -> dense, plus a residual Scale: x @ W is the sum of both paths."""
    graph = next(g for g in (random_stbif_net(s, kind="dense", depth=3, residual=True) for s in range(40))
                 if any(n.endswith(".skip") for n in g.nodes))
    skip = next(n for n in graph.nodes if n.endswith(".skip"))
    dst = skip.split(".")[0]
    src = graph.inputs_of(skip)[0].src
    W = unroll(graph, dst, src)
    x = np.random.default_rng(2).integers(-3, 4, (6, *graph.nodes[src].shape))
    main = _torch_apply(graph.nodes[f"{dst}.w"], x)
    assert np.array_equal(x.reshape(6, -1) @ W, main + _torch_apply(graph.nodes[skip], x))
    graph = random_stbif_net(4, kind="conv", depth=1).with_delays(0)
    W = unroll(graph, "out", "l0")
    x = np.random.default_rng(0).integers(-1, 2, (5, *graph.nodes["l0"].shape))
    y = x
    for name in ("pool", "flat", "fc"):
        y = _torch_apply(graph.nodes[name], y)
    assert np.array_equal(x.reshape(5, -1) @ W, y)


def _release_loop(q, t, R):
    """floor((t+1) q / R) - floor(t q / R) with Python integers (floor division rounds down)."""
    return [((t + 1) * int(v)) // R - (t * int(v)) // R if t < R else 0 for v in q]


@pytest.mark.parametrize("R", [1, 2, 3, 7])
def test_bias_rows_are_the_release_formula_and_sum_to_the_bias(R):
    b = np.array([-17, -5, -1, 0, 1, 4, 9, 100])
    rows = bias_rows(b, R)
    assert rows.shape == (R, b.size)
    for t in range(R):
        assert rows[t].tolist() == _release_loop(b, t, R)
    assert np.array_equal(rows.sum(axis=0), b)
    assert release(b, R, R).tolist() == [0] * b.size


def test_source_values_follow_the_format():
    q = np.array([[0, 1, 5, 7, -6]])
    analog = ir.Source((5,), R=3, x_bits=5)
    for t in range(5):
        assert source_values(analog, q, t)[0].tolist() == _release_loop(q[0], t, 3)
    rate = ir.Source((4,), encoding="rate", T=5, x_bits=4)
    qr = np.array([[0, 2, 3, 5]])
    assert np.array_equal(sum(source_values(rate, qr, t) for t in range(7)), qr)
    assert set(np.unique([source_values(rate, qr, t) for t in range(5)])) <= {0, 1}
    bits = ir.Source((3,), encoding="bits", T=4, x_bits=6)
    qb = np.array([[0b1010, 0b0111, 0b1111]])
    got = [source_values(bits, qb, t)[0].tolist() for t in range(5)]
    assert got == [[1, 0, 1], [0, 1, 1], [1, 1, 1], [0, 1, 1], [0, 0, 0]]  # MSB first, then nothing


def test_source_events_are_delayed_by_one_step():
    src = ir.Source((3,), R=2, x_bits=6)
    q = np.array([[3, 0, -4], [1, 2, 0]])
    ev = source_events(src, q, 5, delay=1)
    want = [(b, t + 1, i, v) for b in range(2) for t in range(2) for i, v in
            enumerate(_release_loop(q[b], t, 2)) if v]
    assert [tuple(r) for r in ev.tolist()] == sorted(want)


def test_layouts_are_reported_with_the_reason():
    nodes = {"in": ir.Source((2, 6, 6), x_bits=4),
             "c1": ir.Conv2d(np.ones((3, 2, 3, 3), int), padding=1),
             "a": ir.STBIF((3, 6, 6), theta=4),
             "c2": ir.Conv2d(np.ones((2, 3, 3, 3), int), stride=2, padding=1),
             "b": ir.STBIF((2, 3, 3), theta=4),
             "f": ir.Flatten(), "d": ir.Dense(np.ones((2, 18), int)), "out": ir.Readout((2,))}
    edges = [ir.Edge(a, b) for a, b in (("in", "c1"), ("c1", "a"), ("a", "c2"), ("c2", "b"),
                                        ("b", "f"), ("f", "d"), ("d", "out"))]
    rows = lower(ir.Graph(nodes, edges), lanes=2).summary()
    got = {r["node"]: r["layout"] for r in rows}
    assert got["a"] == "shared-kernel"
    assert got["out"] == "dense"
    for r in rows:
        assert r["layout"] in ("shared-kernel", "dense")
        if r["layout"] == "dense":
            assert r["layout_reason"]  # a dense core always says why
