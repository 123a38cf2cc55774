"""CUBALIF (Loihi's LIF) in the golden simulator: held to the scalar reference on random networks
at every step (u, v, S, y), its edge cases by hand from docs/ir-format.md, and no count form."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.errors import IRError, RangeError, SimulationError

from cubanets import FAMILIES, random_cuba_graph, random_cuba_inputs
from refcheck import assert_trace_equals_reference


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("depth", [1, 2, 3, 4])
@pytest.mark.parametrize("big", [False, True], ids=["int24", "wrap"])
def test_golden_equals_scalar_reference(family, depth, big):
    for seed in range(6):
        g = random_cuba_graph([seed, depth], family, depth, big=big)
        x = random_cuba_inputs(g, 2, seed)
        assert_trace_equals_reference(g, x, 12)


def _one(du=0, dv=0, vth=10, mant=0, exp=0, w=2, w_exp=0):
    nodes = {"in": ir.Source((1,), encoding="analog", R=1, x_bits=8),
             "d": ir.Dense(np.array([[w]]), w_bits=9, w_exp=w_exp),
             "n": ir.CUBALIF((1,), vth=vth, du=du, dv=dv, bias_mant=mant, bias_exp=exp)}
    return ir.Graph(nodes, [ir.Edge("in", "d", 1), ir.Edge("d", "n")])


def _run(g, q, steps=3):
    tr = sim.run(g, np.array([[q]]), steps)
    return tr.U["n"][:, 0, 0].tolist(), tr.V["n"][:, 0, 0].tolist(), tr.y["n"][:, 0, 0].tolist()


def test_hand_computed_steps():
    # step 1 gets I = 2 * 100 = 200: u = 64 * 200 = 12800; v = 12800 > 64 * 10 -> spike, v = 0
    # step 2: u = trunc0(12800 * 4095 / 4096) = 12796; v = 12796 -> spike again
    assert _run(_one(), 100) == ([0, 12800, 12796], [0, 0, 0], [0, 1, 1])
    # negative u decays toward zero: trunc0(-12800 * 4095 / 4096) = -12796, not -12797
    # v with dv = 2048 halves toward zero: trunc0(-12800 * 2048 / 4096) = -6400; -6400 - 12796
    assert _run(_one(dv=2048, w=-2), 100) == ([0, -12800, -12796], [0, -12800, -19196], [0, 0, 0])
    # du = 4095 keeps no current; bias 3 << 2 = 12 every step; weight exponent -1 floors 199 / 2
    u, v, y = _run(_one(du=4095, vth=1000, mant=3, exp=2, w=1, w_exp=-1), 99)
    assert u == [0, 64 * 49, 0] and v == [12, 12 + 3136 + 12, 12 + 3136 + 24] and y == [0, 0, 0]


def test_u_wraps_and_v_saturates_as_loihi():
    # I = 254 * 127 * 2^7 = 4129024: 64 I = 264257536 wraps once (-2^24), stays beyond 2^23
    g = _one(w=254, w_exp=7, vth=(1 << 17) - 1, du=4095)
    u, v, y = _run(g, 127, 2)
    assert u[1] == 64 * 4129024 - (1 << 24) and v[1] == 0 and y[1] == 1  # v saturated, then fired
    g = _one(w=-254, w_exp=7, du=4095)
    u, v, y = _run(g, 127, 2)
    assert u[1] == -64 * 4129024 + (1 << 24) and v[1] == -(1 << 23) + 1 and y[1] == 0


def test_input_beyond_int24_is_a_range_error():
    g = _one(w=255, w_exp=7)
    sim.run(g, np.array([[127]]), 3)  # 255 * 127 * 2^7 = 4145280 fits int24
    g = g.replace_node("d", ir.Dense(np.array([[255, 255]]), w_bits=9, w_exp=7))
    g.nodes["in"] = ir.Source((2,), encoding="analog", R=1, x_bits=9)
    with pytest.raises(RangeError, match=r"node 'n': CUBALIF input I reached \[13056000, "
                                         r"13056000\] at step 1, outside int24"):
        sim.run(g, np.array([[200, 200]]), 3)


def test_count_refuses_cubalif():
    with pytest.raises(SimulationError, match="node 'n': a CUBALIF .* has no count semantics"):
        sim.count(_one(), np.array([[1]]))


@pytest.mark.parametrize("W, message", [
    ([[-2, 3]], "mixed-sign weights must be even (Loihi drops their low bit), not 3 at flat "
                "index 1"),
    ([[256, 2]], "one-signed weights must lie in [-255, 255], not [2, 256]"),
    ([[-258, 2]], "mixed-sign weights must lie in [-256, 254], not [-258, 2]"),
])
def test_loader_refuses_weights_loihi_would_change(W, message):
    g = _one()
    g2 = g.replace_node("d", ir.Dense(np.array(W), w_bits=10))
    g2.nodes["in"] = ir.Source((2,), encoding="analog", R=1, x_bits=8)
    with pytest.raises(IRError) as exc:
        ir.verify(g2)
    assert str(exc.value) == f"node 'd': W feeds CUBALIF 'n': {message}"
    assert np.array_equal(ir.loihi_weights(W), ir.loihi_weights(ir.loihi_weights(W)))
    assert ir.loihi_weight_error(ir.loihi_weights(W)) is None


def test_w_exp_only_into_cubalif_and_bias_ranges():
    nodes = {"in": ir.Source((1,)), "d": ir.Dense(np.array([[1]]), w_exp=1),
             "out": ir.Readout((1,))}
    with pytest.raises(IRError, match="node 'd': w_exp must be 0 on a synapse that feeds a "
                                      "Readout"):
        ir.verify(ir.Graph(nodes, [ir.Edge("in", "d"), ir.Edge("d", "out")]))
    g = _one().replace_node("n", ir.CUBALIF((1,), vth=1, bias_mant=4096))
    with pytest.raises(IRError, match=r"node 'n': bias_mant must lie in \[-4096, 4095\], not"):
        ir.verify(g)
    g = _one().replace_node("n", ir.CUBALIF((1,), vth=1, bias_exp=8))
    with pytest.raises(IRError, match=r"node 'n': bias_exp must lie in \[0, 7\]"):
        ir.verify(g)


def test_cubalif_graph_round_trips_through_a_file(tmp_path):
    g = random_cuba_graph(3, "conv", 3)
    ir.save(g, tmp_path / "c.hwir")
    g2 = ir.load(tmp_path / "c.hwir")
    x = random_cuba_inputs(g, 2, 3)
    a, b = sim.run(g, x, 10), sim.run(g2, x, 10)
    for n in g.neurons:
        for var in ("U", "V", "y"):
            assert np.array_equal(getattr(a, var)[n], getattr(b, var)[n]), (n, var)
