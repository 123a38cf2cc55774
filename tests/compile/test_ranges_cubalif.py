"""Range analysis of CUBALIF (Loihi's LIF): the per-step input bound (int24), fixed 24-bit u/v,
spike counts bounded by the step count; every golden input stays inside the static bound."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.compile import bounds, fit_widths
from hwsnn.errors import CompileError, RangeError

from cubanets import random_cuba_graph, random_cuba_inputs


def _net(W, w_exp=0, x_bits=4):
    nodes = {"in": ir.Source((len(W[0]),), encoding="analog", R=1, x_bits=x_bits),
             "d": ir.Dense(np.array(W), w_bits=9, w_exp=w_exp),
             "n": ir.CUBALIF((len(W),), vth=5, du=4095, dv=0),
             "sc": ir.Scale(1), "out": ir.Readout((len(W),))}
    edges = [ir.Edge("in", "d", 1), ir.Edge("d", "n"), ir.Edge("n", "sc", 1), ir.Edge("sc", "out")]
    return ir.Graph(nodes, edges, "r")


def test_per_step_input_bound_by_hand():
    # inputs in [-8, 7]: row [4, -6] reaches 4*7 + 6*8 = 76 and -(4*8 + 6*7) = -74; 2^-1 floors
    regs = bounds(_net([[4, -6], [2, 2]], w_exp=-1), (-8, 7), steps=12)[1]
    assert regs["n"] == {"V": (-(2 ** 23 - 1), 2 ** 23 - 1), "S": (0, 12), "I": (-37, 38)}
    assert regs["out"]["V"] == (0, 12)  # spike counts of 12 steps


def test_input_beyond_int24_is_a_range_error_naming_the_layer():
    # x in [-128, 127], W = [254, -254, 254]: max 254 (127 + 128 + 127) 2^7 = 12419584,
    # min -254 (128 + 127 + 128) 2^7 = -12452096
    with pytest.raises(RangeError, match=r"layer 'n': CUBALIF input I can reach \[-12452096, "
                                         r"12419584\] in one step \(static bound\), outside int24"):
        bounds(_net([[254, -254, 254]], w_exp=7, x_bits=8), (-128, 127))
    bounds(_net([[254, -254, 254]], w_exp=6, x_bits=8), (-128, 127), steps=4)  # half fits


def test_a_readout_of_spike_counts_needs_the_step_count():
    with pytest.raises(CompileError, match="node 'out': its input counts CUBALIF spikes, unbounded"):
        bounds(_net([[1, 1]]), (0, 3))
    g = _net([[1, 1]])
    g.meta["steps"] = 20
    fitted = fit_widths(g, (0, 3))
    assert fitted.nodes["n"].v_bits == 24 and fitted.nodes["n"].s_bits == ir.bits_for(0, 20)


@pytest.mark.parametrize("family", ["dense", "conv"])
def test_golden_inputs_stay_inside_the_static_bound(family):
    """With du = 4095 (no current state) and no wrap, u = 64 I: the golden u of random nets lies
    within 64 x the bound at every step."""
    for seed in range(8):
        g = random_cuba_graph([seed, 7], family, 3)
        g = ir.Graph({n: (ir.CUBALIF(v.shape, vth=v.vth, du=4095, dv=v.dv, bias_mant=v.bias_mant,
                                     bias_exp=v.bias_exp) if isinstance(v, ir.CUBALIF) else v)
                      for n, v in g.nodes.items()}, g.edges, g.name)
        src = g.nodes["in"]
        rng = (0, src.T) if src.encoding == "rate" else ir.int_range(src.x_bits)
        regs = bounds(g, rng)[1]
        tr = sim.run(g, random_cuba_inputs(g, 3, seed), 12)
        for n in g.neurons:
            lo, hi = regs[n]["I"]
            if 64 * max(-lo, hi) < 2 ** 23:  # no wrap possible: u is exactly 64 I
                assert tr.U[n].min() >= 64 * lo and tr.U[n].max() <= 64 * hi, (seed, n)
