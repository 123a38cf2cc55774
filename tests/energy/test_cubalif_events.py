"""Energy event counts of CUBALIF layers (Loihi's LIF): decay multiplies and active updates,
checked against plain loops over the golden records."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.energy import count_events

from cubanets import random_cuba_graph, random_cuba_inputs


def _loops(node, U, V, y, bias, got_input):
    """decays, active updates of one layer, sample by sample, neuron by neuron."""
    steps, batch, n = U.shape
    decays, active = [0] * batch, [0] * batch
    for b in range(batch):
        for t in range(steps):
            for k in range(n):
                u_prev = U[t - 1, b, k] if t else 0
                v_prev = V[t - 1, b, k] if t else 0
                decays[b] += int(node.du < 4095 and u_prev != 0) + int(node.dv > 0 and v_prev != 0)
                changed = U[t, b, k] != u_prev or V[t, b, k] != v_prev
                if changed or y[t, b, k] or bias[k] or got_input[t, b, k]:
                    active[b] += 1
    return decays, active


@pytest.mark.parametrize("family", ["dense", "conv"])
def test_decays_and_active_updates_by_loops(family):
    for seed in range(4):
        g = random_cuba_graph([seed, 3], family, 2).with_delays(1)
        x = random_cuba_inputs(g, 2, seed)
        tr = sim.run(g, x, 9)
        counts = {l.name: l for l in count_events(tr, x).layers}
        for name in g.neurons:
            node = g.nodes[name]
            n = int(np.prod(node.shape))
            U, V, y = (getattr(tr, v)[name].reshape(9, 2, n) for v in ("U", "V", "y"))
            bias = np.broadcast_to(node.bias_mant, node.shape).reshape(-1)
            # an input event: any nonzero value sent into the layer's synapse the step before
            src = g.inputs_of(g.inputs_of(name)[0].src)[0].src
            if g.nodes[src].type == "Flatten":
                src = g.inputs_of(src)[0].src
            sent = (tr.y[src].reshape(9, 2, -1) != 0) if src in tr.y else None
            got = np.zeros((9, 2, n), dtype=bool)
            if sent is not None:
                reach = _reach(g, name, src)
                got[1:] = (sent[:-1].astype(np.int64) @ reach.T) > 0
            else:
                got[1:] = _source_reach(g, name, x, 9)[:-1]
            decays, active = _loops(node, U, V, y, bias, got)
            assert counts[name].counts["decays"].tolist() == decays, (seed, name)
            assert counts[name].counts["active_updates"].tolist() == active, (seed, name)
            assert counts[name].counts["updates"].tolist() == [9 * n] * 2


def _reach(g, name, src):
    """(n_dst, n_src) 0/1: which source neurons a layer's synapse (any nonzero weight) reaches."""
    syn = g.nodes[g.inputs_of(name)[0].src]
    n_src = int(np.prod(g.nodes[src].shape))
    cols = []
    for i in range(n_src):
        e = np.zeros(n_src, dtype=np.int64)
        e[i] = 1
        cols.append(_apply(syn, e.reshape(g.nodes[src].shape)).reshape(-1) != 0)
    return np.stack(cols, axis=1).astype(np.int64)


def _apply(syn, x):
    import torch
    import torch.nn.functional as F
    if syn.type == "Dense":
        return np.abs(syn.W) @ x.reshape(-1)
    return F.conv2d(torch.tensor(x[None], dtype=torch.float64),
                    torch.tensor(np.abs(syn.W), dtype=torch.float64),
                    stride=syn.stride, padding=syn.padding, groups=syn.groups)[0].numpy()


def _source_reach(g, name, x, steps):
    from hwsnn.energy import source_emissions
    src = g.nodes["in"]
    e = source_emissions(src, x, steps) != 0  # (steps, batch, n_in)
    reach = _reach(g, name, "in")
    return (e.astype(np.int64) @ reach.T) > 0


def test_map_on_loihi_counts_loihi_weight_bits():
    """Mixed-sign Loihi weights [-256, 254] are 8 stored bits (W/2), one-signed 255 too."""
    from hwsnn.mappings.place import place
    from hwsnn.mappings.targets import load_target
    nodes = {"in": ir.Source((4,), encoding="rate", T=3),
             "d": ir.Dense(np.array([[-256, 254, 0, 2], [2, 4, 6, 8]]), w_bits=10),
             "n": ir.CUBALIF((2,), vth=3),
             "d2": ir.Dense(np.array([[255, 1]]), w_bits=10), "n2": ir.CUBALIF((1,), vth=3)}
    g = ir.Graph(nodes, [ir.Edge("in", "d", 1), ir.Edge("d", "n"), ir.Edge("n", "d2", 1),
                         ir.Edge("d2", "n2")])
    p = place(g, load_target("loihi"))
    assert [(l.name, l.weight_bits, l.state_bits) for l in p.layers] == [("n", 8, 24), ("n2", 8, 24)]
    assert ir.loihi_weight_bits(-2, 4) == 3 and ir.loihi_weight_bits(0, 7) == 3
