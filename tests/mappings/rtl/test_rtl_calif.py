"""Ca-LIF in hardware: the window (V = V + I - leak, bipolar gated spikes) and the settle phase
(absorb, then rounding spikes core by core), every V, S, y at every step against golden."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.mappings.rtl import lower
from hwsnn.mappings.rtl._calif import run_calif

from rtlsim import need_sim, values_compared

pytestmark = pytest.mark.rtl


def calif_net(seed, T=4):
    rng = np.random.default_rng(seed)
    nodes = {
        "in": ir.Source((1, 5, 5), R=2, x_bits=5),
        "c1.w": ir.Conv2d(rng.integers(-6, 6, (2, 1, 3, 3)), padding=(1, 1)),
        "c1": ir.CaLIF((2, 5, 5), theta=np.array([6, 9]).reshape(2, 1, 1), leak=np.array([1, -2]).reshape(2, 1, 1),
                       T=T, s_max=20, gate=True, v_bits=14, s_bits=6),
        "p1.w": ir.SumPool2d((2, 2), (2, 2)),
        "p1": ir.CaLIF((2, 2, 2), theta=4, leak=0, T=T, s_max=5, gate=False, v_bits=12, s_bits=6),
        "flat": ir.Flatten(),
        "f1.w": ir.Dense(rng.integers(-4, 3, (5, 8))),
        "f1": ir.CaLIF((5,), theta=rng.integers(2, 5, 5), leak=rng.integers(-1, 2, 5), T=T, s_max=7,
                       gate=True, v_bits=12, s_bits=6),
        "f2": ir.Dense(rng.integers(-3, 4, (3, 5))),
        "out": ir.Readout((3,), v_bits=16),
    }
    E = ir.Edge
    edges = [E("in", "c1.w"), E("c1.w", "c1"), E("c1", "p1.w"), E("p1.w", "p1"), E("p1", "flat"),
             E("flat", "f1.w"), E("f1.w", "f1"), E("f1", "f2"), E("f2", "out")]
    g = ir.Graph(nodes, edges, name=f"calif-{seed}")
    ir.verify(g)
    return g


def check(graph, x, T, simulator="icarus", lanes=2):
    trace = run_calif(graph, x, T, sim=simulator, lanes=lanes)
    golden = sim.run(trace.graph, x, T)
    assert golden.steps > T, "no settle phase: a weak test"
    cmp = sim.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    # every golden value at every step, and the V/S memories read back after the last step
    assert cmp.compared_values == values_compared(graph, golden.steps, len(x))
    assert {f"{n}.{v}" for n, v, _ in golden.variables()} <= set(cmp.per_variable)
    for n, rb in trace.final_readback.items():  # the memories read back after the last step
        assert np.array_equal(rb["V"], golden.final[n]["V"]), n
        if "S" in rb:
            assert np.array_equal(rb["S"], golden.final[n]["S"]), n
    return trace, golden


def test_lowering_folds_the_leak_into_a_window_bias_row():
    net = lower(calif_net(0), lanes=2)
    c1 = net.cores[0]
    assert c1.kind == "calif" and c1.window == 4 and c1.bias_R == 1 and c1.bias_steps == 4
    assert c1.bias[0].tolist() == [-1] * 25 + [2] * 25
    assert [c.window for c in net.cores] == [4] * 4 and net.cores[1].gate is False


@pytest.mark.parametrize("simulator,seed", [("icarus", 1), ("verilator", 2)])
def test_calif_network_window_and_settle_every_step(simulator, seed):
    need_sim(simulator)
    g = calif_net(seed)
    x = np.random.default_rng(seed).integers(0, 16, (3, 1, 5, 5))
    trace, golden = check(g, x, 4, simulator)
    assert (golden.y["c1"] < 0).any() or (golden.y["f1"] < 0).any()
    settle = np.array(trace.rtl["settle_steps"])
    assert (settle >= 1).all()                        # every core absorbs once
    print(f"\n{g.name}: {golden.steps} steps, settle steps per sample and core {settle.tolist()}")
