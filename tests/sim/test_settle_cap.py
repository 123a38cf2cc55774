"""The Ca-LIF settle loop has a cap: a rule that cannot settle ends in one clear error.

Hand-built layer: theta = 4, no leak, no gate, input -2 -> V = -2 = -theta/2 after the window.
The right rule (-1 while 2V < -theta) fires nothing; the rule with `<=` fires -1 (V = 2), then
+1 (V = -2), forever: before the cap it hung the suite.
"""

import numpy as np
import pytest
import torch

from hwsnn import ir, sim
from hwsnn.errors import HwsnnError, SimulationError
from hwsnn.sim import _step


def _layer(theta=4, gate=False):
    return ir.Graph({"in": ir.Source((3,), x_bits=8), "w": ir.Dense(np.eye(3, dtype=np.int64)),
                     "n": ir.CaLIF((3,), theta=theta, T=1, gate=gate),
                     "r": ir.Dense(np.eye(3, dtype=np.int64)), "out": ir.Readout((3,))},
                    [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")],
                    name="settle-cap")


def _cycling_rule(node, st):
    """The settle rule with `2V <= -theta` (a fault): V = -theta/2 flips forever."""
    V, S, theta = st["V"], st["S"], st["theta"]
    y = (2 * V >= theta).to(st["dtype"]) - (2 * V <= -theta).to(st["dtype"])
    st["V"], st["S"] = V - y * theta, S + y
    st["changed"] = (y != 0).flatten(1).any(1)
    return y


def test_right_rule_settles_at_minus_half_theta():
    tr = sim.run(_layer(), np.array([[-2, 0, 1]]), 1)
    assert tr.final["n"]["V"].tolist() == [[-2, 0, 1]]
    assert tr.final["n"]["S"].tolist() == [[0, 0, 0]]


@pytest.mark.timeout(60)
def test_a_settle_rule_that_cannot_settle_raises_within_its_cap(monkeypatch):
    monkeypatch.setattr(_step, "settle_calif", _cycling_rule)
    with pytest.raises(SimulationError) as err:
        sim.run(_layer(), np.array([[-2, 0, 1]]), 1)
    msg = str(err.value)
    # default cap: 1 + max |V| // theta = 1 + 2 // 4 = 1 settle step; the window is step 0,
    # the absorb step 1, the one allowed settle step 2: the next one (step 3) would exceed it
    assert msg == ("node 'n': the Ca-LIF settle phase still fires after its cap of 1 settle steps "
                   "(step 3); a settle rule that cannot settle, or raise max_settle")
    assert "\n" not in msg and isinstance(err.value, HwsnnError)


@pytest.mark.timeout(60)
def test_explicit_cap_is_used_and_printed(monkeypatch):
    monkeypatch.setattr(_step, "settle_calif", _cycling_rule)
    with pytest.raises(SimulationError, match=r"^node 'n': .* cap of 7 settle steps \(step 9\)"):
        sim.run(_layer(), np.array([[-2, 0, 1]]), 1, max_settle=7)


def test_default_cap_is_exactly_what_the_right_rule_needs():
    """Input 13, theta 2: V = 11 after the window (one spike), then 6 settle spikes
    (11 -> -1): the default cap 1 + 11 // 2 = 6 admits exactly them; a cap of 5 does not."""
    g = _layer(theta=2)
    x = np.array([[13, 0, 0]])
    tr = sim.run(g, x, 1)
    assert tr.final["n"]["S"].tolist() == [[7, 0, 0]]  # round_half_up(13 / 2) = 7
    assert tr.steps == 1 + 1 + 6 + 1  # window, absorb, 6 settle steps, the readout's absorb
    assert sim.run(g, x, 1, max_settle=6).final["n"]["S"].tolist() == [[7, 0, 0]]
    with pytest.raises(SimulationError, match=r"^node 'n': .* cap of 5 settle steps \(step 7\)"):
        sim.run(g, x, 1, max_settle=5)


def test_default_cap_bounds_every_right_settle():
    """For every V in [-40, 40] and theta in 1..9 the right rule fires at most 1 + |V| // theta
    settle spikes (the default cap), and the cap is reached for some V (not loose by a step)."""
    reached = False
    for theta in range(1, 10):
        V = torch.arange(-40, 41, dtype=torch.float64).reshape(1, -1)
        st = {"V": V.clone(), "S": torch.full_like(V, 50), "theta": float(theta), "dtype": torch.float64}
        cap = _step.settle_cap("n", st)
        node = ir.CaLIF((V.shape[1],), theta=theta, T=1, gate=False)
        fired = torch.zeros_like(V)
        from hwsnn.sim._neurons import settle_calif
        for _ in range(100):
            y = settle_calif(node, st)
            if not y.any():
                break
            fired += y.abs()
        assert int(fired.max()) <= cap
        reached |= int(fired.max()) == cap
    assert reached


def test_negative_cap_is_refused():
    with pytest.raises(SimulationError, match=r"^node 'n': max_settle must be >= 0, not -1$"):
        sim.run(_layer(), np.array([[-2, 0, 1]]), 1, max_settle=-1)
