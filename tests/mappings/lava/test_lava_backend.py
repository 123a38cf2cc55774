"""Lava back end vs. the golden simulator: every variable, every step, atol = 0."""

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.errors import IRError, MappingError, RangeError, SimulationError
from hwsnn.ir import STBIF, Dense, Edge, Graph, Readout, Source
from hwsnn.backends import check_graph

lava = pytest.importorskip("hwsnn.mappings.lava")
from lava_nets import NETS, make  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]  # a hang fails, never blocks


def expected_values(graph, steps, batch):
    """V, S, y of every neuron and V of every readout, at every step of every sample."""
    per_sample = sum(int(np.prod(node.shape)) * {"neuron": 3, "readout": 1}[node.ROLE]
                     for node in graph.nodes.values() if node.ROLE in ("neuron", "readout"))
    return steps * batch * per_sample


def _same_trace(gold, tr, graph, batch):
    check_graph(graph, tr.graph, "lava")
    c = backends.compare(gold, tr, "lava")
    assert c.compared_values == expected_values(graph, tr.steps, batch) > 0
    assert c.mismatches == 0, str(c.first)
    assert np.array_equal(tr.t_eq, gold.t_eq) and np.array_equal(tr.settled, gold.settled)
    for n in gold.final:
        for var in ("V", "S"):
            assert np.array_equal(tr.final[n][var], gold.final[n][var]), (n, var)
    for n in gold.spikes:
        assert np.array_equal(tr.spikes[n], gold.spikes[n]), n
    return c


@pytest.mark.parametrize("delay", [1, 0])
@pytest.mark.parametrize("name", NETS)
def test_random_net_matches_golden(name, delay):
    graph, x, steps = make(name, seed=1)
    tr = lava.run(graph, x, steps, delay=delay)
    assert all(e.delay == delay for e in tr.graph.edges if graph.nodes[e.src].ROLE != "synapse")
    gold = sim.run(tr.graph, x, steps)
    _same_trace(gold, tr, graph.with_delays(delay), len(x))
    assert sum(int(s.sum()) for s in gold.spikes.values()) > 0  # the net is not silent
    assert tr.steps == gold.steps >= steps  # Ca-LIF: settle steps appended


@pytest.mark.slow
@pytest.mark.parametrize("seed", [2, 3, 4])
@pytest.mark.parametrize("name", NETS)
def test_more_random_nets_match_golden(name, seed):
    graph, x, steps = make(name, seed=seed)
    tr = lava.run(graph, x, steps)
    _same_trace(sim.run(tr.graph, x, steps), tr, graph.with_delays(1), len(x))


def test_graph_delays_kept_with_delay_none():
    graph, x, steps = make("STBIF-conv", seed=2)
    rng = np.random.default_rng(3)
    edges = [Edge(e.src, e.dst, int(rng.integers(0, 2)) if graph.nodes[e.src].ROLE != "synapse" else 0)
             for e in graph.edges]
    mixed = Graph(graph.nodes, edges, graph.name)
    assert len({e.delay for e in edges}) == 2
    tr = lava.run(mixed, x, steps, delay=None)
    assert [e.delay for e in tr.graph.edges] == [e.delay for e in edges]
    _same_trace(sim.run(mixed, x, steps), tr, mixed, len(x))


def _tiny(v_bits=16, theta=8):
    nodes = {"in": Source((3,), R=1, x_bits=8), "fc": Dense(np.array([[1, 2, 3], [3, -2, 1]])),
             "n": STBIF((2,), theta=theta, v0=4, s_max=3, v_bits=v_bits), "fo": Dense(np.eye(2, dtype=int)),
             "out": Readout((2,))}
    chain = list(nodes)
    return Graph(nodes, [Edge(a, b) for a, b in zip(chain, chain[1:])], "tiny")


def test_membrane_overflow_is_a_range_error_naming_the_node():
    # delay 1: step 0 keeps V = v0 = 4; step 1: 4 + (20 + 60 + 120) = 204 -> fires -> 174
    with pytest.raises(RangeError, match=r"^node 'n': membrane V reached \[4, 174\], outside its "
                                         r"int6 register \[-32, 31\]"):
        lava.run(_tiny(v_bits=6, theta=30), np.array([[20, 30, 40]]), 2)


def test_parameter_that_does_not_fit_fails_at_lowering(tmp_path):
    g = _tiny(v_bits=6, theta=40)
    with pytest.raises(IRError,
                       match=r"^node 'n': theta must fit int6 \[-32, 31\], not values in \[40, 40\]$"):
        lava.lower(g, np.zeros((1, 3), dtype=int), 3, record_dir=str(tmp_path))


def test_steps_checked_as_golden_does(tmp_path):
    graph, x, _ = make("CaLIF-dense")
    with pytest.raises(SimulationError, match=r"^a CaLIF network runs its window of T=6 steps, not steps=5$"):
        lava.lower(graph, x, 5, record_dir=str(tmp_path))
    with pytest.raises(SimulationError, match=r"^steps must be >= 1, not 0$"):
        lava.lower(_tiny(), np.zeros((1, 3), dtype=int), 0, record_dir=str(tmp_path))


def test_disconnected_graph_is_a_mapping_error(tmp_path):
    g = _tiny()
    nodes = dict(g.nodes, in2=Source((2,), x_bits=4), fc2=Dense(np.eye(2, dtype=int)), out2=Readout((2,)))
    edges = g.edges + [Edge("in2", "fc2"), Edge("fc2", "out2")]
    x = {"in": np.zeros((1, 3), dtype=int), "in2": np.zeros((1, 2), dtype=int)}
    with pytest.raises(MappingError, match=r"^graph 'tiny': Lava runs one connected network; nodes "
                                           r"\['fc2', 'in2', 'out2'\] are not connected to the rest$"):
        lava.lower(Graph(nodes, edges, "tiny"), x, 3, record_dir=str(tmp_path))


def test_lowering_states_the_ir_widths(tmp_path):
    g = _tiny(v_bits=12)
    lnet = lava.lower(g, np.zeros((2, 3), dtype=int), 3, record_dir=str(tmp_path))
    assert lnet.graph.edges[0].delay == 1 and lnet.batch == 2
    assert lnet.widths["in"] == {"s_out": 8}
    assert lnet.widths["fc"] == {"w": 8, "a_out": 11}  # |a| <= 128 * 6 = 768 < 2^10
    assert lnet.widths["n"] == {"v": 12, "a_in": 53, "theta": 12, "v0": 12, "bias": 12, "s": 8, "y": 2}
    assert lnet.widths["out"] == {"v": 32, "a_in": 53}


@pytest.mark.slow
def test_digits_network_on_20_test_images():
    from hwsnn.examples import load_digits_ir
    graph, x, y, steps = load_digits_ir(n_test=20)
    assert len(x) >= 20
    tr = lava.run(graph, x, steps)
    gold = sim.run(tr.graph, x, steps)
    c = _same_trace(gold, tr, graph.with_delays(1), len(x))
    assert c.compared_values > 1_000_000
    assert np.array_equal(tr.output, sim.count(graph, x)["output"])  # equilibrium: count semantics


def test_input_check_is_not_the_oracles(monkeypatch):
    """Lava checks and converts its input with the executors' own code: an oracle whose input
    check alters the values does not reach Lava, so the traces differ."""
    import torch

    import hwsnn.sim._encode as enc
    import hwsnn.sim._step as step
    graph, x, steps = make("STBIF-dense", seed=3)
    real = enc.check_input

    def shifted(name, node, q):  # a corrupted oracle: every input value one higher
        return torch.clamp(real(name, node, q) + 1, max=2 ** (node.x_bits - 1) - 1)
    monkeypatch.setattr(step, "check_input", shifted)
    tr = lava.run(graph, x, steps)
    assert backends.compare(sim.run(tr.graph, x, steps), tr, "lava").mismatches > 0
    monkeypatch.undo()
    _same_trace(sim.run(tr.graph, x, steps), tr, tr.graph, len(x))
