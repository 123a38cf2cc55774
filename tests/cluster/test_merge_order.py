"""Shard merge keeps the earliest first divergence, wherever it lies: in the first, a middle or
the last shard (hwsnn.cluster.merge_comparisons), and the merged result equals one unsharded
`compare` of the same traces. No Ray needed: the shards are compared here, in this process."""

import numpy as np
import pytest

from hwsnn import sim
from hwsnn.backends import compare
from hwsnn.cluster import merge_comparisons, sample_ranges

from randnets import random_input, random_stbif_net

STEPS = 9
BATCH = 12


def _sharded(graph, x, corrupt, shards):
    """(one unsharded Comparison, merged Comparison of `shards` shards) for a back end whose trace
    is golden's with V/S/y changed at `corrupt` [(node, var, step, sample, neuron)]."""
    golden = sim.run(graph, x, STEPS)
    other = sim.run(graph, x, STEPS)
    for node, var, step, sample, neuron in corrupt:
        arr = getattr(other, var)[node]
        arr[step, sample, neuron] = 1 - arr[step, sample, neuron] if var == "y" else arr[step, sample, neuron] + 1
    one = compare(golden, other, "fake")
    parts, starts = [], []
    for a, b in sample_ranges(len(x), shards):
        g_part, o_part = sim.run(graph, x[a:b], STEPS), sim.run(graph, x[a:b], STEPS)
        for var in ("V", "S", "y"):
            for node in getattr(o_part, var):
                getattr(o_part, var)[node][...] = getattr(other, var)[node][:, a:b]
        parts.append(compare(g_part, o_part, "fake"))
        starts.append(a)
    return one, merge_comparisons(parts, starts, graph.topo_order())


def _where(shards, which):
    """A sample index in shard `which` ("first", "middle", "last") of BATCH samples."""
    ranges = sample_ranges(BATCH, shards)
    k = {"first": 0, "middle": len(ranges) // 2, "last": len(ranges) - 1}[which]
    return ranges[k][0] + (ranges[k][1] - ranges[k][0]) // 2


@pytest.mark.parametrize("shards", [3, 4, 12])
@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_earliest_divergence_survives_the_merge(shards, which):
    graph = random_stbif_net(3, depth=2)
    x = random_input(graph, BATCH, 0)
    early = _where(shards, which)
    # later divergences in every shard, the earliest (step 1) in the chosen one
    corrupt = [("l0", "V", 6, _where(shards, w), 0) for w in ("first", "middle", "last")]
    corrupt += [("l1", "S", 4, b, 0) for b in range(BATCH) if b != early]
    corrupt.append(("l0", "y", 1, early, 1))
    one, merged = _sharded(graph, x, corrupt, shards)
    assert (merged.first.step, merged.first.sample, merged.first.variable) == (1, early, "y")
    assert merged.first == one.first
    assert (merged.compared_values, merged.mismatches) == (one.compared_values, one.mismatches)
    assert merged.per_variable == one.per_variable


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_ties_on_step_go_to_node_then_variable_then_sample(which):
    """Same step everywhere: the merge picks the earlier node, then V before S before y, then the
    lower sample, as one unsharded compare does."""
    graph = random_stbif_net(3, depth=2)
    x = random_input(graph, BATCH, 0)
    b = _where(4, which)
    corrupt = [("l1", "V", 3, s, 0) for s in range(BATCH)]       # a later node everywhere
    corrupt += [("l0", "y", 3, s, 0) for s in range(BATCH)]      # same node, a later variable
    corrupt += [("l0", "S", 3, s, 1) for s in range(b, BATCH)]   # the winner: l0 S, lowest sample b
    one, merged = _sharded(graph, x, corrupt, 4)
    assert (merged.first.node, merged.first.variable, merged.first.sample) == ("l0", "S", b)
    assert merged.first == one.first and merged.mismatches == one.mismatches
