"""Property tests: compiled random networks (dense and conv, residual, depths 1-3, levels 1-16).

1. The integerized IR (count semantics) equals the fake-quant QANN exactly (levels of every
   Q-ReLU and the logits) when weights are exactly representable (dyadic, see dyadic_nets.py).
2. The per-step golden run reaches the count semantics exactly at equilibrium, delays 0 and 1,
   input and bias released over 1-4 steps, and every membrane value it records lies inside the
   compiler's static bound.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dyadic_nets import build
from hwsnn import sim
from hwsnn.compile import compile_qann, integerization_report, qann_levels

NETS = dict(seed=st.integers(0, 2 ** 31 - 1), kind=st.sampled_from(["dense", "conv"]),
            depth=st.integers(1, 3), levels=st.integers(1, 16), residual=st.booleans())


def _compile(qann, scale, rng, **kw):
    return compile_qann(qann, input_scale=scale, input_range=rng, thresholds="pow2", **kw)


@settings(max_examples=40, deadline=None)
@given(**NETS)
def test_integer_ir_equals_fake_quant_qann(seed, kind, depth, levels, residual):
    qann, shape, scale, rng, x = build(seed, kind, depth, levels, residual)
    graph = _compile(qann, scale, rng)
    ref = qann_levels(qann, torch.as_tensor(x * scale))
    got = sim.count(graph, x)
    for op in qann.qrelus:  # [..., :N]: always-on bias neurons may follow the model's neurons
        level = ref[op.name][1]
        np.testing.assert_array_equal(got["S"][op.name][..., :level.shape[-1]], level)
    unit = graph.meta["logit_scale"]
    np.testing.assert_array_equal(got["output"] * unit, ref["output"])
    for row in integerization_report(qann, graph, x, sim.count(graph, x)):
        for view in ("own", "propagated"):
            assert row[view]["max_abs_diff"] == 0 and row[view]["level_mismatch"] == 0, row


@settings(max_examples=30, deadline=None)
@given(**NETS, delays=st.sampled_from([0, 1]), R=st.integers(1, 4), bias_R=st.integers(1, 4))
def test_per_step_run_reaches_count_semantics(seed, kind, depth, levels, residual, delays, R, bias_R):
    qann, shape, scale, rng, x = build(seed, kind, depth, levels, residual)
    graph = _compile(qann, scale, rng, delays=delays, R=R, bias_R=bias_R)
    assert all(e.delay == delays for e in graph.edges
               if graph.nodes[e.src].ROLE in ("source", "neuron"))
    want = sim.count(graph, x)
    trace = sim.run(graph, x, 200)
    assert trace.settled.all(), f"not at equilibrium after 200 steps: t_eq {trace.t_eq}"
    for name in graph.neurons:
        np.testing.assert_array_equal(trace.final[name]["S"], want["S"][name])
    np.testing.assert_array_equal(trace.output, want["output"])
    for name, info in graph.meta["layers"].items():
        lo, hi = info["v_bound"]
        assert lo <= trace.V[name].min() and trace.V[name].max() <= hi
