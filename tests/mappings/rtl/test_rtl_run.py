"""The RTL network (Amaranth -> Verilog -> cocotb) against the golden simulator, every step.

`run` takes the fast path (generated testbench wrapper, whole batch in one simulation); the
checks that must catch a broken design (mutated threshold, corrupted weight word) run on both
Icarus and Verilator and name the first divergence, derived here from the golden run."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.errors import MappingError
from hwsnn.mappings.rtl import lower, run, run_lowered
from hwsnn.sim._encode import emit
from hwsnn.backends import check_graph

from randnets import random_input, random_stbif_net
from rtlsim import need_sim

pytestmark = pytest.mark.rtl

SIMS = ["icarus", "verilator"]


def values_recorded(graph, steps, batch):
    """V, S, y of every neuron node and V of every readout, at every step (from the graph)."""
    per_sample = sum((3 if graph.nodes[n].ROLE == "neuron" else 1) * int(np.prod(graph.nodes[n].shape))
                     for n in graph.nodes if graph.nodes[n].ROLE in ("neuron", "readout"))
    readback = sum((2 if graph.nodes[n].ROLE == "neuron" else 1) * int(np.prod(graph.nodes[n].shape))
                   for n in graph.nodes if graph.nodes[n].ROLE in ("neuron", "readout"))
    return steps * batch * per_sample, batch * readback


def narrow_net(seed):
    """Hand-made chain with other widths: bipolar ST-BIF (s_min < 0, int12 V, int4 S), an IF
    layer with a spike cap, per-neuron theta and v0, bias released over 3 steps."""
    rng = np.random.default_rng(seed)
    nodes = {
        "in": ir.Source((7,), R=2, x_bits=5),
        "fc1": ir.Dense(rng.integers(-6, 7, (9, 7)), w_bits=4),
        "a": ir.STBIF((9,), theta=rng.integers(3, 12, 9), v0=rng.integers(0, 3, 9),
                      bias=rng.integers(-8, 9, 9), bias_R=3, s_min=-3, s_max=5, v_bits=12, s_bits=4),
        "fc2": ir.Dense(rng.integers(-5, 6, (6, 9)), w_bits=4),
        "b": ir.IF((6,), theta=4, v0=2, s_max=6, v_bits=10, s_bits=4),
        "fc3": ir.Dense(rng.integers(-3, 4, (4, 6)), w_bits=3),
        "out": ir.Readout((4,), v_bits=14),
    }
    edges = [ir.Edge("in", "fc1"), ir.Edge("fc1", "a"), ir.Edge("a", "fc2"), ir.Edge("fc2", "b"),
             ir.Edge("b", "fc3"), ir.Edge("fc3", "out")]
    return ir.Graph(nodes, edges, name=f"narrow-{seed}")


def expected_sops(graph, net, x, steps, golden):
    """SOPs each core must do, from the golden run: every nonzero input event of step t - 1
    costs the fan-out of its row (all n neurons for a dense core, the kernel's reach for a
    conv core), and every bias row used costs n."""
    import torch
    src = graph.nodes[net.source]
    out = []
    for k, (name, c) in enumerate(zip(net.nodes, net.cores)):
        fan = c.fanout()
        if k == 0:
            q = torch.as_tensor(x)
            active = sum((emit(src, q, t) != 0).reshape(len(x), -1).numpy().sum(0) for t in range(steps - 1))
        else:
            active = (golden.y[net.nodes[k - 1]][:steps - 1] != 0).reshape(steps - 1, len(x), -1).sum((0, 1))
        out.append(int((active * fan).sum()) + len(x) * min(c.bias_R, steps) * c.n)
    return out


def expected_values(graph, steps, batch):
    """V, S, y of every neuron and V of every readout at every step, then V and S of every
    neuron and V of every readout read back from the memories after the last step."""
    size = {n: int(np.prod(graph.nodes[n].shape)) for n in graph.neurons + graph.readouts}
    per_step = sum(size[n] * 3 for n in graph.neurons) + sum(size[n] for n in graph.readouts)
    read_back = sum(size[n] * 2 for n in graph.neurons) + sum(size[n] for n in graph.readouts)
    return batch * (steps * per_step + read_back)


def check(graph, x, steps, simulator="icarus", lanes=1, conv=True):
    trace = run(graph, x, steps, sim=simulator, lanes=lanes, conv=conv)
    assert trace.graph is not None and all(e.delay == 1 for e in trace.graph.edges
                                           if trace.graph.nodes[e.src].ROLE in ("source", "neuron"))
    check_graph(graph.with_delays(1), trace.graph, "rtl")  # the graph given, with delay 1
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.compared_values == expected_values(graph, steps, len(x))
    assert cmp.mismatches == 0, str(cmp.first)
    assert any(np.abs(golden.y[n]).sum() for n in golden.y), "no spikes at all: a weak test"
    net = lower(graph, lanes=lanes, conv=conv)
    assert [c["sops"] for c in trace.rtl["cores"]] == expected_sops(trace.graph, net, x, steps, golden)
    s = trace.rtl
    print(f"\n{graph.name} lanes={lanes}: {s['cycles_per_step']:.1f} cycles/step, "
          f"{s['sops_per_cycle']:.2f} SOPs/cycle, SOPs/acc cycle per core "
          + ", ".join(f"{c['node']} {c['sops_per_acc_cycle']:.2f}" for c in s["cores"]))
    return trace


@pytest.mark.parametrize("kind,seed,lanes,conv", [("dense", 1, 1, True), ("dense", 2, 2, True),
                                                  ("conv", 3, 3, False), ("conv", 3, 1, True),
                                                  ("conv", 6, 2, True)])
def test_random_network_every_step(kind, seed, lanes, conv):
    """conv=False: conv layers unrolled into dense weight images; True: shared-kernel cores."""
    need_sim("icarus")
    graph = random_stbif_net(seed, kind=kind, depth=2)
    if kind == "conv":
        layouts = [c.conv is not None for c in lower(graph, lanes=lanes, conv=conv).cores]
        assert any(layouts) == conv
    check(graph, random_input(graph, 2, seed), 12, lanes=lanes, conv=conv)


@pytest.mark.parametrize("simulator", SIMS)
def test_narrow_widths_bipolar_and_if(simulator):
    need_sim(simulator)
    graph = narrow_net(5)
    x = np.random.default_rng(5).integers(-16, 16, (3, 7))
    trace = check(graph, x, 14, simulator=simulator, lanes=4)
    assert (trace.y["a"] < 0).any()  # the bipolar rule fired negative spikes


def test_per_cycle_bench_gives_the_same_records():
    """The per-cycle cocotb bench (unit benches, speed peer) and the fast path agree."""
    need_sim("icarus")
    graph = narrow_net(5)
    x = np.random.default_rng(5).integers(-16, 16, (2, 7))
    fast, slow = run(graph, x, 10, lanes=4), run(graph, x, 10, lanes=4, fast=False)
    for var in ("V", "S", "y"):
        for node, arr in getattr(slow, var).items():
            assert np.array_equal(getattr(fast, var)[node], arr), (var, node)
    assert [c["sops"] for c in fast.rtl["cores"]] == [c["sops"] for c in slow.rtl["cores"]]


def test_verilator_burst_clock_counts_the_cycles_icarus_counts():
    """The Verilator wrapper runs many clock cycles per time slot (`_fast_tb.BURST`), the
    Icarus one a plain `always #5` clock: per step, the same cycles, SOPs and accumulate
    cycles, and the same records."""
    need_sim("icarus")
    need_sim("verilator")
    graph = narrow_net(5)
    x = np.random.default_rng(5).integers(-16, 16, (2, 7))
    ica, ver = (run(graph, x, 10, sim=s, lanes=4) for s in ("icarus", "verilator"))
    assert ica.rtl["cycles"] > 0 and ica.rtl["cycles"] == ver.rtl["cycles"]
    assert ica.rtl["cycles_per_step"] == ver.rtl["cycles_per_step"]
    for a, b in zip(ica.rtl["cores"], ver.rtl["cores"]):
        assert (a["sops_per_step"], a["acc_cycles_per_step"]) == (b["sops_per_step"], b["acc_cycles_per_step"])
    for var in ("V", "S", "y"):
        for node, arr in getattr(ica, var).items():
            assert np.array_equal(getattr(ver, var)[node], arr), (var, node)


def first_exact_threshold(golden, nodes):
    """(step, node, neuron): the earliest +1 spike with V' exactly theta (V after reset 0),
    where a `>` comparator would not fire; ties to the earlier node."""
    best = None
    for k, node in enumerate(nodes):
        hits = np.argwhere((golden.y[node] == 1) & (golden.V[node] == 0))
        if len(hits):
            t = int(hits[:, 0].min())
            if best is None or t < best[0]:
                best = (t, node)
    return best


@pytest.mark.parametrize("simulator", SIMS)
def test_mutated_threshold_compare_is_caught_with_its_first_divergence(simulator):
    """Mutation check on the whole network: V' > theta instead of >= must be caught, first at
    the first spike whose V' equals theta exactly (found in the golden run)."""
    need_sim(simulator)
    graph = narrow_net(5)
    x = np.random.default_rng(5).integers(-16, 16, (3, 7))
    trace = run(graph, x, 14, sim=simulator, lanes=4, _mutate_ge=True)
    golden = sim.run(trace.graph, x, 14)
    cmp = backends.compare(golden, trace, "rtl")
    step, node = first_exact_threshold(golden, ["a", "b"])
    assert cmp.mismatches > 0
    assert (cmp.first.step, cmp.first.node, cmp.first.variable, cmp.first.golden) == (step, node, "V", 0)


def corrupt_word(cfg, lane=0, address=0):
    """Make lane `lane`'s weight memory word `address` differ by one (staying in w_bits)."""
    clean = cfg.weight_image
    lo, hi = -(1 << (cfg.w_bits - 1)), (1 << (cfg.w_bits - 1)) - 1

    def image(ln):
        img = np.array(clean(ln), dtype=np.int64)
        if ln == lane:
            img[address] += 1 if img[address] < hi else -1
        assert lo <= img[address] <= hi
        return img
    cfg.weight_image = image
    return int(clean(lane)[address]), int(image(lane)[address])


@pytest.mark.parametrize("simulator", SIMS)
def test_corrupted_weight_word_is_caught_with_its_first_divergence(simulator):
    """One word of core 0's weight memory (input row 0 -> neuron 0) changed before the build:
    the first divergence is neuron 0 of node 'a', V, at step 1 (the source's step-0 values
    arrive with delay 1), in the first sample whose input 0 is nonzero."""
    need_sim(simulator)
    graph = narrow_net(5)
    x = np.random.default_rng(5).integers(-16, 16, (3, 7))
    x[0, 0], x[1, 0] = 0, 5  # sample 0 never uses the corrupted word; sample 1 sends 5 // 2 at step 0
    net = lower(graph, lanes=4)
    was, now = corrupt_word(net.cores[0])
    assert was != now
    trace = run_lowered(net, x, 14, sim=simulator)
    golden = sim.run(trace.graph, x, 14)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches > 0
    f = cmp.first
    assert (f.node, f.step, f.sample, f.neuron, f.variable) == ("a", 1, 1, (0,), "V")
    theta = int(np.broadcast_to(graph.nodes["a"].theta, (9,))[0])
    assert f.other - f.golden in {2 * (now - was) + k * theta for k in (-1, 0, 1)}  # the spike may differ too


@pytest.mark.slow
def test_random_conv_network_on_verilator():
    need_sim("verilator")
    graph = random_stbif_net(7, kind="conv", depth=2)
    check(graph, random_input(graph, 2, 7), 10, simulator="verilator", lanes=2)


def test_residual_from_the_previous_layer_folds_into_one_core():
    need_sim("icarus")
    graph = next(g for g in (random_stbif_net(s, kind="dense", depth=3, residual=True) for s in range(40))
                 if any(n.endswith(".skip") for n in g.nodes))
    check(graph, random_input(graph, 2, 3), 10, lanes=2)


def test_lower_rejects_a_source_read_by_two_cores():
    nodes = {"in": ir.Source((3,)), "fa": ir.Dense(np.ones((2, 3), int)), "a": ir.STBIF((2,), theta=2),
             "fb": ir.Dense(np.ones((2, 2), int)), "fs": ir.Dense(np.ones((2, 3), int)),
             "b": ir.STBIF((2,), theta=2), "fo": ir.Dense(np.ones((1, 2), int)), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "fa"), ir.Edge("fa", "a"), ir.Edge("a", "fb"), ir.Edge("fb", "b"),
             ir.Edge("in", "fs"), ir.Edge("fs", "b"), ir.Edge("b", "fo"), ir.Edge("fo", "out")]
    with pytest.raises(MappingError, match=r"graph 'net': the Source must feed exactly one neuron/readout "
                                           r"node in the RTL network, not \['a', 'b'\]"):
        lower(ir.Graph(nodes, edges))


def test_missing_simulator_says_how_to_install(monkeypatch):
    import shutil

    from hwsnn.errors import BackendError, BackendUnavailableError
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "iverilog" else real(name, *a, **k))
    with pytest.raises(BackendUnavailableError, match=r"simulator 'icarus' not found: install Icarus Verilog "
                                                      r"\(apt-get install iverilog\) or set SIM=verilator"):
        run(narrow_net(0), np.zeros((1, 7), int), 3, sim="icarus")
    with pytest.raises(BackendError, match=r"simulator must be one of \('icarus', 'verilator'\), not 'ghdl'"):
        run(narrow_net(0), np.zeros((1, 7), int), 3, sim="ghdl")


def test_demo_checks_all_images_on_verilator_else_a_subset_on_icarus(monkeypatch):
    from hwsnn.cli import cmd_demo
    from hwsnn.errors import BackendUnavailableError
    from hwsnn.rtl.sim import _runner
    monkeypatch.delenv("SIM", raising=False)
    monkeypatch.setattr(_runner, "check_simulator", lambda sim: None)
    assert cmd_demo._rtl_plan(360) == (360, "verilator", "all 360 test images on Verilator")

    def no_verilator(sim):
        if sim == "verilator":
            raise BackendUnavailableError("simulator 'verilator' not found")
    monkeypatch.setattr(_runner, "check_simulator", no_verilator)
    n, simulator, note = cmd_demo._rtl_plan(360)
    assert (n, simulator) == (cmd_demo.RTL_ICARUS_IMAGES, "icarus") and n < 360
    assert note.startswith(f"a subset, {n} of 360 test images, on Icarus")


@pytest.mark.parametrize("simulator", SIMS)
def test_second_run_on_other_inputs_does_not_rebuild(simulator, monkeypatch):
    """The build is keyed by the design; the stimulus is a run-time file."""
    need_sim(simulator)
    from hwsnn.rtl.sim import _network_bench
    graph = narrow_net(5)
    rng = np.random.default_rng(11)
    run(graph, rng.integers(-16, 16, (1, 7)), 4, sim=simulator, lanes=4)

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt an already built design")
    monkeypatch.setattr(_network_bench, "build", no_build)
    monkeypatch.setattr(_network_bench, "network_verilog", no_build)
    x = rng.integers(-16, 16, (2, 7))
    trace = run(graph, x, 9, sim=simulator, lanes=4)
    assert backends.compare(sim.run(trace.graph, x, 9), trace, "rtl").ok
