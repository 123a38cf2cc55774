"""Back ends and shard functions for the cluster tests (imported by Ray workers by path)."""

import os

import numpy as np

from hwsnn.sim import run as golden_run


def corrupt_backend(graph, x, steps):
    """The golden run with V of the first neuron node off by one in the samples whose first
    input value is a key of TAGGED, at the step it names. The tag travels with the sample, so
    the corruption does not depend on how the input was sharded."""
    trace = golden_run(graph, x, steps)
    node = graph.neurons[0]
    q = next(iter(x.values())) if isinstance(x, dict) else x
    tags = np.asarray(q).reshape(len(q), -1)[:, 0]
    for b, tag in enumerate(tags):
        if int(tag) in TAGGED:
            trace.V[node][TAGGED[int(tag)], b].reshape(-1)[0] += 1
    return trace


TAGGED = {5: 2, 7: 1}  # first input value -> step whose V the corrupt back end alters


def die_once(marker, shard):
    """Kill this worker process the first time shard 1 runs (marker file), then succeed."""
    if shard == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    return shard * 10


def die_always(_, shard):
    if shard == 1:
        os._exit(1)
    return shard
