"""The RTL Ca-LIF settle phase runs under a cap too (`max_steps` SETTLE steps per sample): past
it the run ends in one BackendError naming the node still settling, the sample and the step."""

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.errors import BackendError
from hwsnn.mappings.rtl._calif import run_calif

from rtlsim import need_sim

pytestmark = pytest.mark.rtl


def _layer():
    return ir.Graph({"in": ir.Source((3,), x_bits=8), "w": ir.Dense(np.eye(3, dtype=np.int64)),
                     "n": ir.CaLIF((3,), theta=2, T=1, gate=False, v_bits=8, s_bits=6),
                     "r": ir.Dense(np.eye(3, dtype=np.int64)), "out": ir.Readout((3,), v_bits=10)},
                    [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")],
                    name="settle-cap")


def test_settle_cap_names_node_sample_and_step():
    need_sim("icarus")
    g, x = _layer(), np.array([[0, 1, 0], [13, 0, 0]])  # sample 1: V = 13, 7 settle spikes
    trace = run_calif(g, x, 1, sim="icarus", lanes=1)
    assert trace.final["n"]["S"].tolist() == [[0, 1, 0], [7, 0, 0]]
    with pytest.raises(BackendError) as err:
        run_calif(g, x, 1, sim="icarus", lanes=1, max_steps=3)
    msg = str(err.value)
    assert msg.startswith("rtl (icarus): node 'n': the Ca-LIF settle phase still fires after the cap of 3 "
                          "settle steps (sample 1, step ")
    assert msg.endswith("a settle rule that cannot settle, or raise max_steps)") and "\n" not in msg
