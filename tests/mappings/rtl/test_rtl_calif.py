"""Ca-LIF in hardware: the window (V = V + I - leak, bipolar gated spikes) and the settle phase
(absorb, then rounding spikes core by core), every V, S, y at every step against golden, on
the fast testbench path (hwsnn.rtl.sim._calif_fast: SETTLE to measure, HOLD to align)."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.errors import BackendError
from hwsnn.mappings.rtl import lower
from hwsnn.mappings.rtl._calif import run_calif
from hwsnn.rtl.sim import _calif_fast

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
    cmp = backends.compare(golden, trace, "rtl")
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


def test_the_hold_schedule_is_checked_against_the_hardware(monkeypatch):
    """Pass 2 must follow the schedule the hardware's own counts give: a schedule with one
    settle pass of core 0 too few (and a hold more at the end) is refused at the step where it
    expects core 1 while the hardware is still on core 0."""
    need_sim("icarus")
    g = calif_net(1)
    x = np.random.default_rng(1).integers(0, 16, (3, 1, 5, 5))
    passes = np.array(run_calif(g, x, 4, sim="icarus", lanes=2).rtl["settle_steps"])
    honest = _calif_fast.schedule

    def short_core0(p, pad):
        steps = honest(p, pad)
        return steps[1:] + [steps[-1] if steps[-1][0] == _calif_fast.OP["HOLD"] else
                            (_calif_fast.OP["HOLD"], len(p), 1)]
    monkeypatch.setattr(_calif_fast, "schedule", short_core0)
    step = 4 + int(passes[0, 0]) - 1  # T window steps, then core 0's passes (one taken away)
    with pytest.raises(BackendError, match=rf"^rtl \(icarus\): sample 0, step {step}: settle_core/settled = "
                                           rf"\(0, 0\) before the step, the batch schedule expects \(1, 0\)$"):
        run_calif(g, x, 4, sim="icarus", lanes=2)


def first_window_exact_threshold(golden, nodes, T):
    """(step, node): the earliest window step (< T) with a +1 spike whose V' was exactly theta
    (V after the reset 0), where a `>` comparator does not fire; ties to the earlier node."""
    best = None
    for node in nodes:
        hits = np.argwhere((golden.y[node][:T] == 1) & (golden.V[node][:T] == 0))
        if len(hits) and (best is None or hits[:, 0].min() < best[0]):
            best = (int(hits[:, 0].min()), node)
    return best


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_mutated_threshold_compare_is_caught_in_the_window(simulator):
    """Mutation check: the window rule V' > theta instead of >= must show first at the first
    window spike whose V' equals theta exactly (from the golden run): V there is theta, not 0.
    The settle phase of the mutant may take other step counts, so the traces are compared up
    to the shorter one."""
    need_sim(simulator)
    g = calif_net(3)
    x = np.random.default_rng(3).integers(0, 16, (3, 1, 5, 5))
    trace = run_calif(g, x, 4, sim=simulator, lanes=2, _mutate_ge=True)
    golden = sim.run(trace.graph, x, 4)
    nodes = [n for n in g.neurons]
    expected = first_window_exact_threshold(golden, nodes, 4)
    assert expected is not None, "no spike at exactly theta in the window: a weak test"
    n = min(golden.steps, trace.steps)
    first = None
    for node in nodes:  # earliest step, then node order, then V before S before y
        for var in ("V", "S", "y"):
            diff = getattr(golden, var)[node][:n] != getattr(trace, var)[node][:n]
            if diff.any():
                t = int(np.argwhere(diff)[:, 0].min())
                if first is None or t < first[0]:
                    first = (t, node, var)
    assert first == (expected[0], expected[1], "V")
    step, node = expected
    hit = (golden.y[node][step] == 1) & (golden.V[node][step] == 0)
    theta = np.broadcast_to(np.asarray(g.nodes[node].theta), hit.shape[1:])
    assert np.array_equal(trace.V[node][step][hit], np.broadcast_to(theta, hit.shape)[hit])


@pytest.mark.slow
def test_calif_digits_network_every_step():
    """The Ca-LIF digits network (hwsnn.methods calif, torch.ao QAT import) on 10 test images,
    window and ~500 settle steps: every V, S, y at every step and the read-back memories
    (Verilator: Icarus runs this network at about 1 k cycles/s, ~1 M cycles per image)."""
    need_sim("verilator")
    from hwsnn.examples import digits_data
    from hwsnn.methods import get
    low = get("calif").lower(4)
    _, _, xte, _ = digits_data()
    x = low.encode(xte[:10])
    trace, golden = check(low.graph, x, low.steps, "verilator", lanes=16)
    assert np.array_equal(trace.predict(), golden.predict())
    settle = np.array(trace.rtl["settle_steps"])
    assert (settle != settle.max(axis=0)).any(), "every sample settles alike: the hold alignment is not used"
    print(f"\ncalif digits: {len(x)} images, {golden.steps} steps, {values_compared(low.graph, golden.steps, len(x))} "
          f"values, {trace.rtl['cycles']} cycles, simulation {trace.rtl['sim_seconds']:.1f} s "
          f"(of it the measuring pass {trace.rtl['measure_seconds']:.1f} s), build {trace.rtl['build_seconds']:.1f} s")
