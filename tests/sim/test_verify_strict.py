"""`verify` cannot be fooled: a trace of another graph, non-integer arrays, values not read from
the executor, and a corrupted oracle are all caught (hwsnn.backends.verify)."""

import re

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.errors import BackendError
from hwsnn.sim._ops import SynapseOp
from hwsnn.backends import BACKENDS, DELAYS, compare, verify

from randnets import random_input, random_stbif_net
from require_backends import need

STEPS = 10


@pytest.fixture
def net():
    graph = random_stbif_net(1, kind="dense", depth=2)
    return graph, random_input(graph, 2, 1)


def values_per_step(graph):
    """V, S, y of every neuron and V of every readout, per step and sample, from the IR shapes."""
    return sum(int(np.prod(node.shape)) * {"neuron": 3, "readout": 1}[node.ROLE]
               for node in graph.nodes.values() if node.ROLE in ("neuron", "readout"))


def fake_backend(monkeypatch, delay=1, ran=lambda g: g, claims=None, edit=None, name="fake"):
    """Register back end `name` documenting `delay`: the golden run of `ran(g)`, g the graph with
    `delay`, reporting `trace.graph = claims(g)` (default: what it ran), edited by `edit(trace)`."""
    def run(graph, x, steps):
        g = graph.with_delays(delay)
        trace = sim.run(ran(g), x, steps)
        if claims is not None:
            trace.graph = claims(g)
        if edit is not None:
            edit(trace)
        return trace
    monkeypatch.setitem(BACKENDS, name, run)
    monkeypatch.setitem(DELAYS, name, delay)


def test_a_faithful_backend_passes_with_every_value_counted(net, monkeypatch):
    graph, x = net
    fake_backend(monkeypatch)
    c = verify(graph, x, STEPS, backends=("fake",))["fake"]
    assert c.ok and c.mismatches == 0
    assert c.compared_values == STEPS * len(x) * values_per_step(graph) > 0


def _with(graph, name, **changes):
    node = graph.nodes[name]
    return graph.replace_node(name, type(node)(**{**node.scalars(), **node.arrays(), **changes}))


@pytest.mark.parametrize("change,message", [
    (lambda g: _with(g, "l1", theta=g.nodes["l1"].theta + 1),
     r"node 'l1' array theta is (\d+) in the graph it ran, not (\d+)$"),
    (lambda g: _with(g, "l0.w", W=g.nodes["l0.w"].W + np.eye(*g.nodes["l0.w"].W.shape, dtype=int)),
     r"node 'l0.w' array W\[0, 0\] is 5 in the graph it ran, not 4$"),
    (lambda g: _with(g, "l0", s_max=g.nodes["l0"].s_max + 1),
     r"node 'l0' param s_max is 5 in the graph it ran, not 4$"),
    (lambda g: g.replace_node("l1", ir.IF(g.nodes["l1"].shape, theta=g.nodes["l1"].theta)),
     r"node 'l1' is a IF in the graph it ran, not a STBIF$"),
    (lambda g: ir.Graph(g.nodes, g.edges[:-1] + [ir.Edge("l1", "fc", 1)], g.name, g.meta),
     r"edge 5 is 'l1' -> 'fc' in the graph it ran, not 'fc' -> 'out'$"),
    (lambda g: ir.Graph(g.nodes, g.edges + [ir.Edge("in", "fc", 1)], g.name, g.meta),
     r"ran 7 edges, the graph has 6$"),
    (lambda g: _with(g, "l1", theta=np.full(g.nodes["l1"].shape, g.nodes["l1"].theta)),
     r"node 'l1' array theta is a int64 array of shape \(\d,\) in the graph it ran, not a int64 "
     r"array of shape \(\)$"),
    (lambda g: ir.Graph(g.nodes, g.edges, g.name, {**g.meta, "steps": 3}),
     r"the graph it ran has meta \{'steps': 3\}, not \{\}$"),
])
def test_a_trace_of_another_graph_is_refused(net, monkeypatch, change, message):
    """The trace reports a graph other than the one given (and what it ran is irrelevant)."""
    graph, x = net
    fake_backend(monkeypatch, claims=change)
    with pytest.raises(BackendError, match="^fake: " + message):
        verify(graph, x, STEPS, backends=("fake",))


def test_a_backend_that_ran_another_graph_is_not_compared_with_itself(net, monkeypatch):
    graph, x = net
    louder = lambda g: _with(g, "l0.w", W=2 * g.nodes["l0.w"].W)  # noqa: E731
    fake_backend(monkeypatch, ran=louder)
    with pytest.raises(BackendError, match=r"^fake: node 'l0.w' array W\[0, 0\] is 8 in the graph it "
                                           r"ran, not 4$"):
        verify(graph, x, STEPS, backends=("fake",))
    # what the old rule (golden rerun on trace.graph) would have accepted: 0 mismatches
    g = louder(graph.with_delays(1))
    assert compare(sim.run(g, x, STEPS), sim.run(g, x, STEPS)).ok


def test_only_the_documented_delays_may_differ(net, monkeypatch):
    graph, x = net
    fake_backend(monkeypatch, delay=0)  # runs delay 0 ...
    monkeypatch.setitem(DELAYS, "fake", 1)  # ... but documents 1
    with pytest.raises(BackendError, match=r"^fake: edge 'in' -> 'l0.w' has delay 0 in the graph it "
                                           r"ran, not the documented 1$"):
        verify(graph, x, STEPS, backends=("fake",))
    monkeypatch.delitem(DELAYS, "fake")
    with pytest.raises(BackendError, match=r"^backend 'fake' states no delays: add it to "
                                           r"hwsnn.backends.DELAYS$"):
        verify(graph, x, STEPS, backends=("fake",))


def test_a_trace_must_name_its_graph(net, monkeypatch):
    graph, x = net
    fake_backend(monkeypatch, edit=lambda tr: setattr(tr, "graph", None))
    with pytest.raises(BackendError, match=r"^fake: the trace does not say which graph it ran"):
        verify(graph, x, STEPS, backends=("fake",))


def _traces(net, delay=1):
    graph, x = net
    g = graph.with_delays(delay)
    return sim.run(g, x, STEPS), sim.run(g, x, STEPS)


@pytest.mark.parametrize("var,dtype", [("V", np.float64), ("S", np.float32), ("y", bool)])
def test_non_integer_arrays_are_errors(net, var, dtype):
    golden, other = _traces(net)
    getattr(other, var)["l0"] = getattr(other, var)["l0"].astype(dtype)
    with pytest.raises(BackendError, match=rf"^rtl: node 'l0' {var} must be an integer array, not "
                                           rf"dtype {np.dtype(dtype)}$"):
        compare(golden, other, "rtl")
    with pytest.raises(BackendError, match=rf"^golden: node 'l0' {var} must be an integer array"):
        compare(other, golden, "rtl")


def test_integers_compare_by_value_without_a_cast(net):
    golden, other = _traces(net)
    assert golden.y["l0"].dtype == np.int8
    other.y["l0"] = other.y["l0"].astype(np.int64)  # wider: same values, no mismatch
    other.V["l1"] = other.V["l1"].astype(np.int16)
    assert compare(golden, other).mismatches == 0
    other.y["l0"][4, 1, 0] += 256  # a cast to int8 would hide this one
    c = compare(golden, other, "lava")
    assert c.mismatches == 1 and c.per_variable["l0.y"] == 1
    g = int(golden.y["l0"][4, 1, 0])
    assert vars(c.first) == {"node": "l0", "step": 4, "sample": 1, "neuron": (0,), "variable": "y",
                             "golden": g, "other": g + 256}


def test_values_not_read_are_not_compared_nor_counted(net):
    graph, _ = net
    golden, other = _traces(net)
    full = compare(golden, other).compared_values
    n0 = int(np.prod(graph.nodes["l0"].shape))
    mask = np.ones((STEPS, 1, 1), dtype=bool)
    mask[:3] = False  # the first 3 steps of l0 were not read (both samples)
    other.valid["l0"] = mask
    other.V["l0"][:3] += 7  # whatever lies there is not looked at
    c = compare(golden, other)
    assert c.mismatches == 0 and c.compared_values == full - 3 * 2 * n0 * 3
    other.valid["l0"] = {"S": mask}  # per variable: V now counts again, and differs
    c = compare(golden, other, "rtl")
    assert c.compared_values == full - 3 * 2 * n0 and c.mismatches == 3 * 2 * n0
    assert (c.first.node, c.first.step, c.first.variable) == ("l0", 0, "V")
    other.V["l0"][:3] -= 7
    other.valid = {n: np.zeros(1, dtype=bool) for n in golden.V}  # nothing read: not a pass
    c = compare(golden, other)
    assert c.compared_values == 0 and c.mismatches == 0 and not c.ok


def test_validity_masks_are_checked(net):
    golden, other = _traces(net)
    other.valid["l1"] = np.ones((STEPS, 2, 1), dtype=np.int64)
    with pytest.raises(BackendError, match=r"^rtl: node 'l1' V validity mask must be bool, not dtype int64$"):
        compare(golden, other, "rtl")
    other.valid["l1"] = np.ones((STEPS, 3, 1), dtype=bool)
    with pytest.raises(BackendError, match=r"^rtl: node 'l1' V validity mask has shape \(10, 3, 1\), "
                                           r"which does not broadcast to \(10, 2, \d\)$"):
        compare(golden, other, "rtl")


def test_state_read_back_after_the_last_step_is_compared(net):
    graph, _ = net
    golden, other = _traces(net)
    full = compare(golden, other).compared_values
    other.final_readback = {n: {"V": golden.final[n]["V"].copy(), "S": golden.final[n]["S"].copy()}
                            for n in graph.neurons}
    other.final_readback["out"] = {"V": golden.final["out"]["V"].copy()}
    c = compare(golden, other)
    n_neurons = sum(int(np.prod(graph.nodes[n].shape)) for n in graph.neurons)
    assert c.ok and c.compared_values == full + 2 * (2 * n_neurons + 3)
    other.final_readback["l1"]["S"][1, 0] += 1
    c = compare(golden, other, "rtl")
    assert c.mismatches == 1 and c.per_variable["l1.S(readback)"] == 1
    s = int(golden.final["l1"]["S"][1, 0])
    assert vars(c.first) == {"node": "l1", "step": STEPS - 1, "sample": 1, "neuron": (0,),
                             "variable": "S(readback)", "golden": s, "other": s + 1}
    other.V["l1"][STEPS - 1, 0, 0] += 1  # a per-step difference at the same step comes first
    assert compare(golden, other).first.variable == "V"
    other.final_readback["nope"] = {"V": np.zeros(3, dtype=np.int64)}
    with pytest.raises(BackendError, match=r"^rtl: read back V of node 'nope', which golden has no "
                                           r"final state of$"):
        compare(golden, other, "rtl")


# --- a corrupted oracle is caught by every executor --------------------------------------

def corrupt_synapses(monkeypatch, kind):
    """Golden's `kind` synapses (Dense, Conv2d) add 1 to their first output whenever it is
    nonzero: an off-by-one in the oracle's synapse arithmetic."""
    right = SynapseOp.__call__

    def wrong(self, x, dtype=None):
        out = right(self, x, dtype)
        if not isinstance(self.node, kind):
            return out
        flat = out.reshape(out.shape[0], -1).clone()
        flat[:, 0] += (flat[:, 0] != 0).to(flat.dtype)
        return flat.reshape(out.shape)
    monkeypatch.setattr(SynapseOp, "__call__", wrong)


CORRUPTION_CASES = [
    pytest.param("lava", None, "dense", marks=pytest.mark.lava),
    pytest.param("lava", None, "conv", marks=pytest.mark.lava),
    pytest.param("rtl", "icarus", "dense", marks=pytest.mark.rtl),
    pytest.param("rtl", "icarus", "conv", marks=pytest.mark.rtl),
    pytest.param("rtl", "verilator", "dense", marks=pytest.mark.rtl),
    pytest.param("rtl", "verilator", "conv", marks=[pytest.mark.rtl, pytest.mark.slow]),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("backend,simulator,kind", CORRUPTION_CASES)
def test_a_corrupted_oracle_fails_verify(monkeypatch, backend, simulator, kind):
    """The executors take their data from the IR, not from hwsnn.sim: when golden's synapse
    arithmetic is wrong, they disagree with it, and verify names where first."""
    need(simulator or backend)
    if simulator:
        monkeypatch.setenv("SIM", simulator)
    graph = random_stbif_net(3, kind=kind, depth=2)
    x = random_input(graph, 2, 3)
    ran = graph.with_delays(1)  # both back ends document delay 1 for these networks
    clean = sim.run(ran, x, STEPS)
    corrupt_synapses(monkeypatch, {"dense": ir.Dense, "conv": ir.Conv2d}[kind])
    wrong = sim.run(ran, x, STEPS)
    want = compare(wrong, clean).first  # where a faithful executor must first disagree
    assert want is not None
    # the first corrupted synapse is l0.w; its output 0 feeds neuron 0 of l0, whose V moves first
    assert (want.node, want.variable, want.neuron) == ("l0", "V", (0,) * len(graph.nodes["l0"].shape))
    c = verify(graph, x, STEPS, backends=(backend,))[backend]
    assert not c.ok and c.mismatches > 0, f"{backend} agrees with a corrupted golden simulator"
    assert c.first == want, str(c.first)
    assert re.fullmatch(r"node 'l0', step \d+, sample \d, neuron \([0, ]+\), V: golden -?\d+ vs -?\d+",
                        str(c.first))
