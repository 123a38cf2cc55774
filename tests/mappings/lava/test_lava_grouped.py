"""The grouped Lava mapping (mappings/lava/_group.py): a few Lava processes host all IR nodes and
still equal golden at every step on V, S, y of every node.

The main graph is torchvision's own DenseNet (a small configuration, weights=None): dense blocks
whose BN-ReLU reads a concatenation, split by the converter into one neuron node per
concatenated part, and the convolutions after it split the same way."""

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.errors import MappingError

lava = pytest.importorskip("hwsnn.mappings.lava")
from hwsnn.mappings.lava._group import execute_grouped, lower_grouped  # noqa: E402
from densenets import tiny_densenet as build_densenet  # noqa: E402
from lava_nets import make  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def tiny_densenet():
    return build_densenet("lava")


def _values(graph, steps, batch):
    """Values a full comparison reads, from the graph alone: V (a MaxPool2d's V has its
    in_shape), S and y of every neuron, V of every Readout, at every step and sample."""
    n = 0
    for node in graph.nodes.values():
        if node.ROLE == "neuron":
            n += int(np.prod(getattr(node, "in_shape", node.shape))) + 2 * int(np.prod(node.shape))
        elif node.ROLE == "readout":
            n += int(np.prod(node.shape))
    return n * steps * batch


def _parts(graph):
    """{split layer: its part nodes}: neuron nodes named '<layer>.ch<a>_<b>'."""
    out = {}
    for name, node in graph.nodes.items():
        if node.ROLE == "neuron" and ".ch" in name and not name.endswith(".shortcut"):
            out.setdefault(name.rsplit(".ch", 1)[0], []).append(name)
    return out


def test_densenet_blocks_grouped_equal_golden_every_step(tiny_densenet, tmp_path):
    graph, x, steps = tiny_densenet
    assert max(len(p) for p in _parts(graph).values()) >= 3  # a layer split in 3+ parts
    lnet = lower_grouped(graph, x, steps, record_dir=str(tmp_path), groups=3)
    assert len(lnet.procs) == 3 < len(graph.nodes)
    crossing = [i for p in lnet.procs.values() for i in p.proc_params["ins"]]
    assert crossing and all(latched for *_, latched in crossing)  # delay-1 edges only
    trace = execute_grouped(lnet)
    backends.check_graph(backends.stated_graph("lava", graph), trace.graph, "lava")
    c = backends.compare(sim.run(trace.graph, x, steps), trace, "lava")
    assert c.mismatches == 0, c.first
    assert c.compared_values == _values(graph, steps, len(x))


def _mutated_weight(W):
    W = W.copy()
    k = int(np.flatnonzero(np.abs(W) < 100)[0])
    W.flat[k] += 1
    return W


def test_one_parts_weight_changed_in_lava_data_is_caught(tiny_densenet, tmp_path):
    """One part's convolution gets one weight + 1 in the grouped process's data only: the
    comparison finds it, first where golden run on the same change finds it."""
    graph, x, steps = tiny_densenet
    part = "features.denseblock1.denselayer3.conv1#2"  # reads the 2nd part of a concatenation
    assert graph.nodes[part].type == "Conv2d"
    lnet = lower_grouped(graph, x, steps, record_dir=str(tmp_path), groups=3)
    hits = 0
    for proc in lnet.procs.values():
        plan = proc.proc_params["plan"]
        for i, e in enumerate(plan):
            if e[1] == part:
                plan[i] = e[:5] + (_mutated_weight(e[5]),) + e[6:]
                hits += 1
    assert hits == 1
    trace = execute_grouped(lnet)
    golden = sim.run(trace.graph, x, steps)
    c = backends.compare(golden, trace, "lava")
    node = trace.graph.nodes[part]
    bad = trace.graph.replace_node(part, type(node)(**{**node.scalars(), **node.arrays(),
                                                       "W": _mutated_weight(node.W)}))
    want = backends.compare(golden, sim.run(bad, x, steps), "expected")
    assert want.mismatches > 0  # the change is visible on this input
    assert c.mismatches == want.mismatches and c.first == want.first


def test_a_failing_node_is_reported_by_name_and_nothing_hangs(tmp_path):
    graph, x, steps = make("STBIF-conv", seed=2)
    lnet = lower_grouped(graph, x, steps, record_dir=str(tmp_path), groups=2)
    for proc in lnet.procs.values():
        plan = proc.proc_params["plan"]
        for i, e in enumerate(plan):
            if e[1] == "fc":  # weights of the wrong shape: the product fails in the model
                plan[i] = e[:5] + (np.zeros((2, 3)),) + e[6:]
    from hwsnn.errors import BackendError
    with pytest.raises(BackendError, match=r"group\d failed at step 0: RuntimeError: node 'fc': "
                                           r"ValueError"):
        execute_grouped(lnet)


@pytest.mark.parametrize("name,delay", [("STBIF-conv", 1), ("IF-dense", 0), ("ILIF-conv", 1),
                                        ("STBIF-dense", None)])
def test_small_nets_grouped_equal_golden(name, delay):
    graph, x, steps = make(name, seed=2)
    trace = lava.run(graph, x, steps, delay=delay, groups=2)
    c = backends.compare(sim.run(trace.graph, x, steps), trace, "lava")
    assert c.mismatches == 0 and c.compared_values == _values(graph, steps, len(x)), c.first


@pytest.mark.parametrize("name", ["STBIF-conv", "ILIF-dense", "IF-conv"])
def test_one_process_per_node_still_equals_golden(name):
    """groups=0: the one-node mapping (the default before grouping), same results."""
    graph, x, steps = make(name, seed=3)
    trace = lava.run(graph, x, steps, groups=0)
    assert len(trace.graph.nodes) == len(graph.nodes)
    c = backends.compare(sim.run(trace.graph, x, steps), trace, "lava")
    assert c.mismatches == 0 and c.compared_values == _values(graph, steps, len(x)), c.first


def test_default_is_grouped_except_with_model_overrides(monkeypatch):
    from hwsnn.mappings.lava import _group, _run
    graph, x, steps = make("STBIF-dense", seed=3)
    calls, grouped, one = [], _group.lower_grouped, _run.lower
    monkeypatch.setattr(_group, "lower_grouped", lambda *a, **k: calls.append("grouped") or
                        grouped(*a, **k))
    monkeypatch.setattr(_run, "lower", lambda *a, **k: calls.append("node") or one(*a, **k))
    lava.run(graph, x, steps)
    monkeypatch.setitem(lava.MODEL_OVERRIDES, "STBIF", lava.procs.neurons.STBIFModel)
    lava.run(graph, x, steps)
    assert calls == ["grouped", "node"]


def test_calif_is_refused_grouped():
    graph, x, steps = make("CaLIF-dense")
    with pytest.raises(MappingError, match="no Ca-LIF settle phase"):
        lava.run(graph, x, steps, groups=2)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_densenet121_on_lava_grouped_one_input():
    """torchvision's densenet121 as benchmarks/zoo.py builds it (2657 IR nodes) on the default
    Lava mapping (4 processes), 1 input, every value at each of 24 steps. The zoo runs it until
    settled (122 steps; docs/performance.md, "torchvision zoo")."""
    torch = pytest.importorskip("torch")
    from hwsnn._torchvision import import_torchvision
    from hwsnn.compile import compile_qann
    from hwsnn.convert import convert

    tv = import_torchvision()
    torch.manual_seed(0)
    model = tv.models.densenet121(weights=None, num_classes=10).eval()
    calib = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
    qann = convert(model, (3, 32, 32), levels=8, calib=calib)
    graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)
    assert len(graph.nodes) > 2000 > lava.GROUP_ABOVE
    x = np.random.default_rng(0).integers(0, 256, (1, 3, 32, 32))
    result = backends.verify(graph, x, 24, backends=["lava"])["lava"]
    assert result.mismatches == 0, result.first
    assert result.compared_values == _values(graph, 24, 1)
