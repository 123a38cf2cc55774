"""A concatenation's parts computed by one core (mappings/rtl/_concat.py, `ConvTable.c0`).

torchvision's own DenseNet (a small configuration, weights=None) splits every BN-ReLU on a
concatenation into one neuron node per part. Lowering gives each such group one core whose
channels are the parts side by side; each part's kernel walks only its channel groups, and a
reader takes the parts as one table. The run must still equal golden at every step on V, S
and y of every IR node (each part read out of its core's neurons)."""

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.errors import RangeError
from hwsnn.mappings.rtl import lower, run_lowered
from hwsnn.mappings.rtl._overflow import check_overflow

from densenets import tiny_densenet as build_densenet
from rtlsim import need_sim, values_compared

pytestmark = [pytest.mark.rtl, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def densenet():
    return build_densenet("rtl")


def _split_layers(graph):
    """{layer: its part nodes} from the converter's names '<layer>.ch<a>_<b>'."""
    out = {}
    for name, node in graph.nodes.items():
        if node.ROLE == "neuron" and ".ch" in name:
            out.setdefault(name.rsplit(".ch", 1)[0], []).append(name)
    return {k: v for k, v in out.items() if len(v) > 1}


def test_each_split_layer_is_one_core_holding_every_part(densenet):
    graph, _, _ = densenet
    net = lower(graph, lanes=16)
    layers = _split_layers(graph)
    assert len(layers) >= 4
    held = [p for parts in net.parts for p in parts]
    assert sorted(n for n, _, _ in held) == sorted(graph.neurons + graph.readouts)  # each node once
    merged = [parts for parts in net.parts if len(parts) > 1]
    assert len(net.cores) == len(graph.neurons) + len(graph.readouts) - sum(len(p) - 1 for p in merged)
    for parts in merged:
        names = [n for n, _, _ in parts]
        assert any(set(names) == set(v) for v in layers.values()), names
        k = net.parts.index(parts)
        cfg = net.cores[k]
        ends = [lo for _, lo, _ in parts] + [parts[-1][2]]
        assert ends[0] == 0 and ends[-1] == cfg.n
        assert all(hi == lo2 for (_, _, hi), (_, lo2, _) in zip(parts, parts[1:]))  # side by side
        for t in cfg.tables:  # each part's kernel starts on a channel group of the core
            assert t.conv is None or t.conv.c0 % cfg.lanes == 0


@pytest.mark.slow
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_concatenation_cores_equal_golden_at_every_step(densenet, simulator):
    need_sim(simulator)
    graph, x, steps = densenet
    net = lower(graph, lanes=16)
    assert any(len(p) > 1 for p in net.parts)
    want = sim.run(net.graph, x, steps)
    got = run_lowered(net, x, steps, sim=simulator)
    c = backends.compare(want, got, "rtl")
    assert c.mismatches == 0, c.first
    assert c.compared_values >= values_compared(graph, steps, len(x), read_back=False)


@pytest.mark.slow
def test_parts_channel_offsets_swapped_are_caught(densenet):
    """Two equal-sized parts' kernels exchange their channels (c0) in the core: the tables are
    still valid, but golden's first divergence is found."""
    need_sim("verilator")
    graph, x, steps = densenet
    net = lower(graph, lanes=16)
    for cfg in net.cores:
        convs = [t.conv for t in cfg.tables if t.conv is not None]
        pair = next(((a, b) for i, a in enumerate(convs) for b in convs[i + 1:]
                     if a.c0 != b.c0 and a.K.shape[0] == b.K.shape[0]), None)
        if pair:
            pair[0].c0, pair[1].c0 = pair[1].c0, pair[0].c0
            break
    else:
        pytest.fail("no core with two equal-sized parts")
    want = sim.run(net.graph, x, steps)
    c = backends.compare(want, run_lowered(net, x, steps, sim="verilator"), "rtl")
    assert c.mismatches > 0


def test_a_parts_own_v_register_is_checked_on_the_records(densenet):
    """The core's V is its widest part's; a value outside a narrower part's int register is
    the RangeError golden raises, naming that part."""
    graph, _, _ = densenet
    net = lower(graph, lanes=16)
    k, part = next((k, (n, lo, hi)) for k, parts in enumerate(net.parts) for n, lo, hi in parts
                   if graph.nodes[n].v_bits < net.cores[k].v_bits)
    name, lo, hi = part
    rec = {f"OVF{j}": np.zeros((1, 2, c.n), np.int64) for j, c in enumerate(net.cores)}
    rec.update({f"V{j}": np.zeros((1, 2, c.n), np.int64) for j, c in enumerate(net.cores)})
    check_overflow(net, rec)  # all zero: nothing to report
    rec[f"V{k}"][0, 1, lo + 1] = 1 << (graph.nodes[name].v_bits - 1)  # one above the part's largest
    with pytest.raises(RangeError, match=f"node '{name}'.*step 1, sample 0, neuron 1"):
        check_overflow(net, rec)
