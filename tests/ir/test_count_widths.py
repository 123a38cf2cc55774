"""`sim.count` enforces the register widths `sim.run` enforces (the same RangeError)."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.errors import RangeError


def _net(out_bits, n_bits=16):
    nodes = {"in": ir.Source((2,), x_bits=8), "fc1": ir.Dense(np.array([[3, 2], [1, -1]])),
             "n": ir.STBIF((2,), theta=4, v0=2, s_max=7, v_bits=n_bits),
             "fc2": ir.Dense(np.array([[9, 9]])), "out": ir.Readout((1,), v_bits=out_bits)}
    edges = [ir.Edge("in", "fc1"), ir.Edge("fc1", "n"), ir.Edge("n", "fc2"), ir.Edge("fc2", "out")]
    return ir.Graph(nodes, edges)


def test_count_and_run_accept_what_fits():
    x = np.array([[5, 1]])
    g = _net(out_bits=12)
    # n: z = (17, 4) + v0 2 -> S = clip(floor(19/4), 0, 7) = 4 and floor(6/4) = 1; out = 9 * 5
    assert sim.count(g, x)["output"].tolist() == [[45]]
    assert sim.run(g, x, 20, record=False).output.tolist() == [[45]]


@pytest.mark.parametrize("executor", ["count", "run"])
def test_readout_register_overflow(executor):
    g, x = _net(out_bits=6), np.array([[5, 1]])   # out reaches 45 > 31 = int6 max
    with pytest.raises(RangeError, match=r"^node 'out': membrane V reached \[\d+, \d+\], outside its "
                                         r"int6 register \[-32, 31\]"):
        sim.count(g, x) if executor == "count" else sim.run(g, x, 20, record=False)


@pytest.mark.parametrize("executor", ["count", "run"])
def test_neuron_register_overflow(executor):
    # x = (-100, 0): fc1 gives (-300, -100), so n's V ends at (-298, -98) with S clipped at 0:
    # -298 is outside its int8 register in both executors
    g, x = _net(out_bits=12, n_bits=8), np.array([[-100, 0]])
    with pytest.raises(RangeError, match=r"^node 'n': membrane V reached \[-?\d+, -?\d+\], outside its "
                                         r"int8 register \[-128, 127\]"):
        sim.count(g, x) if executor == "count" else sim.run(g, x, 20, record=False)
