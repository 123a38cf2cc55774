"""Split samples into contiguous shards and merge shard results exactly.

Merging is exact: counts and mismatches add up, every sample is reported once (at its index in
the whole input), and the first divergence is the earliest over all shards in the order
`compare` uses within one run: step, node (topological), variable, sample, neuron.
"""

from dataclasses import replace

import numpy as np

from ..errors import ClusterError

__all__ = ["sample_ranges", "take", "merge_comparisons"]


def sample_ranges(n, shards):
    """[(start, stop)] of `shards` contiguous, non-empty, near-equal ranges over n samples."""
    if n < 1:
        raise ClusterError(f"nothing to shard: {n} samples")
    k = max(1, min(int(shards), n))
    bounds = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def take(x, start, stop):
    """Samples start..stop of an input (an array or {source: array})."""
    if isinstance(x, dict):
        return {k: v[start:stop] for k, v in x.items()}
    return x[start:stop]


def _key(div, order):
    from ..backends import VARIABLES  # compare's tie order of variables
    var = div.variable
    rank = VARIABLES.index(var) if var in VARIABLES else len(VARIABLES)
    return (div.step, order.get(div.node, len(order)), rank, var, div.sample, tuple(div.neuron))


def merge_comparisons(parts, starts, node_order):
    """One Comparison from per-shard Comparisons of one back end; `starts[i]` is the index of
    shard i's first sample in the whole input; `node_order` the graph's topological order."""
    if not parts:
        raise ClusterError("no shard results to merge")
    if len({p.backend for p in parts}) != 1:
        raise ClusterError(f"cannot merge results of different back ends {[p.backend for p in parts]}")
    order = {n: i for i, n in enumerate(node_order)}
    merged = replace(parts[0], compared_values=0, mismatches=0, first=None, per_variable={},
                     steps=max(p.steps for p in parts))  # Ca-LIF shards may settle in fewer
    best = None
    for part, start in zip(parts, starts):
        merged.compared_values += part.compared_values
        merged.mismatches += part.mismatches
        for k, v in part.per_variable.items():
            merged.per_variable[k] = merged.per_variable.get(k, 0) + v
        if part.first is not None:
            div = replace(part.first, sample=part.first.sample + start)
            if best is None or _key(div, order) < _key(best, order):
                best = div
    merged.first = best
    return merged
