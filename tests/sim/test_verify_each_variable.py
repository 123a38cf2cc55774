"""`verify` catches a difference in any one variable alone: V, S or y of a neuron, V of a
readout, or a state read back after the last step. Each case changes one value of one
variable, leaves every other variable identical, and checks the mismatch count, the per-variable
count and the first divergence (node, step, sample, neuron, variable, both values)."""

import numpy as np
import pytest

from hwsnn import sim
from hwsnn.backends import BACKENDS, DELAYS, compare, verify

from randnets import random_input, random_stbif_net

STEPS = 10


def _register(monkeypatch, edit):
    def run(graph, x, steps):
        trace = sim.run(graph.with_delays(1), x, steps)
        edit(trace)
        return trace
    monkeypatch.setitem(BACKENDS, "fake", run)
    monkeypatch.setitem(DELAYS, "fake", 1)


CASES = [("l0", "V", 3, 1, 2), ("l0", "S", 4, 0, 1), ("l1", "S", 7, 1, 0), ("l1", "y", 2, 1, 1),
         ("out", "V", 9, 0, 2), ("l0", "S", 0, 0, 0)]


@pytest.mark.parametrize("node,var,step,sample,neuron", CASES,
                         ids=[f"{c[0]}.{c[1]}@{c[2]}" for c in CASES])
def test_one_changed_value_of_one_variable_is_one_mismatch(monkeypatch, node, var, step, sample, neuron):
    graph = random_stbif_net(1, kind="dense", depth=2)
    x = random_input(graph, 2, 1)
    seen = {}

    def edit(trace):
        arr = getattr(trace, var)[node]
        seen["golden"] = int(arr[step, sample, neuron])
        # y: +1 <-> -1 keeps it a valid spike; V, S: one more
        arr[step, sample, neuron] = -arr[step, sample, neuron] or 1 if var == "y" else arr[step, sample, neuron] + 1
        seen["other"] = int(arr[step, sample, neuron])

    _register(monkeypatch, edit)
    c = verify(graph, x, STEPS, backends=("fake",))["fake"]
    assert c.mismatches == 1 and not c.ok
    assert {k: v for k, v in c.per_variable.items() if v} == {f"{node}.{var}": 1}
    d = c.first
    assert (d.node, d.step, d.sample, d.neuron, d.variable) == (node, step, sample, (neuron,), var)
    assert (d.golden, d.other) == (seen["golden"], seen["other"])


@pytest.mark.parametrize("var", ["V", "S"])
def test_one_changed_readback_value_is_one_mismatch(var):
    graph = random_stbif_net(2, kind="dense", depth=2)
    x = random_input(graph, 3, 2)
    golden = sim.run(graph, x, STEPS)
    other = sim.run(graph, x, STEPS)
    other.final_readback = {n: {"V": golden.final[n]["V"].copy(), "S": golden.final[n]["S"].copy()}
                            for n in graph.neurons}
    other.final_readback["l1"][var][2, 1] -= 1
    c = compare(golden, other, "fake")
    assert c.mismatches == 1
    assert {k: v for k, v in c.per_variable.items() if v} == {f"l1.{var}(readback)": 1}
    d = c.first
    assert (d.node, d.step, d.sample, d.neuron, d.variable) == ("l1", STEPS - 1, 2, (1,), f"{var}(readback)")
    assert d.other == d.golden - 1


def test_earliest_step_wins_over_node_and_variable_order():
    """S of the last layer at step 2 is earlier than V of the first layer at step 3."""
    graph = random_stbif_net(1, kind="dense", depth=2)
    x = random_input(graph, 2, 1)
    golden = sim.run(graph, x, STEPS)
    other = sim.run(graph, x, STEPS)
    other.V["l0"][3, 0, 0] += 1
    other.S["l1"][2, 1, 0] += 1
    other.y["l0"][2, 1, 1] = 1 - other.y["l0"][2, 1, 1]
    c = compare(golden, other, "fake")
    assert c.mismatches == 3
    # step 2: node l0 comes before l1 in the golden order
    assert (c.first.node, c.first.step, c.first.variable) == ("l0", 2, "y")
    other.y["l0"][2, 1, 1] = golden.y["l0"][2, 1, 1]
    c = compare(golden, other, "fake")
    assert (c.first.node, c.first.step, c.first.variable, c.mismatches) == ("l1", 2, "S", 2)
    assert np.array_equal(golden.S["l1"], sim.run(graph, x, STEPS).S["l1"])


def test_both_sides_masks_apply():
    """compare of two executors' traces (each with its own validity mask): a value either side
    did not read is neither compared nor counted, whichever side's mask says so."""
    graph = random_stbif_net(1, kind="dense", depth=2)
    x = random_input(graph, 2, 1)
    a, b = sim.run(graph, x, STEPS), sim.run(graph, x, STEPS)
    full = compare(a, b, "b").compared_values
    n0 = int(np.prod(graph.nodes["l0"].shape))
    first, last = np.ones((STEPS, 1, 1), dtype=bool), np.ones((STEPS, 1, 1), dtype=bool)
    first[0], last[-1] = False, False
    a.valid["l0"], b.valid["l0"] = {"V": first}, {"V": last}
    b.V["l0"][-1] += 5  # not read by b
    a.V["l0"][0] -= 5   # not read by a
    c = compare(a, b, "b")
    assert c.mismatches == 0 and c.compared_values == full - 2 * 2 * n0
    b.V["l0"][4, 1, 0] += 1  # read by both: counted
    c = compare(a, b, "b")
    assert c.mismatches == 1 and (c.first.step, c.first.sample, c.first.variable) == (4, 1, "V")
