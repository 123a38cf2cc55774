"""The golden simulator against an independent scalar reference and the closed forms."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsnn import ir, sim
from hwsnn.errors import RangeError, ShapeError, SimulationError

from randnets import random_input, random_stbif_net
from refcheck import assert_trace_equals_reference

SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["dense", "conv"]),
       neuron=st.sampled_from(["STBIF", "IF"]), delays=st.sampled_from([(0,), (1,), (0, 1)]))
def test_every_step_equals_scalar_reference(seed, kind, neuron, delays):
    graph = random_stbif_net(seed, kind=kind, depth=2, neuron=neuron, delays=delays)
    assert_trace_equals_reference(graph, random_input(graph, 2, seed), 12)


@SETTINGS
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["dense", "conv"]),
       depth=st.integers(1, 4), levels=st.integers(1, 16), delay=st.sampled_from([0, 1]),
       residual=st.booleans())
def test_stbif_reaches_count_semantics_at_equilibrium(seed, kind, depth, levels, delay, residual):
    graph = random_stbif_net(seed, kind=kind, depth=depth, levels=levels, delays=(delay,),
                             residual=residual)
    x = random_input(graph, 4, seed + 1)
    steps = 40 + depth * (levels + 8) * 2
    trace = sim.run(graph, x, steps, record=False)
    counts = sim.count(graph, x)
    assert trace.settled.all(), trace.t_eq
    for node in graph.neurons:
        assert np.array_equal(trace.final[node]["S"], counts["S"][node]), node
        assert np.array_equal(trace.final[node]["V"], counts["V"][node]), node
    assert np.array_equal(trace.output, counts["output"])


def test_stbif_closed_form_is_round_half_up_qrelu():
    # one neuron, theta = 2s with v0 = s: S = clip(floor(z/theta + 1/2), 0, n)
    z = np.arange(-20, 41).reshape(-1, 1)
    graph = ir.Graph({"in": ir.Source((1,), R=4, x_bits=8), "w": ir.Dense([[1]]),
                      "n": ir.STBIF((1,), theta=8, v0=4, s_max=3), "r": ir.Dense([[1]]),
                      "out": ir.Readout((1,))},
                     [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")])
    trace = sim.run(graph, z, 30, record=False)
    expected = np.clip(np.floor(z / 8 + 0.5), 0, 3).astype(int)  # z = 4 -> 1 (half up), z = 12 -> 2
    assert np.array_equal(trace.final["n"]["S"], expected)
    assert trace.final["n"]["S"][z[:, 0] == 4, 0] == 1 and trace.final["n"]["S"][z[:, 0] == 12, 0] == 2


def test_bipolar_spikes_correct_overshoot():
    # input +16 at step 0, then -16 released later: the neuron fires +1s then -1s back to 0
    graph = ir.Graph({"a": ir.Source((1,), R=1, x_bits=8), "b": ir.Source((1,), R=3, x_bits=8),
                      "wa": ir.Dense([[1]]), "wb": ir.Dense([[-1]]),
                      "n": ir.STBIF((1,), theta=4, v0=2, s_max=8), "r": ir.Dense([[1]]),
                      "out": ir.Readout((1,))},
                     [ir.Edge("a", "wa"), ir.Edge("b", "wb"), ir.Edge("wa", "n"), ir.Edge("wb", "n"),
                      ir.Edge("n", "r"), ir.Edge("r", "out")])
    trace = sim.run(graph, {"a": [[16]], "b": [[15]]}, 12)
    y = trace.y["n"][:, 0, 0]
    assert (y == -1).any() and (y == 1).any()
    assert trace.final["n"]["S"][0, 0] == 0  # floor((16 - 15 + 2) / 4) = 0
    assert trace.t_eq[0] < 12 and trace.settled[0]


def _ilif_chain(T, seed):
    rng = np.random.default_rng(seed)
    W1, W2 = rng.integers(-3, 6, (4, 3)), rng.integers(-3, 4, (2, 4))
    th1, th2 = int(rng.integers(4, 40)), int(rng.integers(4, 40))
    b1 = rng.integers(-5, 6, 4)
    g = ir.Graph({"in": ir.Source((3,), encoding="bits", T=T, x_bits=T + 2), "w1": ir.Dense(W1),
                  "n1": ir.ILIF((4,), theta=th1, T=T, bias=b1, v_bits=32), "w2": ir.Dense(W2),
                  "n2": ir.ILIF((2,), theta=th2, T=T, v_bits=32), "w3": ir.Dense(np.eye(2, dtype=int)),
                  "out": ir.Readout((2,), horner=True, v_bits=32)},
                 [ir.Edge("in", "w1"), ir.Edge("w1", "n1"), ir.Edge("n1", "w2"), ir.Edge("w2", "n2"),
                  ir.Edge("n2", "w3"), ir.Edge("w3", "out")])
    return g, (W1, W2, th1, th2, b1)


@settings(max_examples=20, deadline=None)
@given(T=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_ilif_codes_equal_closed_form(T, seed):
    graph, (W1, W2, th1, th2, b1) = _ilif_chain(T, seed)
    x = np.random.default_rng(seed).integers(0, 2 ** T, (5, 3))
    trace = sim.run(graph, x, 3 * T + 1)
    # closed form with Python ints: code = clip(floor(z * 2^T / theta), 0, 2^T - 1)
    for b in range(5):
        z1 = [sum(int(W1[o, i]) * int(x[b, i]) for i in range(3)) + int(b1[o]) for o in range(4)]
        c1 = [min(max((z * 2 ** T) // th1, 0), 2 ** T - 1) for z in z1]
        z2 = [sum(int(W2[o, i]) * c1[i] for i in range(4)) for o in range(2)]
        c2 = [min(max((z * 2 ** T) // th2, 0), 2 ** T - 1) for z in z2]
        assert trace.final["n1"]["S"][b].tolist() == c1
        assert trace.final["n2"]["S"][b].tolist() == c2
        assert trace.output[b].tolist() == c2  # horner readout of identity weights = the code
    counts = sim.count(graph, x)
    assert np.array_equal(counts["S"]["n2"], trace.final["n2"]["S"])
    # layer 2 generates during steps 2T .. 3T-1: its first spike can't come earlier
    assert not trace.y["n2"][: 2 * T].any()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), T=st.integers(1, 8), gate=st.booleans())
def test_calif_settle_reaches_rounding_count(seed, T, gate):
    rng = np.random.default_rng(seed)
    theta = int(rng.integers(2, 12))
    W = rng.integers(-6, 7, (5, 4))
    leak = rng.integers(-3, 4, 5)
    graph = ir.Graph({"in": ir.Source((4,), R=T, x_bits=8), "w": ir.Dense(W),
                      "n": ir.CaLIF((5,), theta=theta, leak=leak, T=T, gate=gate, s_max=0),
                      "r": ir.Dense(np.eye(5, dtype=int)), "out": ir.Readout((5,))},
                     [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")])
    x = rng.integers(0, 17, (6, 4))
    trace = sim.run(graph, x, T)
    z = x @ W.T - T * leak
    expected = np.floor(z / theta + 0.5).astype(int)  # round half up
    if gate:
        expected = np.maximum(expected, 0)
    assert np.array_equal(trace.final["n"]["S"], expected)
    assert np.array_equal(trace.output, expected)
    assert trace.steps >= T


def test_float32_and_float64_paths_are_both_exact():
    # weights so large that partial sums pass 2^24: the simulator must switch to float64
    big = 2 ** 22
    graph = ir.Graph({"in": ir.Source((2,), x_bits=8), "w": ir.Dense([[big, big + 1]], w_bits=25),
                      "out": ir.Readout((1,), v_bits=40)},
                     [ir.Edge("in", "w"), ir.Edge("w", "out")])
    net = sim.Network(graph)
    assert str(net.ops["w"].dtype) == "torch.float64"
    x = np.array([[127, 127], [127, 126]])
    trace = sim.run(graph, x, 1)
    assert trace.output[:, 0].tolist() == [127 * big + 127 * (big + 1), 127 * big + 126 * (big + 1)]


def test_input_errors_are_clear():
    graph = random_stbif_net(0)
    with pytest.raises(ShapeError, match=r"input 'in': expected shape \(batch, \d+\), not \(2, 99\)"):
        sim.run(graph, np.zeros((2, 99), int), 3)
    shape = graph.nodes["in"].shape
    with pytest.raises(RangeError, match=r"input 'in': values must fit int6 \[-32, 31\], not \[40, 40\]"):
        sim.run(graph, np.full((1, *shape), 40), 3)
    with pytest.raises(SimulationError, match=r"input 'in': values must be integers"):
        sim.run(graph, np.full((1, *shape), 0.5), 3)


def test_membrane_overflow_is_an_error_not_a_wrap():
    graph = ir.Graph({"in": ir.Source((1,), x_bits=8), "w": ir.Dense([[100]]),
                      "n": ir.STBIF((1,), theta=2, s_max=1, v_bits=8), "r": ir.Dense([[1]]),
                      "out": ir.Readout((1,))},
                     [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")])
    with pytest.raises(RangeError, match=r"node 'n': membrane V reached \[\d+, \d+\], outside its int8"):
        sim.run(graph, [[100]], 2)
