"""Loihi-native Lava: random CUBA-LIF networks on Lava's OWN LIF/Dense/Conv processes equal the
golden run on u, v and spikes at every step (every value counted), and a mutation of the golden
CUBA-LIF rule is caught by them. Lava's library models are an oracle hwsnn did not write."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.errors import MappingError

lava = pytest.importorskip("hwsnn.mappings.lava")
from hwsnn.mappings.lava._native import native_reason  # noqa: E402

from cubanets import random_cuba_graph, random_cuba_inputs, random_source, union  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(600)]

STEPS, BATCH = 16, 2


def _nets(family, big, seeds=3, source=0):
    """Depths 1-4, `seeds` each, on one shared random Source, as one graph; its input."""
    src = random_source(np.random.default_rng([source, int(big), len(family)]), family)
    graphs = [random_cuba_graph([s, depth, int(big), len(family)], family, depth, big=big,
                                source=src) for depth in (1, 2, 3, 4) for s in range(seeds)]
    return union(graphs), random_cuba_inputs(graphs[0], BATCH, source)


def _values(graph):
    """Values verify must count: u, v, y of every CUBALIF neuron, every step and sample."""
    return sum(3 * STEPS * BATCH * int(np.prod(n.shape)) for n in graph.nodes.values()
               if isinstance(n, ir.CUBALIF))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["dense", "conv"])
@pytest.mark.parametrize("big", [False, True], ids=["int24", "wrap"])
def test_random_cuba_nets_equal_golden_every_step(family, big):
    g, x = _nets(family, big)
    assert native_reason(g) is None
    res = backends.verify(g, x, STEPS, backends=("lava",))["lava"]
    assert res.mismatches == 0, str(res.first)
    assert res.compared_values == _values(g)  # u, v, y of every neuron; S (no Lava state) not
    assert all(res.per_variable[f"{n}.{v}"] == 0 for n in g.neurons for v in "UVy")
    gold = sim.run(g.with_delays(1), x, STEPS)
    fired = {n.split(".")[1] for n in g.neurons if gold.y[n].any()}
    assert {"n0", "n1", "n2", "n3"} <= fired  # spikes reach every depth
    U = np.concatenate([gold.U[n].reshape(-1) for n in g.neurons])
    V = np.concatenate([gold.V[n].reshape(-1) for n in g.neurons])
    assert (U < 0).any() and (V < 0).any()  # negative values: the decays' rounding matters
    if big:  # near Loihi's register limits: u close to 2^23, v saturated
        assert np.abs(U).max() > 1 << 22
        assert np.abs(V).max() == (1 << 23) - 1


@pytest.mark.slow
def test_u_wrap_and_v_saturation_equal_lavas_lif():
    """Inputs of 64 I up to 2^28: u wraps once (and stays beyond 24 bits, as Lava writes it),
    v saturates, with and without current decay."""
    nodes = {"in": ir.Source((2,), encoding="analog", R=1, x_bits=8),
             "d": ir.Dense(np.array([[254, 0], [-254, 0], [0, 254], [0, -254]]), w_bits=9, w_exp=7),
             "n": ir.CUBALIF((4,), vth=(1 << 17) - 1, du=0, dv=0, bias_mant=[0, 0, 4095, -4096],
                             bias_exp=7)}
    g = ir.Graph(nodes, [ir.Edge("in", "d", 1), ir.Edge("d", "n")], "limits")
    x = np.array([[127, 127], [-128, 5], [3, -100]])
    res = backends.verify(g, x, 8, backends=("lava",))["lava"]
    assert res.mismatches == 0, str(res.first)
    assert res.compared_values == 3 * 8 * 3 * 4
    gold = sim.run(g, x, 8)
    assert np.abs(gold.U["n"]).max() > 1 << 24
    assert gold.V["n"].min() == -(1 << 23) + 1  # (at +2^23 - 1 it fires: above 2^6 vth_max)


def _floor_decay(x, keep):
    """The mutation: the decay rounds toward -inf (floor) instead of toward zero."""
    import torch
    return torch.div(x * keep, 4096, rounding_mode="floor")


@pytest.mark.slow
def test_mutated_decay_rounding_is_caught_by_lavas_own_lif(monkeypatch):
    import hwsnn.sim._neurons as rules  # the golden rule module
    g, x = _nets("dense", False, seeds=1)
    ok = backends.verify(g, x, STEPS, backends=("lava",))["lava"]
    assert ok.mismatches == 0
    monkeypatch.setattr(rules, "_decay", _floor_decay)
    bad = backends.verify(g, x, STEPS, backends=("lava",))["lava"]
    assert bad.mismatches > 0 and bad.first.variable in ("U", "V")
    assert bad.compared_values == ok.compared_values


def _readout_net():
    rng = np.random.default_rng(5)
    nodes = {"in": ir.Source((6,), encoding="rate", T=4, x_bits=4),
             "d1": ir.Dense(2 * rng.integers(-60, 60, (5, 6)), w_bits=9),
             "n1": ir.CUBALIF((5,), vth=20, du=300, dv=100, bias_mant=rng.integers(-50, 50, 5)),
             "sc": ir.Scale(1), "counts": ir.Readout((5,)),
             "d2": ir.Dense(rng.integers(0, 200, (3, 5)), w_bits=9), "logits": ir.Readout((3,))}
    edges = [ir.Edge("in", "d1", 1), ir.Edge("d1", "n1"), ir.Edge("n1", "sc", 1),
             ir.Edge("sc", "counts"), ir.Edge("n1", "d2", 1), ir.Edge("d2", "logits")]
    return ir.Graph(nodes, edges, "readouts"), rng.integers(0, 5, (3, 6))


@pytest.mark.slow
def test_readouts_of_a_native_graph_equal_golden():
    g, x = _readout_net()
    assert native_reason(g) is None
    res = backends.verify(g, x, 10, backends=("lava",))["lava"]
    assert res.mismatches == 0, str(res.first)
    assert res.per_variable["counts.V"] == 0 and res.per_variable["logits.V"] == 0
    assert res.compared_values == 10 * 3 * (3 * 5 + 5 + 3)


@pytest.mark.parametrize("change, reason", [
    (lambda g: g.replace_node("n1", ir.IF((5,), theta=3)),
     "node 'n1' is a IF: Lava's library LIF runs only CUBALIF (Loihi's neuron)"),
    (lambda g: g.replace_node("d2", ir.Dense(np.full((3, 5), -3) * [[1, -1, 1, 1, 1]], w_bits=9)),
     "Dense 'd2': Lava's Dense would change W (mixed-sign weights must be even (Loihi drops "
     "their low bit), not -3 at flat index 0)"),
    (lambda g: g.replace_node("in", ir.Source((6,), encoding="bits", T=3)),
     "Source 'in': only analog or rate inputs of shape (N,) or (C, H, W) map onto Lava's "
     "RingBuffer"),
])
def test_native_reason_names_what_does_not_map(change, reason):
    g, _ = _readout_net()
    assert native_reason(change(g)) == reason


def test_conv_with_negative_weight_exponent_is_not_native_and_lava_says_why():
    g = random_cuba_graph(0, "conv", 1)
    c = g.nodes["s0"]
    g = g.replace_node("s0", ir.Conv2d(c.W, stride=c.stride, padding=c.padding, w_bits=9, w_exp=-1))
    why = native_reason(g)
    assert why.startswith("Conv2d 's0' has w_exp -1: Lava's Conv has no weight exponent")
    with pytest.raises(MappingError, match=r"graph 'cuba-conv-1' is not Loihi-native: Conv2d 's0'"):
        lava.run(g, random_cuba_inputs(g, 1, 0), 3)
