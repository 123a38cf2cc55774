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


def small_stbif_net(seed, v0_low, name):
    """Source(6) -> Dense -> ST-BIF (per-neuron theta, v0 in v0_low .. v0_low + 2) -> Dense -> Readout."""
    import numpy as np

    from hwsnn import ir
    rng = np.random.default_rng(seed)
    nodes = {"in": ir.Source((6,), R=1, x_bits=5),
             "fc1": ir.Dense(rng.integers(-6, 7, (5, 6)), w_bits=4),
             "a": ir.STBIF((5,), theta=rng.integers(3, 9, 5), v0=rng.integers(v0_low, v0_low + 3, 5), s_min=-2,
                           s_max=4, v_bits=10, s_bits=4),
             "fc2": ir.Dense(rng.integers(-4, 5, (3, 5)), w_bits=4),
             "out": ir.Readout((3,), v_bits=12)}
    edges = [ir.Edge("in", "fc1"), ir.Edge("fc1", "a"), ir.Edge("a", "fc2"), ir.Edge("fc2", "out")]
    return ir.Graph(nodes, edges, name=name)
