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


def test_analog_source_counts_from_zero_before_its_release():
    """Input range [2, 6] released over R = 3 steps: at step 0 a value 2 has released
    floor(2/3) = 0, so the cumulative input (and a readout's V) starts at 0, not at 2."""
    g = ir.Graph({"in": ir.Source((1,), R=3, x_bits=6), "w": ir.Dense(np.array([[1]])), "out": ir.Readout((1,))},
                 [ir.Edge("in", "w"), ir.Edge("w", "out")], name="partial")
    tr = sim.run(g, np.arange(2, 7).reshape(-1, 1), 4)
    assert bounds(g, (2, 6))[1]["out"]["V"] == (int(tr.V["out"].min()), int(tr.V["out"].max())) == (0, 6)


def _documented(node, zlo, zhi):
    """The bounds of module docstring of hwsnn/compile/_ranges.py, written out for one neuron
    with scalar parameters (Python ints and floats, no numpy): ((V lo, V hi), (S lo, S hi))."""
    import math
    th = int(node.theta)
    if isinstance(node, ir.ILIF):
        b = int(node.bias)
        alo, ahi = zlo + min(b, 0), zhi + max(b, 0)
        return (2 ** node.T * min(alo, 0), 2 ** node.T * max(ahi, 0)), (0, 2 ** node.T - 1)
    if isinstance(node, ir.CaLIF):
        leak, v0 = int(node.leak), 0
        dlo, dhi = zlo - node.T * max(leak, 0), zhi - node.T * min(leak, 0)
        a_lo, a_hi = -(th // 2), (th - 1) // 2
    else:
        b, v0 = int(node.bias), int(node.v0)
        dlo, dhi = zlo + min(b, 0), zhi + max(b, 0)
        a_lo, a_hi = 0, (th - 1 if isinstance(node, ir.STBIF) else None)
    lo = min(v0 + dlo, a_lo + dlo - dhi)
    hi = v0 + dhi if a_hi is None else max(v0 + dhi, a_hi + dhi - dlo)
    if isinstance(node, ir.STBIF):
        slo, shi = node.s_min, node.s_max
    elif isinstance(node, ir.IF):
        slo, shi = 0, node.s_max if node.s_max > 0 else math.ceil((v0 + dhi - lo) / th)
    else:
        slo = 0 if node.gate else math.floor((dlo - hi) / th)
        shi = node.s_max if node.s_max > 0 else math.ceil((dhi - lo) / th)
    return (max(lo, v0 + dlo - shi * th), min(hi, v0 + dhi - slo * th)), (slo, shi)


def _neurons():
    for th, v0, b in itertools.product((1, 2, 5, 8), (-3, 0, 2), (-4, 0, 3)):
        yield ir.STBIF((1,), theta=th, v0=v0, bias=b, s_min=-2, s_max=3)
        yield ir.STBIF((1,), theta=th, v0=v0, bias=b, s_min=0, s_max=1)
        yield ir.IF((1,), theta=th, v0=v0, bias=b, s_max=0)
        yield ir.IF((1,), theta=th, v0=v0, bias=b, s_max=2)
    for th, leak, T in itertools.product((1, 3, 4, 7), (-2, 0, 1), (1, 3)):
        for gate, s_max in ((True, 0), (False, 0), (True, 2), (False, 5)):
            yield ir.CaLIF((1,), theta=th, leak=leak, T=T, gate=gate, s_max=s_max)
    for th, b, T in itertools.product((1, 6, 40), (-5, 0, 7), (1, 3)):
        yield ir.ILIF((1,), theta=th, bias=b, T=T)


@pytest.mark.parametrize("lo,hi", [(-5, 9), (0, 4), (-6, 0), (3, 7)])
def test_bound_is_the_documented_formula(lo, hi):
    """Every term as the module docstring states it, on a grid of parameters of every neuron
    type (a term one off either way, including the looser ones no golden run reaches, fails)."""
    for node in _neurons():
        bits = isinstance(node, ir.ILIF)
        src = ir.Source((1,), encoding="bits", T=node.T, x_bits=8) if bits else ir.Source((1,), x_bits=6)
        g = ir.Graph({"in": src, "w": ir.Dense(np.array([[1]])), "n": node,
                      "r": ir.Dense(np.array([[1]])), "out": ir.Readout((1,))},
                     [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")])
        zlo, zhi = (0, 2 ** node.T - 1) if bits else (min(lo, 0), max(hi, 0))
        regs = bounds(g, (lo, hi))[1]["n"]
        assert (regs["V"], regs["S"]) == _documented(node, zlo, zhi), node
