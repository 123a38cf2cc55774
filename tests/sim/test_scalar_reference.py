"""The golden simulator against the independent scalar reference (tests/scalar_reference.py),
on random graphs of every node type, at every step, on V, S, y of every node; and the
reference itself against the closed forms of docs/ir-format.md at equilibrium."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsnn import ir, sim
from hwsnn.errors import SimulationError

from closed_forms import closed_forms
from refcheck import assert_trace_equals_reference
from refgraphs import FAMILIES, random_graph, random_inputs, run_steps
from scalar_reference import reference_run

BATCH = 2
DEPTHS = st.sampled_from([1, 2, 3])
DELAYS = st.sampled_from([(0,), (1,), (0, 1)])


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2 ** 31), family=st.sampled_from(FAMILIES), depth=DEPTHS,
       delays=DELAYS, steps=st.sampled_from(range(1, 15)))
def test_golden_equals_scalar_reference_every_step(seed, family, depth, delays, steps):
    seed = [seed, steps]  # hypothesis repeats seeds: every drawn example builds its own graph
    graph = random_graph(seed, family, depth, delays, small_widths=True)
    assert_trace_equals_reference(graph, random_inputs(graph, BATCH, seed), run_steps(graph, steps))


def _equilibrium_steps(graph, family, depth):
    if family == "calif":
        return run_steps(graph, 0)
    T = max(getattr(n, "T", 1) for n in graph.nodes.values())
    if family == "ilif":
        return (depth + 2) * (T + 1)
    return 12 + depth * 16 + (2 * T + 2 if family == "mixed" else 0)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2 ** 31), family=st.sampled_from(FAMILIES), depth=DEPTHS, delays=DELAYS)
def test_reference_reaches_closed_forms_at_equilibrium(seed, family, depth, delays):
    seed = [seed, depth, len(delays)]  # hypothesis repeats seeds: one graph per example
    graph = random_graph(seed, family, depth, delays, exact=True)
    x = random_inputs(graph, BATCH, seed)
    ref = reference_run(graph, x, _equilibrium_steps(graph, family, depth))
    if family in ("stbif", "mixed"):  # equilibrium: the last record changed and sent nothing
        for n in ref.V:
            assert ref.V[n][-1] == ref.V[n][-2], n
        assert not any(any(row) for n in ref.y for row in ref.y[n][-1])
    counts = sim.count(graph, x)  # the golden closed forms, held to the same values
    for b in range(BATCH):
        want = closed_forms(graph, x, b)
        for n, s in want["S"].items():
            assert [row[b] for row in ref.S[n]][-1] == s, (n, "S")
            assert counts["S"][n][b].reshape(-1).tolist() == s, (n, "count S")
        for n, v in want["V"].items():
            assert [row[b] for row in ref.V[n]][-1] == v, (n, "V")
            assert counts["V"][n][b].reshape(-1).tolist() == v, (n, "count V")


# --- hand-checked cases: each pins one sentence of the doc ---------------------------------

def _chain(neuron, src, readout=None, delay=0):
    readout = readout or ir.Readout(neuron.shape)
    nodes = {"in": src, "w": ir.Dense(np.eye(src.shape[0], dtype=int)), "n": neuron,
             "r": ir.Dense(np.eye(neuron.shape[0], dtype=int)), "out": readout}
    edges = [ir.Edge("in", "w", delay), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")]
    return ir.Graph(nodes, edges)


def test_delayed_edge_carries_zero_at_step_zero_then_the_last_step():
    g = _chain(ir.STBIF((1,), theta=4, s_max=5), ir.Source((1,), R=2, x_bits=8), delay=1)
    ref = assert_trace_equals_reference(g, np.array([[9]]), 4)
    # releases 4, 5 at steps 0, 1; the neuron sees 0, 4, 5, 0
    assert [r[0][0] for r in ref.V["n"]] == [0, 0, 1, 1]
    assert [r[0][0] for r in ref.y["n"]] == [0, 1, 1, 0]


def test_stbif_negative_tracer_and_bias_release():
    n = ir.STBIF((1,), theta=3, v0=1, bias=-10, bias_R=3, s_min=-2, s_max=2)
    ref = assert_trace_equals_reference(_chain(n, ir.Source((1,), R=1, x_bits=8)), np.array([[0]]), 5)
    # bias -10 released as -4, -3, -3: V' = -3, -3, -3; fires -1 while V' < 0 and S > s_min = -2
    assert [r[0][0] for r in ref.S["n"]] == [-1, -2, -2, -2, -2]
    assert [r[0][0] for r in ref.V["n"]] == [0, 0, -3, -3, -3]


def test_calif_settle_records_absorb_then_spikes():
    n = ir.CaLIF((1,), theta=4, T=1, gate=True)
    ref = assert_trace_equals_reference(_chain(n, ir.Source((1,), R=1, x_bits=8)), np.array([[10]]), 1)
    # window: V = 10 -> +1, V = 6. settle of n: absorb (nothing in flight), +1 (2V = 12 >= 4),
    # +1 (2V = 4 >= 4: half up), stop at V = -2. Then the Readout absorbs the 2 settle spikes.
    assert [r[0][0] for r in ref.S["n"]] == [1, 1, 2, 3, 3]
    assert [r[0][0] for r in ref.V["out"]] == [1, 1, 1, 1, 3]


def test_mutated_reference_is_caught(monkeypatch):
    """The comparison can fail: a reference with `>=` turned into `>` for ST-BIF disagrees."""
    import scalar_reference

    orig = scalar_reference._step_neuron

    def strict(node, P, st, I, t, win):
        if node.type == "STBIF":
            P.theta = [t_ + 1 for t_ in P.theta]  # V' >= theta becomes V' > theta (roughly)
            try:
                return orig(node, P, st, I, t, win)
            finally:
                P.theta = [t_ - 1 for t_ in P.theta]
        return orig(node, P, st, I, t, win)

    monkeypatch.setattr(scalar_reference, "_step_neuron", strict)
    g = _chain(ir.STBIF((1,), theta=4, s_max=5), ir.Source((1,), R=1, x_bits=8))
    with pytest.raises(AssertionError, match="differs first"):
        assert_trace_equals_reference(g, np.array([[8]]), 3)


def test_calif_settle_absorbs_per_edge_one_source_two_delays():
    # one Source reaches the CaLIF over a delay-0 and a delay-1 edge: in the absorb only the
    # delay-1 edge carries the window's last output (the golden once added it on both)
    nodes = {"in": ir.Source((1,), R=1, x_bits=8), "a": ir.Dense([[1]]), "b": ir.Dense([[1]]),
             "n": ir.CaLIF((1,), theta=4, T=1), "r": ir.Dense([[1]]), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "a", 0), ir.Edge("in", "b", 1), ir.Edge("a", "n"), ir.Edge("b", "n"),
             ir.Edge("n", "r"), ir.Edge("r", "out")]
    ref = assert_trace_equals_reference(ir.Graph(nodes, edges), np.array([[2]]), 1)
    # window V = 2; absorb V = 4; +1 (2V = 8 >= 4), V = 0; z = 4 -> S = round_half_up(1) = 1
    assert [r[0][0] for r in ref.V["n"]] == [2, 4, 0, 0]
    assert [r[0][0] for r in ref.S["n"]] == [0, 0, 1, 1]


def test_calif_with_other_neurons_is_refused():
    nodes = {"in": ir.Source((1,), R=1, x_bits=8), "w": ir.Dense([[1]]), "a": ir.CaLIF((1,), theta=4, T=2),
             "w2": ir.Dense([[1]]), "b": ir.STBIF((1,), theta=2, s_max=3), "r": ir.Dense([[1]]),
             "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "w"), ir.Edge("w", "a"), ir.Edge("a", "w2"), ir.Edge("w2", "b"),
             ir.Edge("b", "r"), ir.Edge("r", "out")]
    with pytest.raises(SimulationError, match=r"a graph with CaLIF nodes must have no other "
                                              r"neurons, not \['b'\]"):
        sim.run(ir.Graph(nodes, edges), [[9]], 2)


def test_count_sends_spikes_of_bits_and_ilif_to_plain_consumers():
    # q = 5 = 0b101 over T = 3 steps is 2 spikes to an STBIF; an ILIF code reaches a plain
    # Readout as its number of 1 bits, a horner Readout as the code itself
    src = ir.Source((1,), encoding="bits", T=3, x_bits=5)
    g = _chain(ir.STBIF((1,), theta=1, s_max=8), src)
    assert sim.count(g, [[5]])["S"]["n"].tolist() == [[2]]
    assert sim.run(g, [[5]], 6).final["n"]["S"].tolist() == [[2]]
    for horner, want in ((False, 2), (True, 5)):
        g = _chain(ir.ILIF((1,), theta=8, T=3), src, ir.Readout((1,), horner=horner))
        # H = 5, code = floor(5 * 8 / 8) = 5 = 0b101
        assert sim.count(g, [[5]])["output"].tolist() == [[want]], horner
        assert sim.run(g, [[5]], 7).output.tolist() == [[want]], horner
