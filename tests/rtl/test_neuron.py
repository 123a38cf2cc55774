"""NeuronUnit vs the golden neuron rule (hwsnn.sim._neurons) on edge + random vectors."""

import numpy as np
import pytest

from hwsnn.errors import RangeError
from hwsnn.rtl import NeuronUnit
from hwsnn.rtl.sim._neuron_bench import run_neuron_bench

from neuron_vectors import neuron_expected, neuron_vectors, unit_params
from rtlsim import need_sim

pytestmark = pytest.mark.rtl

WIDTHS = {
    "stbif-small": unit_params("stbif", 8, 8, 6, 4, s_min=-3, s_max=3),
    "stbif-mid": unit_params("stbif", 16, 12, 12, 8, s_min=0, s_max=15),
    "stbif-wide": unit_params("stbif", 24, 20, 16, 6, s_min=-8, s_max=31),
    "if": unit_params("if", 12, 10, 8, 6, s_max=20),
    "if-nocap": unit_params("if", 10, 10, 8, 4, s_max=0),
    "calif": unit_params("calif", 12, 10, 8, 6, s_max=15, leak_bits=6),
    "calif-nogate": unit_params("calif", 10, 8, 8, 5, s_max=0, gate=False, leak_bits=4),
}
QUICK_ICARUS = {"stbif-small", "stbif-wide", "if", "calif"}
QUICK_VERILATOR = {"stbif-small"}
VERILATOR = {"stbif-small", "stbif-wide", "calif"}  # Verilator builds cost ~20 s each


def _cases():
    for name in WIDTHS:
        marks = () if name in QUICK_ICARUS else (pytest.mark.slow,)
        yield pytest.param("icarus", name, id=f"icarus-{name}", marks=marks)
        if name in VERILATOR:
            marks = () if name in QUICK_VERILATOR else (pytest.mark.slow,)
            yield pytest.param("verilator", name, id=f"verilator-{name}", marks=marks)


@pytest.mark.parametrize("sim,name", list(_cases()))
def test_neuron_matches_golden(sim, name):
    need_sim(sim)
    p = WIDTHS[name]
    vec = neuron_vectors(p, n_random=1000, seed=1)
    exp = neuron_expected(p, vec)
    ok, got = run_neuron_bench(p, vec, exp, sim)
    bad = {k: int((got[k] != exp[k]).sum()) for k in exp}
    assert ok and sum(bad.values()) == 0, bad
    # the vectors reach what they are meant to reach
    assert set(np.unique(exp["y"])) >= ({-1, 0, 1} if name.startswith(("stbif", "calif")) else {0, 1})
    assert exp["ovf"].any() and not exp["ovf"].all()


def test_mutated_threshold_compare_fails_the_bench():
    """Mutation check: with V' > theta instead of V' >= theta the same bench must fail."""
    need_sim("icarus")
    p = WIDTHS["stbif-small"]
    vec = neuron_vectors(p, n_random=200, seed=1)
    exp = neuron_expected(p, vec)
    ok, got = run_neuron_bench(p, vec, exp, "icarus", _mutate_ge=True)
    assert not ok
    assert (got["y"] != exp["y"]).any()


def test_bad_parameters():
    with pytest.raises(RangeError, match=r"NeuronUnit: kind must be one of \('stbif', 'if', 'calif'\), not 'lif'"):
        NeuronUnit("lif")
    with pytest.raises(RangeError, match=r"NeuronUnit: v_bits must be an integer in \[2, 64\], not 1"):
        NeuronUnit(v_bits=1)
