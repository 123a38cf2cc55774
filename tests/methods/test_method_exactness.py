"""Exactness: for ST-BIF, ILIF and Ca-LIF lowerings the per-step golden run ends exactly at the
closed-form count semantics (random networks), and ILIF codes equal the Q-ReLU levels."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from hwsnn.convert import convert
from hwsnn.compile import fit_widths, to_if, to_ilif
from hwsnn.methods.calif import calif_graph
from hwsnn.convert import with_levels
from hwsnn.methods._digits import compile_fit
from hwsnn.sim import count, run

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_qann(seed, levels, conv_head=False):
    """Random conv net; `conv_head`: the readout reads a conv layer (the compiler then feeds
    its bias through an always-on unit instead of extra neurons in a 1-D layer)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    c1, c2, h = (int(v) for v in rng.integers(2, 6, 3))
    head = [nn.Linear(c2 * 16, 5)] if conv_head else [nn.Linear(c2 * 16, h), nn.ReLU(), nn.Linear(h, 5)]
    model = nn.Sequential(nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                          nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.Flatten(), *head)
    x = torch.rand(64, 1, 8, 8)
    return convert(model, (1, 8, 8), levels=levels, calib=x), rng


def _equal_final(tr, c):
    for name, S in c["S"].items():
        np.testing.assert_array_equal(tr.final[name]["S"], S, err_msg=name)
    np.testing.assert_array_equal(tr.output, c["output"])


@SETTINGS
@given(seed=st.integers(0, 10_000), bits=st.integers(1, 5), delay=st.sampled_from([0, 1]),
       conv_head=st.booleans())
def test_ilif_run_equals_count_and_qrelu_levels(seed, bits, delay, conv_head):
    n = 2 ** bits - 1
    qann, rng = _random_qann(seed, n, conv_head)
    g = to_ilif(compile_fit(qann, input_scale=1.0 / n, input_range=(0, n)), bits).with_delays(delay)
    x = rng.integers(0, n + 1, (16, 1, 8, 8))
    c = count(g, x)
    tr = run(g, x, 5 * bits + 4 * delay, record=False)
    _equal_final(tr, c)
    # the ILIF codes are the compiled ST-BIF counts (the same Q-ReLU, clip(floor(z/s+1/2), 0, n))
    ref = count(compile_fit(qann, input_scale=1.0 / n, input_range=(0, n)), x)
    for name in c["S"]:
        if name in ref["S"] and not name.endswith("bias_unit"):
            np.testing.assert_array_equal(c["S"][name], ref["S"][name], err_msg=name)
    np.testing.assert_array_equal(c["output"], ref["output"])


@SETTINGS
@given(seed=st.integers(0, 10_000), levels=st.integers(1, 8), R=st.integers(1, 8),
       delay=st.sampled_from([0, 1]), conv_head=st.booleans())
def test_stbif_run_reaches_count(seed, levels, R, delay, conv_head):
    qann, rng = _random_qann(seed, levels, conv_head)
    g = compile_fit(qann, input_scale=1.0 / 16, input_range=(0, 16), R=R, bias_R=R).with_delays(delay)
    x = rng.integers(0, 17, (16, 1, 8, 8))
    tr = run(g, x, 4 * levels * 6 + 2 * R + 8, record=False)
    assert tr.settled.all()
    _equal_final(tr, count(g, x))


def _random_import(seed):
    """A random int8 'torch.ao' parameter set of the Ca-LIF digits network."""
    rng = np.random.default_rng(seed)
    t = lambda a, dt=torch.float64: torch.as_tensor(np.asarray(a), dtype=dt)
    P = {"input.S_x": t(rng.uniform(0.003, 0.07)), "input.z_x": t(int(rng.integers(0, 4)), torch.int64)}
    for name, shape in (("c1", (16, 1, 3, 3)), ("c2", (32, 16, 3, 3)), ("f1", (64, 128)), ("f2", (10, 64))):
        P[f"{name}.W"] = t(rng.integers(-128, 128, shape), torch.int64)
        P[f"{name}.S_w"] = t(rng.uniform(0.001, 0.02, shape[0]) if name != "f2" else np.full(10, rng.uniform(0.001, 0.02)))
        P[f"{name}.b"] = t(rng.normal(0, 0.3, shape[0]))
        P[f"{name}.S_y"] = t(rng.uniform(0.02, 0.3))
        P[f"{name}.z_y"] = t(0 if name != "f2" else int(rng.integers(0, 128)), torch.int64)
        if len(shape) == 4:
            P[f"{name}.stride"], P[f"{name}.padding"] = t([1, 1], torch.int64), t([1, 1], torch.int64)
    return P, rng


@SETTINGS
@given(seed=st.integers(0, 10_000), T=st.sampled_from([1, 2, 3, 5, 8]), delay=st.sampled_from([0, 1]))
def test_calif_run_reaches_count(seed, T, delay):
    P, rng = _random_import(seed)
    g, encode = calif_graph(P, T)
    g = g.with_delays(delay)
    q = encode(rng.integers(0, 17, (8, 1, 8, 8)))
    tr = run(g, q, T, record=False)
    _equal_final(tr, count(g, q))


@SETTINGS
@given(seed=st.integers(0, 10_000), T=st.integers(1, 8))
def test_if_ideal_count_is_the_stbif_count(seed, T):
    """to_if keeps theta, bias and v0 = theta/2: its closed form is the ST-BIF count (the QANN);
    only the per-step IF run differs (residual error, measured in the sweep)."""
    qann, rng = _random_qann(seed, T)
    g = compile_fit(qann, input_scale=1.0 / 16, input_range=(0, 16), R=T, bias_R=T)
    x = rng.integers(0, 17, (16, 1, 8, 8))
    a, b = count(g, x), count(to_if(g), x)
    for name in a["S"]:
        np.testing.assert_array_equal(a["S"][name], b["S"][name], err_msg=name)
