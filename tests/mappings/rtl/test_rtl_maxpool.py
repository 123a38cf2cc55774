"""MaxPool2d on the RTL (rtl/_maxpool.py, a max-pool unit in the core network) equals the golden
run at every step on V (its input counts), S (window maxima) and y, and after the last step on
the memories read back: a random max-pool graph with padding / ceil-mode windows, and the
bundled max-pool digits CNN (a subset here; all 360 images: scripts/digits_maxpool.py)."""

import numpy as np
import pytest

from hwsnn import backends, ir
from hwsnn.errors import MappingError
from hwsnn.mappings.rtl import lower

from maxpool_nets import inputs, maxpool_graph
from rtlsim import need_sim

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


def _check(graph, x, steps, simulator="verilator"):
    r = backends.verify(graph, x, steps, backends=["rtl"], sim=simulator)["rtl"]
    assert r.mismatches == 0, str(r.first)
    pools = [n for n, node in graph.nodes.items() if isinstance(node, ir.MaxPool2d)]
    for n in pools:  # the pool's own state was compared, per step and read back
        for var in ("V", "S", "y", "V(readback)", "S(readback)"):
            assert f"{n}.{var}" in r.per_variable, (n, var)
    assert r.compared_values > 0
    return r


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_random_maxpool_graph_every_step(simulator):
    need_sim(simulator)
    graph = maxpool_graph(0, (1,))
    node = graph.nodes["mp0"]
    assert any(node.padding) and node.stride != node.kernel  # padded, overlapping windows
    _check(graph, inputs(graph, 0, 3), 12, simulator)


def test_ceil_mode_pool_of_a_pool_every_step():
    need_sim("verilator")
    seed = next(s for s in range(50) if (lambda g: "mp1" in g.nodes and any(
        n.ceil_mode for n in g.nodes.values() if isinstance(n, ir.MaxPool2d)))(maxpool_graph(s, (1,))))
    graph = maxpool_graph(seed, (1,))
    _check(graph, inputs(graph, seed, 2), 14)


def test_digits_maxpool_every_step_on_a_subset():
    need_sim("verilator")
    from hwsnn.examples import load_digits_maxpool_ir
    graph, x, y, steps = load_digits_maxpool_ir(n_test=24)
    r = _check(graph, x, steps + 4)  # delay 1 on every edge: one more step per layer
    assert r.per_variable["3.S"] == r.per_variable["7.S"] == 0


def test_a_pool_on_the_source_is_refused():
    mp = ir.MaxPool2d((1, 2, 2), (1, 4, 4), s_bits=6)
    g = ir.Graph({"in": ir.Source((1, 4, 4), x_bits=6), "mp": mp, "f": ir.Flatten(),
                  "d": ir.Dense(np.ones((1, 4), int)), "out": ir.Readout((1,))},
                 [ir.Edge("in", "mp"), ir.Edge("mp", "f"), ir.Edge("f", "d"), ir.Edge("d", "out")])
    with pytest.raises(MappingError, match="node 'mp': the RTL max-pool unit takes the spikes of a "
                                           "neuron or max pool outside a Ca-LIF network, not a Source"):
        lower(g)


def test_a_count_beyond_its_register_is_a_range_error_as_in_golden():
    """s_bits too small for an IF layer's count: golden stops with a RangeError, and so does
    the RTL (its unit flags the count that left the register)."""
    from hwsnn import sim
    from hwsnn.errors import RangeError
    from hwsnn.mappings.rtl import run
    need_sim("verilator")
    graph = maxpool_graph(7, (1,), small=True)
    x = inputs(graph, 7, 2)
    with pytest.raises(RangeError, match="node 'mp0': membrane V reached"):
        sim.run(graph, x, 30)
    with pytest.raises(RangeError, match=r"node 'mp0': V or S left its register \(V int5"):
        run(graph, x, 30)
