"""A deliberately corrupted process model is caught by hwsnn.backends.verify with the right report."""

import pytest

from hwsnn import backends, sim

lava = pytest.importorskip("hwsnn.mappings.lava")
from hwsnn.mappings.lava.procs.neurons import STBIFModel  # noqa: E402
from lava_nets import make  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]  # a hang fails, never blocks


class ThetaPlusOneModel(STBIFModel):
    """ST-BIF whose threshold is off by one, on node 'n2' only (a wrong process model)."""

    def step(self, I, t):
        if self.p["node"] != "n2":
            return super().step(I, t)
        theta = self.p["theta"]
        self.p = dict(self.p, theta=theta + 1)
        try:
            return super().step(I, t)
        finally:
            self.p = dict(self.p, theta=theta)


def _expected_first(graph, x, steps):
    """First divergence derived without Lava: golden vs. golden with n2's theta + 1."""
    g1 = graph.with_delays(1)
    n2 = g1.nodes["n2"]
    bad = g1.replace_node("n2", type(n2)(**{**n2.scalars(), **n2.arrays(), "theta": n2.theta + 1}))
    c = backends.compare(sim.run(g1, x, steps), sim.run(bad, x, steps), "expected")
    assert c.mismatches > 0  # the corruption is visible on this input
    return c.first


@pytest.mark.parametrize("name", ["STBIF-dense", "STBIF-conv"])
def test_corrupted_threshold_is_caught(name, monkeypatch):
    graph, x, steps = make(name, seed=1)
    expected = _expected_first(graph, x, steps)
    ok = backends.verify(graph, x, steps, backends=["lava"])["lava"]
    assert ok.ok and ok.first is None
    monkeypatch.setitem(lava.MODEL_OVERRIDES, "STBIF", ThetaPlusOneModel)
    bad = backends.verify(graph, x, steps, backends=["lava"])["lava"]
    assert not bad.ok and bad.mismatches > 0
    assert vars(bad.first) == vars(expected)
    assert bad.first.node == "n2"
