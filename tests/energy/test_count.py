"""Event counts vs an independent loop-based recount, on random networks and the digits net."""

import numpy as np
import pytest

from hwsnn import energy, ir, sim
from hwsnn.errors import BackendUnavailableError

from randnets import random_input, random_stbif_net
from refcount import fanout, input_macs_by_loops, paths, sops_by_loops


def strided_net(seed, delay):
    """Conv2d with stride 2 and padding 0..2 and groups, a residual Scale, pool, dense."""
    rng = np.random.default_rng(seed)
    pad = int(rng.integers(0, 3))
    n = {"in": ir.Source((2, 7, 7), R=2, x_bits=6),
         "c1": ir.Conv2d(rng.integers(-3, 4, (4, 1, 3, 3)), stride=2, padding=pad, groups=2),
         }
    h = (7 + 2 * pad - 3) // 2 + 1
    theta = 6
    n["l1"] = ir.STBIF((4, h, h), theta=theta, v0=3, s_max=4, v_bits=20)
    n["c2"] = ir.Conv2d(rng.integers(-3, 4, (4, 4, 3, 3)) * (rng.random((4, 4, 3, 3)) < 0.6),
                        stride=(1, 2), padding=(1, 0))
    h2, w2 = h, (h - 3) // 2 + 1
    n["l2"] = ir.STBIF((4, h2, w2), theta=theta, v0=3, s_max=4, v_bits=20)
    n["flat"] = ir.Flatten()
    n["fc"] = ir.Dense(rng.integers(-2, 3, (3, 4 * h2 * w2)))
    n["out"] = ir.Readout((3,))
    e = [ir.Edge("in", "c1", delay), ir.Edge("c1", "l1"), ir.Edge("l1", "c2", delay),
         ir.Edge("c2", "l2"), ir.Edge("l2", "flat", delay), ir.Edge("flat", "fc"), ir.Edge("fc", "out")]
    g = ir.Graph(n, e, name=f"strided-{seed}")
    ir.verify(g)
    return g


def check_against_loops(graph, x, steps):
    trace = sim.run(graph, x, steps, record=True)
    counts = energy.count_events(trace, x)
    by_layer = {l.name: l for l in counts.layers}
    ref_sops = sops_by_loops(graph, trace)
    ref_macs = input_macs_by_loops(graph, x)
    for name, layer in by_layer.items():
        assert layer.counts["sops"].tolist() == ref_sops.get(name, [0] * trace.batch), name
        assert layer.counts["input_macs"].tolist() == ref_macs.get(name, [0] * trace.batch), name
        assert (layer.counts["weight_reads"] == layer.counts["sops"] + layer.counts["input_macs"]).all()
        # spikes sent = sum |y| of the layer
        if graph.nodes[name].ROLE == "neuron":
            ys = np.abs(trace.y[name]).reshape(trace.steps, trace.batch, -1).sum(axis=(0, 2))
            assert layer.counts["spikes"].tolist() == ys.tolist()
    return trace, counts


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_sops_match_loops_random(kind, seed, delay):
    g = random_stbif_net(seed, kind=kind, depth=2, delays=(delay,), residual=(kind == "conv"))
    x = random_input(g, 3, seed)
    _, counts = check_against_loops(g, x, 10)
    assert int(counts.total("sops").sum()) > 0  # the check compared something


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("seed", range(3))
def test_sops_match_loops_strided_conv(seed, delay):
    g = strided_net(seed, delay)
    x = np.random.default_rng(seed).integers(-20, 21, (2, 2, 7, 7))
    _, counts = check_against_loops(g, x, 8)
    assert int(counts.total("sops").sum()) > 0


def test_fanout_of_padded_strided_conv_by_hand():
    # 1x3x3 input, 1 output channel, 2x2 kernel of ones, stride 2, padding 1 -> output 2x2.
    g = ir.Graph({"in": ir.Source((1, 3, 3)), "c": ir.Conv2d(np.ones((1, 1, 2, 2)), stride=2, padding=1),
                  "o": ir.Readout((1, 2, 2))}, [ir.Edge("in", "c"), ir.Edge("c", "o")])
    (chain,) = energy.chains(g)
    # padded input rows/cols -1..3; windows start at -1 and 1: every input pixel lies in exactly
    # one window, so each touches one weight
    assert chain.fanout.tolist() == [1] * 9
    g2 = ir.Graph({"in": ir.Source((1, 3, 3)), "c": ir.Conv2d(np.ones((1, 1, 2, 2)), stride=1),
                   "o": ir.Readout((1, 2, 2))}, [ir.Edge("in", "c"), ir.Edge("c", "o")])
    # stride 1, no padding: corners 1, edges 2, centre 4
    assert energy.chains(g2)[0].fanout.tolist() == [1, 2, 1, 2, 4, 2, 1, 2, 1]
    assert energy.chains(g2)[0].fanout.tolist() == fanout(g2, "in", ["c"])


def test_minus_one_spike_costs_one_sop():
    # x = 4 arrives at step 0 (+4) and again negated one step later (-4): the ST-BIF neuron sends
    # +1 then -1; each spike reaches 2 readout neurons -> 4 SOPs
    g = ir.Graph({"in": ir.Source((1,)), "up": ir.Dense([[1]]), "down": ir.Dense([[-1]]),
                  "n": ir.STBIF((1,), theta=4, v0=0, s_max=2, v_bits=8),
                  "d": ir.Dense([[1], [-1]]), "o": ir.Readout((2,))},
                 [ir.Edge("in", "up"), ir.Edge("in", "down", 1), ir.Edge("up", "n"),
                  ir.Edge("down", "n"), ir.Edge("n", "d"), ir.Edge("d", "o")])
    x = np.array([[4]])
    tr = sim.run(g, x, 3, record=True)
    assert tr.y["n"][:, 0, 0].tolist() == [1, -1, 0]
    out = {l.name: l for l in energy.count_events(tr, x).layers}["o"]
    assert out.counts["sops"].tolist() == [4]
    assert out.counts["spikes"].tolist() == [0]


def test_active_updates_match_loops_dense():
    g = random_stbif_net(4, kind="dense", depth=2, delays=(1,), bias=False)
    x = random_input(g, 2, 4)
    steps = 9
    tr = sim.run(g, x, steps, record=True)
    counts = energy.count_events(tr, x)
    shapes = ir.verify(g)
    for layer in counts.layers:
        n = layer.neurons
        ref = [0] * tr.batch
        for b in range(tr.batch):
            for t in range(steps):
                for j in range(n):
                    active = False
                    for src, syns, dst, d in paths(g):
                        if dst != layer.name or t - d < 0:
                            continue
                        if g.nodes[src].ROLE == "source":
                            R = g.nodes[src].R
                            q = np.asarray(x[b]).reshape(-1)
                            vals = [((t - d + 1) * int(v)) // R - ((t - d) * int(v)) // R
                                    if t - d < R else 0 for v in q]
                        else:
                            vals = tr.y[src][t - d, b].reshape(-1).tolist()
                        (W,) = [g.nodes[s].W for s in syns if isinstance(g.nodes[s], ir.Dense)]
                        if any(v and W[j, i] for i, v in enumerate(vals)):
                            active = True
                    if g.nodes[layer.name].ROLE == "neuron" and tr.y[layer.name][t, b].reshape(-1)[j]:
                        active = True
                    ref[b] += active
        assert layer.counts["active_updates"].tolist() == ref, layer.name
        assert (layer.counts["active_updates"] + layer.counts["idle_updates"]).tolist() == [steps * n] * tr.batch
    assert shapes


def test_counts_need_no_per_step_record_for_sops():
    g = random_stbif_net(2, kind="conv", depth=2, delays=(1,))
    x = random_input(g, 2, 2)
    full = energy.count_events(sim.run(g, x, 10, record=True), x)
    lean = energy.count_events(sim.run(g, x, 10, record=False), x)
    for a, b in zip(full.layers, lean.layers):
        for k in ("sops", "input_macs", "spikes", "updates", "weight_reads"):
            assert a.counts[k].tolist() == b.counts[k].tolist()
        assert b.counts["active_updates"] is None
    assert lean.total("active_updates") is None


def test_ann_macs_from_shapes():
    g = strided_net(0, 0)
    shapes = ir.verify(g)
    counts = energy.count_events(sim.run(g, np.zeros((1, 2, 7, 7), int), 2), np.zeros((1, 2, 7, 7), int))
    by = {l.name: l.ann for l in counts.layers}
    c1 = g.nodes["c1"]
    assert by["l1"]["macs"] == int(np.prod(shapes["c1"])) * 1 * 3 * 3  # C_in/groups = 1
    assert by["l2"]["macs"] == int(np.prod(shapes["c2"])) * 4 * 9
    assert by["out"]["macs"] == g.nodes["fc"].W.size
    assert counts.ann_total("flops") == 2 * counts.ann_total("macs")
    assert c1.groups == 2


def test_cycles_passed_through():
    g = random_stbif_net(0)
    x = random_input(g, 1, 0)
    tr = sim.run(g, x, 5)
    tr.rtl = {"cycles": 99}
    assert energy.count_events(tr, x).cycles == 99
    tr.cycles = 1234
    assert energy.count_events(tr, x).cycles == 1234


def test_digits_network_matches_loops():
    from hwsnn.examples import load_digits_ir
    graph, x, _, steps = load_digits_ir(n_test=3)
    for delay in (0, 1):
        g = graph.with_delays(delay)
        _, counts = check_against_loops(g, x, steps + delay * 8)
        assert int(counts.total("sops").sum()) > 0


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["lava", "rtl"])
def test_counts_equal_across_executors(backend):
    """A back end's trace (same graph, its delays) gives the same counts as the golden run."""
    import importlib
    from hwsnn.backends import BACKENDS
    mod, fn = BACKENDS[backend].split(":")
    run = getattr(importlib.import_module(mod), fn)
    g = random_stbif_net(1, kind="dense", depth=2)  # maps onto both (a MappingError fails)
    x = random_input(g, 2, 1)
    try:
        other = run(g, x, 10)
    except BackendUnavailableError as exc:  # not installed: HWSNN_REQUIRE_BACKENDS=1 fails it
        pytest.skip(str(exc))
    golden = sim.run(other.graph, x, 10, record=True)
    a, b = energy.count_events(golden, x), energy.count_events(other, x)
    assert a.to_dict()["layers"] == b.to_dict()["layers"]
