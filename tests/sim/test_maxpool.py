"""MaxPool2d (exact max pooling over spike counts) in the golden simulator: held to the scalar
reference at every step, its count semantics to torch's max pool of the input counts (the QANN
max pool after a ReLU), and the loader rules."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsnn import ir, sim
from hwsnn.errors import IRError

from closed_forms import closed_forms
from maxpool_nets import inputs, maxpool_graph
from refcheck import assert_trace_equals_reference
from scalar_reference import reference_run


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2 ** 31), steps=st.integers(1, 14), analog=st.booleans(),
       delays=st.sampled_from([(0,), (1,), (0, 1)]), small=st.booleans())
def test_golden_equals_scalar_reference_every_step(seed, steps, analog, delays, small):
    graph = maxpool_graph([seed, steps], delays, analog, small)
    assert_trace_equals_reference(graph, inputs(graph, seed), steps)


def _torch_pool(node, counts):
    """torch's max pool (padding -inf, ceil-mode overhang ignored) of non-negative counts."""
    x = torch.as_tensor(counts, dtype=torch.float64)
    return F.max_pool2d(x, node.kernel, node.stride, node.padding, ceil_mode=node.ceil_mode).long().numpy()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), delays=st.sampled_from([(0,), (1,), (0, 1)]))
def test_equilibrium_equals_count_semantics_and_torch_max_pool(seed, delays):
    graph = maxpool_graph([seed, 7], delays, exact=True)
    x = inputs(graph, seed, batch=3)
    counts = sim.count(graph, x)
    trace = sim.run(graph, x, 60)
    assert trace.settled.all()
    ref = reference_run(graph, x, 60)
    for b in range(3):
        want = closed_forms(graph, {"in": x}, b)
        for n, s in want["S"].items():
            assert trace.final[n]["S"][b].reshape(-1).tolist() == s, n
            assert counts["S"][n][b].reshape(-1).tolist() == s, n
            assert ref.final("S", n)[b] == s, n
    for n, node in graph.nodes.items():
        if isinstance(node, ir.MaxPool2d):
            src = graph.inputs_of(n)[0].src
            c_in = counts["S"][src] if src in counts["S"] else x
            assert (c_in >= 0).all()
            np.testing.assert_array_equal(counts["V"][n], c_in)
            np.testing.assert_array_equal(counts["S"][n], _torch_pool(node, c_in))
    np.testing.assert_array_equal(trace.output, counts["output"])


def test_spikes_are_bipolar_after_stbif():
    """Inputs moving by at most 1 per step make y in {-1, 0, +1}, and y falls when the maximum
    input falls (an STBIF that takes a spike back)."""
    seen = set()
    for seed in range(12):
        graph = maxpool_graph(seed, (0,))
        tr = sim.run(graph, inputs(graph, seed, 4), 30)
        for n in graph.nodes:
            if n.startswith("mp"):
                seen |= set(np.unique(tr.y[n]).tolist())
    assert seen == {-1, 0, 1}


def test_hand_case_padding_counts_zero_and_ceil_window():
    """A 1x3 row, kernel 2, stride 2, ceil_mode: windows {0, 1} and {2, overhang}. A Source
    carries -2 at x[2] and the overhang counts 0, so the second output is max(-2, 0) = 0
    (docs: a position outside the input counts 0)."""
    node = ir.MaxPool2d((1, 1, 2), (1, 1, 3), (1, 2), (1, 2), (0, 0), True, s_bits=6)
    g = ir.Graph({"in": ir.Source((1, 1, 3), R=1, x_bits=6), "mp": node, "f": ir.Flatten(),
                  "d": ir.Dense(np.eye(2, dtype=int)), "out": ir.Readout((2,))},
                 [ir.Edge("in", "mp"), ir.Edge("mp", "f"), ir.Edge("f", "d"), ir.Edge("d", "out")])
    tr = assert_trace_equals_reference(g, np.array([[[[3, 1, -2]]]]), 2)
    assert tr.array("S", "mp")[-1].reshape(-1).tolist() == [3, 0]
    assert tr.array("y", "mp")[:, 0].reshape(2, -1).tolist() == [[3, 0], [0, 0]]


def test_count_register_overflow_is_a_range_error():
    g = maxpool_graph(3, (0,), analog=True)
    g.nodes["mp0"] = ir.MaxPool2d(g.nodes["mp0"].shape, g.nodes["mp0"].in_shape, g.nodes["mp0"].kernel,
                                  g.nodes["mp0"].stride, g.nodes["mp0"].padding,
                                  g.nodes["mp0"].ceil_mode, s_bits=3)
    x = np.full((1, *g.nodes["in"].shape), 16)
    from hwsnn.errors import RangeError
    with pytest.raises(RangeError, match="node 'mp0'"):
        sim.run(g, x, 4)


@pytest.mark.parametrize("change, message", [
    (dict(shape=(2, 3, 3)), r"shape must be the pooled shape \(2, 2, 2\) of in_shape \(2, 4, 4\)"),
    (dict(padding=(2, 2)), r"padding must be at most kernel/2"),
    (dict(in_shape=(2, 5, 5)), r"input from 'n' has shape \(2, 4, 4\), expected in_shape \(2, 5, 5\)"),
])
def test_loader_rules(change, message):
    kw = dict(shape=(2, 2, 2), in_shape=(2, 4, 4), kernel=(2, 2), stride=(2, 2), padding=(0, 0),
              ceil_mode=False, s_bits=4)
    kw.update(change)
    if "in_shape" in change:
        kw["shape"] = ir.pool_out_shape(kw["in_shape"], kw["kernel"], kw["stride"], kw["padding"], False)
    g = _small(ir.MaxPool2d(**kw))
    with pytest.raises(IRError, match=message):
        ir.verify(g)


def _small(pool, src_to_pool="n"):
    out = int(np.prod(pool.shape))
    nodes = {"in": ir.Source((1, 4, 4), x_bits=6), "c": ir.Conv2d(np.ones((2, 1, 1, 1), int)),
             "n": ir.STBIF((2, 4, 4), theta=2, v0=1, s_max=3, s_bits=4), "mp": pool,
             "f": ir.Flatten(), "d": ir.Dense(np.ones((1, out), int)), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "c"), ir.Edge("c", "n"), ir.Edge(src_to_pool, "mp"), ir.Edge("mp", "f"),
             ir.Edge("f", "d"), ir.Edge("d", "out")]
    return ir.Graph(nodes, edges)


def test_loader_rule_input_straight_from_a_spiking_node(tmp_path):
    pool = ir.MaxPool2d((2, 2, 2), (2, 4, 4), s_bits=4)
    with pytest.raises(IRError, match="a MaxPool2d takes one spiking input directly .* not a Conv2d"):
        ir.verify(_small(pool, "c"))
    g = _small(pool)
    ir.save(g, tmp_path / "mp.hwir")
    back = ir.load(tmp_path / "mp.hwir")
    assert back.nodes["mp"].scalars() == pool.scalars()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here: the CPU/GPU comparison needs one")
def test_cuda_trace_with_max_pools_is_bit_identical_to_cpu():
    from hwsnn.examples import load_digits_maxpool_ir
    graph, x, _, steps = load_digits_maxpool_ir(n_test=64)
    cpu, gpu = sim.run(graph, x, steps), sim.run(graph, x, steps, device="cuda")
    for node, var, arr in cpu.variables():
        other = getattr(gpu, var)[node]
        assert other.dtype == arr.dtype and np.array_equal(other, arr), (node, var)
