"""CUBA-LIF (Loihi's neuron) in the neuron core: random CUBA-LIF networks (dense and conv, 1-4
layers, random decays, biases, thresholds, weight exponents, one-sign and mixed-sign Loihi
weights) on the RTL fast path equal golden on u, v, S and y at every step and on the memories
read back after the last step; a decay rounded toward -inf instead of toward zero is caught."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.backends import compare, verify
from hwsnn.errors import MappingError
from hwsnn.mappings.rtl import lower, run

from cubanets import random_cuba_graph, random_cuba_inputs
from rtlsim import need_sim

pytestmark = pytest.mark.rtl

STEPS = 16


def expected_values(graph, steps, batch):
    """u, v, S, y of every neuron at every step, then v and S read back after the last step."""
    n = sum(int(np.prod(graph.nodes[k].shape)) for k in graph.neurons)
    return batch * (steps * 4 * n + 2 * n)


def golden_of(graph, x):
    """The golden run, and a check that it is a strong test: every layer spikes, some u is
    negative (where rounding toward zero differs from a floor)."""
    golden = sim.run(graph.with_delays(1), x, STEPS)
    assert all(np.abs(golden.y[k]).sum() > 0 for k in graph.neurons), "a layer never spikes: a weak test"
    assert any((golden.U[k] < 0).any() for k in graph.neurons), "u never negative: a weak test"
    return golden


def check_verify(family, depth, seed, simulator, batch=2):
    need_sim(simulator)
    graph = random_cuba_graph(seed, family=family, depth=depth)
    x = random_cuba_inputs(graph, batch, seed)
    golden_of(graph, x)
    res = verify(graph, x, STEPS, backends=["rtl"], sim=simulator)["rtl"]
    assert res.mismatches == 0, str(res.first)
    assert res.compared_values == expected_values(graph, STEPS, batch)
    assert {f"{k}.U" for k in graph.neurons} <= set(res.per_variable)


def test_lowering_reads_the_node_from_the_ir():
    g = random_cuba_graph(2, family="dense", depth=2)
    net = lower(g, lanes=3)
    for name, c in zip(net.nodes, net.cores):
        node = g.nodes[name]
        assert c.kind == "cubalif" and (c.du, c.dv) == (node.du, node.dv)
        assert (c.theta == node.vth * 64).all()
        mant = np.broadcast_to(node.bias_mant, node.shape).reshape(-1)
        exp = np.broadcast_to(node.bias_exp, node.shape).reshape(-1)
        assert (c.cbias == mant * 2 ** exp).all()
        assert c.w_exp == g.nodes[g.inputs_of(name)[0].src].w_exp


def test_synapses_with_different_exponents_are_refused():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Source((4,), x_bits=3),
             "a": ir.Dense(2 * rng.integers(-3, 4, (3, 4)), w_exp=1), "b": ir.Dense(rng.integers(0, 4, (3, 4)), w_exp=2),
             "n": ir.CUBALIF((3,), vth=5, du=100, dv=200)}
    E = ir.Edge
    g = ir.Graph(nodes, [E("in", "a", 1), E("in", "b", 1), E("a", "n"), E("b", "n")], "two-exp")
    with pytest.raises(MappingError, match=r"node 'n': the RTL core applies one weight exponent .* \[1, 2\]"):
        lower(g)


@pytest.mark.parametrize("family,depth,seed", [("dense", 2, 2), ("conv", 1, 1)])
def test_random_cuba_networks_on_icarus(family, depth, seed):
    check_verify(family, depth, seed, "icarus")


def test_two_bit_analog_source_sends_minus_two_on_icarus():
    """A 2-bit analog Source sends values in [-2, 1]: the core must multiply, not treat the
    events as spikes (+w, -w, 0), which once dropped every -2 (found by this network)."""
    graph = random_cuba_graph(3, family="dense", depth=1)
    src = graph.nodes["in"]
    assert src.encoding == "analog" and src.x_bits == 2
    x = random_cuba_inputs(graph, 3, 3)
    assert (x == -2).any()
    check_verify("dense", 1, 3, "icarus", batch=3)


@pytest.mark.slow
@pytest.mark.parametrize("family,depth,seed", [("dense", 1, 3), ("dense", 2, 7), ("dense", 3, 5), ("dense", 4, 11),
                                               ("conv", 1, 4), ("conv", 2, 3), ("conv", 3, 1), ("conv", 4, 2)])
def test_random_cuba_networks_on_verilator(family, depth, seed):
    check_verify(family, depth, seed, "verilator", batch=3)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 3])
def test_cuba_lanes_on_verilator(lanes):
    """Fewer lanes than neurons: several neurons per lane, u/v/P/S at several addresses."""
    need_sim("verilator")
    graph = random_cuba_graph(3, family="conv", depth=4)
    x = random_cuba_inputs(graph, 2, 3)
    golden = golden_of(graph, x)
    trace = run(graph, x, STEPS, sim="verilator", lanes=lanes)
    res = compare(golden, trace, "rtl")
    assert res.mismatches == 0, str(res.first)
    assert res.compared_values == expected_values(graph, STEPS, 2)


@pytest.mark.parametrize("simulator", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_mutated_decay_rounding_is_caught(simulator):
    """The core built with its decays rounded toward -inf (a >> 12) differs from golden; the
    first divergence is a u or v at a step where that u or v was negative."""
    need_sim(simulator)
    graph = random_cuba_graph(2, family="dense", depth=2)
    x = random_cuba_inputs(graph, 2, 2)
    golden = golden_of(graph, x)
    good = compare(golden, run(graph, x, STEPS, sim=simulator), "rtl")
    assert good.mismatches == 0, str(good.first)
    bad = compare(golden, run(graph, x, STEPS, sim=simulator, _mutate_ge=True), "rtl")
    assert bad.mismatches > 0
    assert bad.first is not None and bad.first.variable in ("U", "V"), str(bad.first)
