"""Lava's Ca-LIF settle loop has a cap too: a process model whose settle rule cannot settle ends
in one BackendError naming the node and the step (mappings/lava/_run.py `settle_cap`)."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.errors import BackendError, SimulationError

lava = pytest.importorskip("hwsnn.mappings.lava")
from hwsnn.mappings.lava._run import settle_cap  # noqa: E402
from hwsnn.mappings.lava.procs.neurons import CaLIFModel  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]  # a hang fails, never blocks


class CyclingSettleModel(CaLIFModel):
    """The settle rule with `2V <= -theta` (a fault): V = -theta/2 flips between +-theta/2."""

    def settle(self):
        V = self.v
        return self._fire(V, 2 * V >= self.p["theta"], 2 * V <= -self.p["theta"])


def _layer(theta, v_bits=6):
    return ir.Graph({"in": ir.Source((3,), x_bits=8), "w": ir.Dense(np.eye(3, dtype=np.int64)),
                     "n": ir.CaLIF((3,), theta=theta, T=1, gate=False, v_bits=v_bits),
                     "r": ir.Dense(np.eye(3, dtype=np.int64)), "out": ir.Readout((3,))},
                    [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")],
                    name="settle-cap")


def test_default_cap_comes_from_the_ir():
    assert settle_cap(ir.CaLIF((2,), theta=np.array([4, 3]), v_bits=6)) == 1 + 32 // 3
    assert settle_cap(ir.CaLIF((2,), theta=4, v_bits=6), max_settle=2) == 2


def test_a_settle_rule_that_cannot_settle_raises_within_its_cap():
    g = _layer(theta=4)  # cap 1 + 2^5 // 4 = 9 settle steps
    x = np.array([[-2, 0, 1]])
    assert lava.run(g, x, 1).final["n"]["S"].tolist() == [[0, 0, 0]]  # the right rule settles
    with pytest.raises(BackendError) as err:
        lava.run(g, x, 1, models={"CaLIF": CyclingSettleModel})
    msg = str(err.value)
    # window step 0, absorb step 1 (the input is still in flight: delay 1), 9 allowed settle
    # steps 2..10; the golden run numbers its steps the same way
    assert msg == ("lava: node 'n': the Ca-LIF settle phase still fires after its cap of 9 settle "
                   "steps (step 11); a settle rule that cannot settle, or raise max_settle")


def test_explicit_cap_gives_the_golden_error_step():
    """Input 13, theta 2, delay 1: the window sees nothing, the absorb step V = 13, then 7 settle
    spikes (13 -> -1); a cap of 6 stops Lava and golden at the same step."""
    g = _layer(theta=2, v_bits=8)
    x = np.array([[13, 0, 0]])
    assert lava.run(g, x, 1, max_settle=7).final["n"]["S"].tolist() == [[7, 0, 0]]
    with pytest.raises(SimulationError, match=r"cap of 6 settle steps \(step (\d+)\)") as gold:
        sim.run(g.with_delays(1), x, 1, max_settle=6)
    with pytest.raises(BackendError, match=r"^lava: node 'n': .* cap of 6 settle steps \(step (\d+)\)") as err:
        lava.run(g, x, 1, max_settle=6)
    step = lambda e: str(e.value).split("(step ")[1].split(")")[0]  # noqa: E731
    assert step(err) == step(gold)
