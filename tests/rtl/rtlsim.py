"""Helpers shared by the RTL tests."""


import pytest


def need_sim(sim):
    """Skip when simulator `sim` is not installed (the back end then raises BackendUnavailableError)."""
    from hwsnn.errors import BackendUnavailableError
    from hwsnn.rtl.sim._runner import check_simulator
    pytest.importorskip("cocotb_tools.runner")
    try:
        check_simulator(sim)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return sim


def values_compared(graph, steps, batch, read_back=True):
    """What a full RTL comparison counts, from the IR shapes: V, S, y of every neuron and V of
    every readout at every step, then (read_back) V and S of every neuron and V of every
    readout read back from the memories after the last step."""
    import numpy as np
    size = {n: int(np.prod(graph.nodes[n].shape)) for n in graph.neurons + graph.readouts}
    per_step = 3 * sum(size[n] for n in graph.neurons) + sum(size[n] for n in graph.readouts)
    back = 2 * sum(size[n] for n in graph.neurons) + sum(size[n] for n in graph.readouts)
    return batch * (steps * per_step + (back if read_back else 0))
