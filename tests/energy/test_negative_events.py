"""Every sign-dependent event count on a network full of -1 spikes and negative inputs.

Bipolar ST-BIF layers (s_min < 0) fed with negative and positive analog inputs send many -1
spikes; the counts of hwsnn.energy are checked against plain loops over the per-step trace
(refcount.py, `_active_by_loops` below). A -1 spike is one spike, one SOP per target and one
activation of each neuron it reaches, exactly like a +1; a negative input value is one MAC per
target and |value| input-value SOPs. The case checks that it is not vacuous: some steps have
targets reached only through -1 spikes or negative inputs.
"""

import numpy as np
import pytest

from hwsnn import energy, ir, sim

from refcount import input_macs_by_loops, paths, sops_by_loops

STEPS = 9


def bipolar_net(seed, delay):
    rng = np.random.default_rng(seed)
    n = {"in": ir.Source((5,), R=2, x_bits=6),
         "w0": ir.Dense(rng.integers(-4, 5, (4, 5))),
         "l0": ir.STBIF((4,), theta=4, v0=-1, s_min=-3, s_max=3, bias=rng.integers(-3, 4, 4), bias_R=2, v_bits=12),
         "w1": ir.Dense(rng.integers(-3, 4, (3, 4))),
         "l1": ir.STBIF((3,), theta=3, v0=0, s_min=-2, s_max=2, v_bits=12),
         "fc": ir.Dense(rng.integers(-2, 3, (2, 3))), "out": ir.Readout((2,))}
    e = [ir.Edge("in", "w0", delay), ir.Edge("w0", "l0"), ir.Edge("l0", "w1", delay), ir.Edge("w1", "l1"),
         ir.Edge("l1", "fc", delay), ir.Edge("fc", "out")]
    return ir.Graph(n, e, name=f"bipolar-{seed}-{delay}")


def _emitted(node, q, t):
    R = node.R
    return [((t + 1) * int(v)) // R - (t * int(v)) // R if t < R else 0 for v in q]


def _weights(graph, syns):
    (W,) = [graph.nodes[s].W for s in syns if isinstance(graph.nodes[s], ir.Dense)]
    return W


def _active_by_loops(graph, tr, x, name):
    """Per sample: sum over steps and neurons of [an input event (any sign) reached it, it had a
    bias release, or it fired (any sign)]."""
    node = graph.nodes[name]
    n = int(np.prod(node.shape))
    ref, only_negative = [0] * tr.batch, 0
    for b in range(tr.batch):
        for t in range(tr.steps):
            for j in range(n):
                pos = neg = False
                for src, syns, dst, d in paths(graph):
                    if dst != name or t - d < 0:
                        continue
                    vals = (_emitted(graph.nodes[src], np.asarray(x[b]).reshape(-1), t - d)
                            if graph.nodes[src].ROLE == "source" else tr.y[src][t - d, b].reshape(-1).tolist())
                    W = _weights(graph, syns)
                    pos |= any(v > 0 and W[j, i] for i, v in enumerate(vals))
                    neg |= any(v < 0 and W[j, i] for i, v in enumerate(vals))
                own = False
                if node.ROLE == "neuron":
                    b_j = int(np.broadcast_to(node.bias, node.shape).reshape(-1)[j])
                    own = bool(_emitted(ir.Source((1,), R=node.bias_R), [b_j], t)[0])
                    y = int(tr.y[name][t, b].reshape(-1)[j])
                    pos |= y > 0
                    neg |= y < 0
                ref[b] += pos or neg or own
                only_negative += neg and not (pos or own)
    return ref, only_negative


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_signed_count_matches_loops(seed, delay):
    g = bipolar_net(seed, delay)
    rng = np.random.default_rng(seed)
    x = rng.integers(-16, 17, (4, 5))
    tr = sim.run(g, x, STEPS, record=True)
    counts = {l.name: l for l in energy.count_events(tr, x).layers}
    ref_sops, ref_macs = sops_by_loops(g, tr), input_macs_by_loops(g, x)
    neg_spikes = sum(int((tr.y[n] < 0).sum()) for n in g.neurons)
    assert neg_spikes >= 10 and (x < 0).sum() >= 5  # the case is not vacuous
    only_negative = 0
    for name, layer in counts.items():
        c = layer.counts
        assert c["sops"].tolist() == ref_sops.get(name, [0] * tr.batch), name
        assert c["input_macs"].tolist() == ref_macs.get(name, [0] * tr.batch), name
        if g.nodes[name].ROLE == "neuron":
            assert c["spikes"].tolist() == np.abs(tr.y[name].astype(np.int64)).sum(axis=(0, 2)).tolist(), name
        active, neg_only = _active_by_loops(g, tr, x, name)
        only_negative += neg_only
        assert c["active_updates"].tolist() == active, name
        assert (c["active_updates"] + c["idle_updates"]).tolist() == [STEPS * layer.neurons] * tr.batch
    assert only_negative > 0  # some activations come from -1 spikes / negative inputs alone
    # input-value SOPs: |released value| per target, negative values included
    fo = energy.chains(g)[0].fanout
    value_sops = [sum(abs(v) * int(f) for t in range(STEPS) for v, f in zip(_emitted(g.nodes["in"], x[b], t), fo))
                  for b in range(len(x))]
    assert counts["l0"].counts["input_value_sops"].tolist() == value_sops


def test_a_minus_one_spike_alone_activates_its_targets():
    """x = -4 on one input: the bipolar neuron sends only -1 spikes; its targets are active at
    exactly those steps (+ the delay), and each -1 costs one SOP per target."""
    g = ir.Graph({"in": ir.Source((1,)), "w": ir.Dense([[1]]),
                  "n": ir.STBIF((1,), theta=2, v0=0, s_min=-2, s_max=2, v_bits=8),
                  "d": ir.Dense([[1], [-1], [0]]), "o": ir.Readout((3,))},
                 [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "d", 1), ir.Edge("d", "o")])
    x = np.array([[-4]])
    tr = sim.run(g, x, 5, record=True)
    assert tr.y["n"][:, 0, 0].tolist() == [-1, -1, 0, 0, 0]
    layers = {l.name: l for l in energy.count_events(tr, x).layers}
    assert layers["n"].counts["spikes"].tolist() == [2]
    assert layers["n"].counts["active_updates"].tolist() == [2]  # input at step 0, spike at step 1
    assert layers["o"].counts["sops"].tolist() == [2 * 2]  # two spikes, two nonzero targets each
    assert layers["o"].counts["active_updates"].tolist() == [2 * 2]  # steps 1 and 2, two targets


def test_a_negative_input_alone_activates_its_targets():
    """x = -3 reaches a neuron that cannot spike below 0 (s_min = 0) and has no bias: the input
    event is its only activity, at step 0 (delay 0) or step 1 (delay 1), and costs one MAC."""
    for delay in (0, 1):
        g = ir.Graph({"in": ir.Source((2,)), "w": ir.Dense([[1, 0], [0, 2]]),
                      "n": ir.STBIF((2,), theta=8, v0=0, s_min=0, s_max=2, v_bits=8),
                      "d": ir.Dense([[1, 1]]), "o": ir.Readout((1,))},
                     [ir.Edge("in", "w", delay), ir.Edge("w", "n"), ir.Edge("n", "d"), ir.Edge("d", "o")])
        x = np.array([[-3, 0], [0, -1]])
        tr = sim.run(g, x, 4, record=True)
        assert not tr.y["n"].any()
        n = {l.name: l for l in energy.count_events(tr, x).layers}["n"]
        assert n.counts["active_updates"].tolist() == [1, 1]
        assert n.counts["input_macs"].tolist() == [1, 1]
        assert n.counts["input_value_sops"].tolist() == [3, 1]
