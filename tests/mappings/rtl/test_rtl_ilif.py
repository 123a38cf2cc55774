"""iLIF pipeline (SpikeConverter) in RTL: every step equals hwsnn.sim, codes equal the closed
form, and once the pipeline is full a new sample completes every 2T cycles."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.errors import MappingError

from rtlsim import need_sim

pytestmark = pytest.mark.rtl

T = 4


def ilif_net(seed):
    rng = np.random.default_rng(seed)
    nodes = {"in": ir.Source((6,), encoding="bits", T=T, x_bits=6),
             "f1": ir.Dense(rng.integers(-3, 6, (5, 6))),
             "a": ir.ILIF((5,), theta=rng.integers(40, 90, 5), T=T, bias=rng.integers(-20, 20, 5), v_bits=16),
             "f2": ir.Dense(rng.integers(-2, 5, (4, 5))),
             "b": ir.ILIF((4,), theta=rng.integers(30, 60, 4), T=T, bias=rng.integers(-10, 10, 4), v_bits=16),
             "f3": ir.Dense(rng.integers(-3, 4, (3, 4))),
             "out": ir.Readout((3,), v_bits=20, horner=True)}
    edges = [ir.Edge(a, b) for a, b in (("in", "f1"), ("f1", "a"), ("a", "f2"), ("f2", "b"), ("b", "f3"),
                                        ("f3", "out"))]
    return ir.Graph(nodes, edges, name=f"ilif-{seed}")


def closed_form(graph, q):
    """Codes clip(floor(z * 2^T / theta), 0, 2^T - 1) layer by layer, z = W code + bias (numpy)."""
    codes, x = {}, q.reshape(len(q), -1)
    for layer, syn in (("a", "f1"), ("b", "f2")):
        node = graph.nodes[layer]
        z = x @ graph.nodes[syn].W.T + node.bias
        x = codes[layer] = np.clip(np.floor_divide(z * 2 ** T, node.theta), 0, 2 ** T - 1)
    return codes, x @ graph.nodes["f3"].W.T


def read_from_hardware(graph, steps, batch):
    """Values the pipeline reads from its registers: layer k's V and S from step kT on, its
    spikes in its generate window [kT + T, kT + 2T); the readout's V from step 2T on."""
    total = 0
    for k, name in enumerate(("a", "b", "out")):
        n = int(np.prod(graph.nodes[name].shape))
        state = (steps - k * T) * n
        total += batch * (state if name == "out" else 2 * state + T * n)
    return total


@pytest.mark.parametrize("simulator,seed", [("icarus", 0), ("icarus", 1), ("verilator", 0)])
def test_ilif_pipeline_matches_golden_and_closed_form(simulator, seed):
    need_sim(simulator)
    from hwsnn.mappings.rtl import run_ilif
    graph = ilif_net(seed)
    q = np.random.default_rng(seed).integers(0, 2 ** T, (6, 6))
    trace, info = run_ilif(graph, q, sim=simulator)
    golden = sim.run(trace.graph, q, trace.steps)
    cmp = backends.compare(golden, trace, "rtl-ilif")
    assert cmp.compared_values == read_from_hardware(graph, trace.steps, len(q))
    assert cmp.mismatches == 0, str(cmp.first)
    codes, logits = closed_form(graph, q)
    for layer in ("a", "b"):
        assert np.array_equal(trace.final[layer]["S"], codes[layer])
    assert np.array_equal(trace.output, logits)
    assert len(set(codes["a"].ravel().tolist())) > 3  # the codes are not all clipped
    # one sample per 2T cycles once full: the codes complete exactly 2T cycles apart
    assert len(info["code_cycles"]) == len(q)
    assert info["intervals"] == [2 * T] * (len(q) - 1)


def test_ilif_pipeline_needs_bits_source():
    from hwsnn.mappings.rtl import lower_ilif
    g = ilif_net(0)
    g = g.replace_node("in", ir.Source((6,), x_bits=6))
    with pytest.raises(MappingError, match=r"graph 'ilif-0': the iLIF pipeline needs one Source with bits encoding"):
        lower_ilif(g)


def test_verify_backend_dispatches_ilif_graphs_to_the_pipeline():
    need_sim("icarus")
    from hwsnn.backends import verify
    graph = ilif_net(3)
    q = np.random.default_rng(3).integers(0, 2 ** T, (2, 6))
    result = verify(graph, q, 3 * T, backends=("rtl",))["rtl"]
    assert result.ok, str(result.first)
