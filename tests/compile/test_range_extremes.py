"""The range bounds against golden runs that reach them (hwsnn.compile._ranges).

Each case is one hand-built neuron whose drive is enumerated exhaustively: every input of a
small range (an analog Source), or every sign sequence of a relay (a bits Source pair -> a
theta-1 ST-BIF `u` that passes on +1 / -1 / 0 per step, so the neuron's cumulative input walks
up and down between -K*w and K*w). The register holds V before the reset too (V' = V + y*theta),
so both are checked. Every value reached lies inside the static bound (soundness), and on the
sides a case names, the golden run reaches the bound exactly (the bound is tight there): a term
that is one too small or one too large on that side fails.

The cases drive every term: down spikes (s_min < 0), v0 < 0, the ST-BIF / IF "one spike per
step" terms, the identity V = v0 + D - theta*S, the S clip, the derived S of an IF without
s_max, and Ca-LIF's window and settle phase (gate, no gate, leak of both signs, s_max).
"""

import itertools

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.compile import bounds


def _direct(neuron, W, R, delay):
    nodes = {"in": ir.Source((len(W[0]),), R=R, x_bits=6), "w": ir.Dense(np.array(W)), "n": neuron,
             "r": ir.Dense(np.ones((1, 1), dtype=np.int64)), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "w", delay), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")]
    return ir.Graph(nodes, edges, name="direct")


def _relayed(neuron, K, T, w, delay):
    nodes = {"in": ir.Source((2,), encoding="bits", T=T, x_bits=T + 1), "d": ir.Dense(np.array([[1, -1]])),
             "u": ir.STBIF((1,), theta=1, v0=0, s_min=-K, s_max=K), "w": ir.Dense(np.array([[w]])),
             "n": neuron, "r": ir.Dense(np.ones((1, 1), dtype=np.int64)), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "d"), ir.Edge("d", "u"), ir.Edge("u", "w", delay), ir.Edge("w", "n"),
             ir.Edge("n", "r"), ir.Edge("r", "out")]
    return ir.Graph(nodes, edges, name="relayed")


def _reached(graph, x, steps):
    node = graph.nodes["n"]
    tr = sim.run(graph, x, node.T if isinstance(node, ir.CaLIF) else steps)
    V, y, S = (tr.V["n"].astype(np.int64), tr.y["n"].astype(np.int64), tr.S["n"].astype(np.int64))
    pre = V + y * np.asarray(node.theta)  # the register before the reset of this step
    return (int(min(V.min(), pre.min())), int(max(V.max(), pre.max()))), (int(S.min()), int(S.max()))


STBIF, IF, CALIF = ir.STBIF, ir.IF, ir.CaLIF
# (id, neuron, drive, tight sides of V, tight sides of S); drive: ("direct", W, (lo, hi), R,
# delay) or ("relay", K, T, w, delay)
CASES = [
    # the issue's ST-BIF: V' = -1 at step 0 -> down spike -> V = theta - 1 = 3 (the a_hi term)
    ("stbif-down-spike", STBIF((1,), theta=4, v0=-1, s_min=-1, s_max=1), ("direct", [[1]], (0, 0), 1, 0),
     "lo hi", "lo"),
    ("stbif-down-spike-relay", STBIF((1,), theta=4, v0=-1, s_min=-1, s_max=1), ("relay", 1, 5, 2, 0), "hi", "lo"),
    ("stbif-down-spike-late", STBIF((1,), theta=4, v0=-1, s_min=-1, s_max=1), ("direct", [[1]], (0, 2), 1, 1),
     "hi", "lo"),
    ("stbif-v0-negative", STBIF((1,), theta=4, v0=-3, s_min=-1, s_max=1), ("direct", [[1]], (-4, 0), 1, 0),
     "lo hi", "lo"),
    ("stbif-no-down", STBIF((1,), theta=4, v0=-3, s_min=0, s_max=1), ("direct", [[1]], (-4, 4), 1, 0), "hi", "lo"),
    ("stbif-up-swing", STBIF((1,), theta=3, v0=-2, s_min=-4, s_max=4), ("relay", 1, 5, 2, 0), "lo", ""),
    ("stbif-s-clip", STBIF((1,), theta=2, v0=-1, s_min=-2, s_max=2), ("relay", 2, 6, 3, 0), "", "lo hi"),
    ("stbif-s-clip-bias", STBIF((1,), theta=3, v0=1, s_min=-1, s_max=3, bias=-2, bias_R=2),
     ("direct", [[2]], (-4, 5), 1, 0), "", "lo hi"),
    ("if-derived-s", IF((1,), theta=3, v0=-2, s_max=0), ("relay", 1, 5, 2, 0), "lo hi", "lo"),
    ("if-derived-s-wide", IF((1,), theta=3, v0=-2, s_max=0), ("direct", [[1]], (-5, 8), 1, 0), "hi", "lo"),
    ("if-s-max", IF((1,), theta=3, v0=1, s_max=2), ("relay", 1, 5, 2, 1), "lo hi", "lo"),
    ("if-s-max-wide", IF((1,), theta=3, v0=1, s_max=2), ("relay", 2, 6, 3, 0), "lo", "lo hi"),
    ("calif-gate", CALIF((1,), theta=4, leak=0, T=2, gate=True), ("direct", [[1]], (-9, 9), 1, 0), "hi", "lo"),
    ("calif-leak-negative", CALIF((1,), theta=4, leak=-1, T=2, gate=True), ("direct", [[1]], (-9, 9), 1, 1),
     "hi", "lo"),
    ("calif-s-max", CALIF((1,), theta=3, leak=0, T=1, gate=True, s_max=2), ("direct", [[1]], (-9, 9), 1, 0),
     "hi", "lo hi"),
    # no tight side (the settle phase and the ungated S stay well inside): soundness only
    ("calif-no-gate", CALIF((1,), theta=4, leak=2, T=2, gate=False), ("direct", [[1, -1]], (-5, 5), 1, 1), "", ""),
    ("calif-odd-theta", CALIF((1,), theta=5, leak=0, T=1, gate=False), ("direct", [[1]], (-9, 9), 1, 0), "", ""),
]


def _case(drive, neuron):
    if drive[0] == "direct":
        _, W, (lo, hi), R, delay = drive
        g = _direct(neuron, W, R, delay)
        x = np.array(list(itertools.product(range(lo, hi + 1), repeat=len(W[0]))))
        return g, (lo, hi), x, 20
    _, K, T, w, delay = drive
    g = _relayed(neuron, K, T, w, delay)
    x = np.array(list(itertools.product(range(2 ** T), repeat=2)))  # every pair of bit sequences
    return g, (0, 2 ** T - 1), x, T + 4


@pytest.mark.parametrize("name,neuron,drive,tight_v,tight_s", CASES, ids=[c[0] for c in CASES])
def test_bound_holds_and_is_reached(name, neuron, drive, tight_v, tight_s):
    g, input_range, x, steps = _case(drive, neuron)
    regs = bounds(g, input_range)[1]["n"]
    (vlo, vhi), (slo, shi) = _reached(g, x, steps)
    blo, bhi = regs["V"]
    assert blo <= vlo and vhi <= bhi, f"{name}: V reached [{vlo}, {vhi}] outside the bound [{blo}, {bhi}]"
    sb = regs["S"]
    assert sb[0] <= slo and shi <= sb[1], f"{name}: S reached [{slo}, {shi}] outside the bound {sb}"
    for side, got, bound in (("lo", vlo, blo), ("hi", vhi, bhi)):
        if side in tight_v.split():
            assert got == bound, f"{name}: V {side} bound {bound}, the golden run reaches {got}"
    for side, got, bound in (("lo", slo, sb[0]), ("hi", shi, sb[1])):
        if side in tight_s.split():
            assert got == bound, f"{name}: S {side} bound {bound}, the golden run reaches {got}"


def test_issue_stbif_reaches_theta_minus_one_after_a_down_spike():
    """theta = 4, v0 = -1, s_min = -1, no input: V' = -1 < 0 and S = 0 > s_min, so the neuron
    sends -1 and V = -1 + 4 = 3 (a register one bit wider than a bound of 2 would allow)."""
    g = _direct(STBIF((1,), theta=4, v0=-1, s_min=-1, s_max=1), [[1]], 1, 0)
    tr = sim.run(g, np.zeros((1, 1), dtype=np.int64), 3)
    assert tr.y["n"][:, 0, 0].tolist() == [-1, 0, 0]
    assert tr.V["n"][0, 0, 0] == 3
    assert bounds(g, (0, 0))[1]["n"]["V"] == (-1, 3)
