"""MaxPool2d on Lava (its own process model, mappings/lava/procs/pool.py) equals the golden
run at every step on V (input counts), S (window maxima) and y: random max-pool graphs with
padding and ceil-mode windows, delays 0 and 1, and the bundled max-pool digits CNN."""

import numpy as np
import pytest

from hwsnn import backends

lava = pytest.importorskip("hwsnn.mappings.lava")
from maxpool_nets import inputs, maxpool_graph  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_maxpool_graphs_equal_golden_every_step(seed):
    graph = maxpool_graph(seed, (0, 1), analog=seed == 2)
    assert any(n.type == "MaxPool2d" and (n.ceil_mode or any(n.padding)) for n in graph.nodes.values()) \
        or seed != 0
    r = backends.verify(graph, inputs(graph, seed, 3), 12, backends=["lava"])["lava"]
    assert r.compared_values > 0 and r.mismatches == 0, r.first


def test_delay_zero_graph_equals_golden():
    """Lava with the graph's own delays (0 on the edge into the pool: no step lost)."""
    from hwsnn import sim
    graph = maxpool_graph(5, (0,))
    x = inputs(graph, 5, 2)
    from hwsnn.mappings.lava import run
    got = run(graph, x, 10, delay=None)
    c = backends.compare(sim.run(graph, x, 10), got, "lava")
    assert c.compared_values > 0 and c.mismatches == 0, c.first


@pytest.mark.slow
def test_digits_maxpool_on_lava_every_step():
    from hwsnn.examples import load_digits_maxpool_ir
    g, x, y, steps = load_digits_maxpool_ir(n_test=24)
    r = backends.verify(g, x, steps, backends=["lava"])["lava"]
    assert r.compared_values > 0 and r.mismatches == 0, r.first


def test_a_count_beyond_its_register_is_a_range_error_as_in_golden():
    from hwsnn import sim
    from hwsnn.errors import RangeError
    from hwsnn.mappings.lava import run
    graph = maxpool_graph(7, (1,), small=True)
    x = inputs(graph, 7, 2)
    for runner in (sim.run, run):
        with pytest.raises(RangeError, match=r"node 'mp0': membrane V reached \[\d+, \d+\], "
                                             r"outside its int5 register"):
            runner(graph, x, 30)
