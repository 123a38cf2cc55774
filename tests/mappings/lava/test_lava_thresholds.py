"""Lava's neuron rules at their compare edges: inputs that land exactly on theta, on 0 and on
-theta (and 2V = theta in an iLIF generate step), every V, S, y at every step against golden."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim

lava = pytest.importorskip("hwsnn.mappings.lava")
pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]  # a hang fails, never blocks


def _net(neuron, src):
    return ir.Graph({"in": src, "w": ir.Dense(np.eye(1, dtype=np.int64)), "n": neuron,
                     "r": ir.Dense(np.eye(1, dtype=np.int64)), "out": ir.Readout((1,), v_bits=16)},
                    [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")],
                    name=f"edge-{neuron.type}")


CASES = [
    # iLIF theta 4, T 2: q = 1 accumulates V = 1, then generates 2V = 2, 4 = theta (fires), ...
    ("ILIF", ir.ILIF((1,), theta=4, T=2, v_bits=8), ir.Source((1,), encoding="bits", T=2, x_bits=3),
     np.arange(4).reshape(-1, 1), 6),
    # ST-BIF theta 4: V' = 4 (up), 0 (none), -1 (down) reached from v0 = 0
    ("STBIF", ir.STBIF((1,), theta=4, v0=0, s_min=-2, s_max=2, v_bits=8), ir.Source((1,), x_bits=6),
     np.array([[4], [0], [-1], [3], [-4], [8]]), 4),
    ("IF", ir.IF((1,), theta=4, v0=0, s_max=2, v_bits=8), ir.Source((1,), x_bits=6),
     np.array([[4], [3], [8], [-4]]), 4),
    # Ca-LIF theta 4: V = 4 and -4 in the window; 2V = 4 and -4 in the settle phase
    ("CaLIF", ir.CaLIF((1,), theta=4, T=1, gate=False, v_bits=8), ir.Source((1,), x_bits=6),
     np.array([[4], [-4], [2], [-2], [6], [-6], [3], [-3]]), 1),
]


@pytest.mark.parametrize("kind,neuron,src,x,steps", CASES, ids=[c[0] for c in CASES])
def test_lava_equals_golden_on_the_compare_edges(kind, neuron, src, x, steps):
    g = _net(neuron, src)
    golden = sim.run(g.with_delays(1), x, steps)
    assert (golden.y["n"] != 0).any()  # the edges fire
    c = backends.verify(g, x, steps, backends=["lava"])["lava"]
    assert c.ok and c.mismatches == 0 and c.compared_values > 0, str(c.first)
