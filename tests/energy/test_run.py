"""hwsnn.energy.plan_steps: which steps an energy run takes when --steps is not given."""

import pytest

from hwsnn import sim
from hwsnn.energy import plan_steps
from hwsnn.errors import SimulationError

from randnets import random_input, random_stbif_net


def _settled(g, x, steps):
    return bool(sim.run(g, x, steps, record=False).settled.all())


@pytest.mark.parametrize("seed,delays", [(1, (0,)), (2, (1,)), (3, (0, 1))])
def test_settled_is_the_fewest_settled_steps(seed, delays):
    g = random_stbif_net(seed, depth=3, delays=delays)
    x = random_input(g, 6, seed, lo=-8, hi=16)
    plan = plan_steps(g, x)
    assert plan.rule == "settled" and plan.cap == 4096
    assert _settled(g, x, plan.steps) and not _settled(g, x, plan.steps - 1)
    g.meta["steps"] = 3          # ST-BIF settles: a recorded step count does not cut it short
    assert plan_steps(g, x).steps == plan.steps
    assert plan_steps(g, x, steps=5).rule == "given" and plan_steps(g, x, steps=5).steps == 5


def test_if_neurons_use_the_methods_step_count():
    g = random_stbif_net(4, depth=2, neuron="IF")
    x = random_input(g, 4, 4)
    assert plan_steps(g, x).rule == "settled"
    g.meta["steps"] = 7
    plan = plan_steps(g, x)
    assert (plan.rule, plan.steps, plan.cap) == ("meta", 7, None)


def test_cap_falls_back_to_meta_or_raises():
    g = random_stbif_net(5, depth=3)
    x = random_input(g, 4, 5)
    need = plan_steps(g, x).steps
    assert need > 2
    with pytest.raises(SimulationError, match=rf"graph 'random-dense-5': \d+ of 4 samples still "
                                              rf"change state after 2 steps: pass --steps, or a "
                                              rf"larger --settle-cap"):
        plan_steps(g, x, cap=2)
    g.meta["steps"] = 11
    plan = plan_steps(g, x, cap=2)
    assert (plan.rule, plan.steps, plan.cap) == ("meta", 11, 2)
    assert "not every sample settled within 2 steps" in plan.describe()


def test_calif_runs_its_window_then_settles():
    from hwsnn.examples import digits_data
    from hwsnn.methods import get
    low = get("calif").lower(3)
    x = low.encode(digits_data()[2][:2])
    plan = plan_steps(low.graph, x)
    assert (plan.rule, plan.steps) == ("calif window", 3)
    assert sim.run(low.graph, x, plan.steps, record=False).steps > 3   # + the settle phase
