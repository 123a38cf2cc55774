"""Compiler passes, options, errors, range analysis and the bundled digits model."""

import numpy as np
import pytest
import torch
from torch import nn

from dyadic_nets import build
from hwsnn import ir, sim
from hwsnn.compile import PASSES, choose_theta, compile_qann, integerization_report
from hwsnn.convert import convert
from hwsnn.errors import CompileError, RangeError


def mlp_qann(levels=4):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    return convert(model, (5,), levels=levels, calib=torch.rand(32, 5))


def test_pass_list_is_recorded():
    g = compile_qann(mlp_qann(), input_scale=1 / 16, input_range=(0, 16))
    assert [name for name, _ in PASSES] == g.meta["passes"] == [
        "trace", "fold_scales", "integerize", "schedule", "build_graph", "analyze_ranges",
        "set_delays", "verify"]


def test_stbif_parameters_follow_spikezip():
    g = compile_qann(mlp_qann(levels=6), input_scale=1 / 16, input_range=(0, 16), R=3, bias_R=2)
    node = g.nodes["1"]
    assert isinstance(node, ir.STBIF)
    theta = int(node.theta)
    assert theta % 2 == 0 and int(node.v0) == theta // 2
    assert (node.s_min, node.s_max, node.bias_R) == (0, 6, 2)
    assert g.nodes["input"].R == 3 and g.nodes["input"].encoding == "analog"
    assert isinstance(g.nodes["output"], ir.Readout)
    assert [e.src for e in g.inputs_of("output")][0] == "2"


@pytest.mark.parametrize("s,u_min,mode,theta", [
    (1.0, 0.1, "max", 10), (1.0, 0.1, "pow2", 8), (1.0, 0.3, "max", 2), (1.0, 0.9, "max", 2),
    (1.0, 0.0, "max", 1 << 16), (3.0, 0.2, "max", 14), (3.0, 0.2, "pow2", 8)])
def test_choose_theta(s, u_min, mode, theta):
    assert choose_theta(s, u_min, mode, 1 << 16) == theta


def test_weights_use_the_full_width():
    g = compile_qann(mlp_qann(), input_scale=1 / 16, input_range=(0, 16), w_bits=6)
    assert g.nodes["0"].w_bits == 6
    assert np.abs(g.nodes["0"].W).max() <= 31
    assert np.abs(g.nodes["0"].W).max() >= 16  # "max" thresholds: at least half the range


def test_delays_option():
    g = compile_qann(mlp_qann(), input_scale=1 / 16, input_range=(0, 16), delays=1)
    spiking = [e for e in g.edges if g.nodes[e.src].ROLE in ("source", "neuron")]
    assert spiking and all(e.delay == 1 for e in spiking)
    with pytest.raises(CompileError, match=r"^delays must be 0 or 1, not 2$"):
        compile_qann(mlp_qann(), input_scale=1 / 16, input_range=(0, 16), delays=2)


def test_fixed_v_bits_too_small_raises_with_layer_and_bound():
    q = mlp_qann()
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    lo, hi = g.meta["layers"]["1"]["v_bound"]
    need = ir.bits_for(lo, hi)
    with pytest.raises(RangeError) as info:
        compile_qann(q, input_scale=1 / 16, input_range=(0, 16), v_bits=need - 1)
    a, b = ir.int_range(need - 1)
    assert str(info.value) == (f"layer '1': membrane V can reach [{lo}, {hi}] (static bound), which "
                               f"does not fit v_bits={need - 1} [{a}, {b}]; need v_bits >= {need}")


def test_step_too_small_for_w_bits_is_raised():
    """A step s below 2 u_min (theta = 2 would still need wider weights) is raised to 2 u_min,
    in the IR and in the QANN; the layer info keeps the calibrated step (issue 20: MobileNetV2)."""
    q = mlp_qann()
    q.layers[q.qrelus[0].key].scale.data.fill_(1e-3)  # tiny step: theta = 2 is still too coarse
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16), w_bits=3)
    info = g.meta["layers"]["1"]
    assert info["scale_calibrated"] == pytest.approx(1e-3)
    assert info["scale"] == pytest.approx(2 * info["u_min"]) and info["theta"] == 2
    assert info["max_abs_w_int"] <= 3 and g.nodes["0"].w_bits == 3
    assert float(q.layers[q.qrelus[0].key].scale.detach()) == pytest.approx(info["scale"], rel=1e-6)


def test_two_weighted_layers_without_activation_are_composed():
    """Linear then Linear (MobileNetV2's linear bottleneck) becomes one Dense of W1 @ W0 (named
    after the second layer); the readout then equals the float model up to weight rounding."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 2)).double()
    g = compile_qann(convert(model, (3,)), input_scale=1 / 3, input_range=(0, 3))
    dense = [n for n, node in g.nodes.items() if isinstance(node, ir.Dense)]
    assert [n for n in dense if not n.startswith("output.bias")] == ["1"]
    u = g.meta["layers"]["output"]["unit"]
    w = (model[1].weight @ model[0].weight).detach().numpy() / 3 / u
    np.testing.assert_array_equal(g.nodes["1"].W, np.rint(w))
    x = np.array([[0, 1, 3], [3, 2, 0]])
    logits = sim.count(g, x)["output"] * u
    with torch.no_grad():
        ref = model(torch.as_tensor(x / 3)).numpy()
    assert np.abs(logits - ref).max() <= (np.abs(x).sum(1).max() / 2 + 1) * u  # rounding of W and b


def test_two_3x3_convs_without_activation_cannot_be_composed():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=1), nn.ReLU())
    with pytest.raises(CompileError, match=r"^layer '1': conv directly after '0' with no activation "
                                           r"between, and the two cannot be composed into one layer "
                                           r"\(needs Linear-Linear or a 1x1 stride-1 ungrouped conv "
                                           r"on one side\)$"):
        compile_qann(convert(model, (1, 4, 4)), input_scale=1 / 16, input_range=(0, 16))


def test_range_bound_is_reached_by_an_adversarial_input():
    """The static bound is sound (runs stay inside) and not vacuous: the V upper bound of the
    first layer is attained when every input with a positive weight is at its maximum."""
    q = mlp_qann()
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    node, W = g.nodes["1"], g.nodes["0"].W
    _, hi = g.meta["layers"]["1"]["v_bound"]
    j = int(np.argmax((W.clip(min=0) * 16).sum(1) + np.maximum(node.bias, 0)))
    x = (W[j] > 0).astype(np.int64) * 16
    tr = sim.run(g, x[None], 30)
    peak = int(tr.V["1"][:, 0, j].max())
    # V' before reset reaches the bound; after reset (what is recorded) V is below it
    assert peak <= hi
    assert hi == int(node.v0) + int((W[j].clip(min=0) * 16).sum()) + max(int(np.broadcast_to(node.bias, node.shape)[j]), 0)


def test_readout_bias_neurons():
    """The readout bias rides on always-on neurons appended to the last hidden layer."""
    q = mlp_qann(levels=4)
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    extra = g.meta["layers"]["1"]["bias_neurons"]
    assert extra["first"] == 6 and extra["counts"][-1] == 1 and set(extra["counts"][:-1]) == {4}
    assert g.nodes["1"].shape == (6 + len(extra["counts"]),)
    assert g.inputs_of("output") == [ir.Edge("2", "output")]  # still a chain
    assert np.abs(g.nodes["2"].W).max() <= 127
    x = np.random.default_rng(0).integers(0, 17, (20, 5))
    c = sim.count(g, x)
    np.testing.assert_array_equal(c["S"]["1"][:, 6:], np.broadcast_to(extra["counts"], (20, len(extra["counts"]))))
    # the logits are W S + b_int with b_int = round(b / u) of the float bias
    u = g.meta["layers"]["output"]["unit"]
    b_int = np.rint(q.layers["2"].bias.detach().double().numpy() / u).astype(np.int64)
    W = g.nodes["2"].W[:, :6]
    np.testing.assert_array_equal(c["output"], c["S"]["1"][:, :6] @ W.T + b_int)


def test_readout_bias_unit_fallback():
    """A readout fed through Flatten (conv net) gets a separate always-on unit instead."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))
    q = convert(model, (1, 4, 4), levels=3, calib=torch.rand(16, 1, 4, 4))
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    assert isinstance(g.nodes["output.bias_unit"], ir.STBIF)
    x = np.random.default_rng(0).integers(0, 17, (20, 1, 4, 4))
    c = sim.count(g, x)
    assert (c["S"]["output.bias_unit"] == 1).all()
    u = g.meta["layers"]["output"]["unit"]
    b_int = np.rint(q.layers["3"].bias.detach().double().numpy() / u).astype(np.int64)
    bias_w = g.nodes["output.bias"].W  # b_int split over always-on units, each weight in int8
    assert bias_w.shape[1] == g.nodes["output.bias_unit"].shape[0] == -(-np.abs(b_int).max() // 127)
    assert np.abs(bias_w).max() <= 127 and g.nodes["output.bias"].w_bits == 8
    np.testing.assert_array_equal(bias_w.sum(1), b_int)
    W = g.nodes["3"].W
    np.testing.assert_array_equal(c["output"], c["S"]["1"].reshape(20, -1) @ W.T + b_int)


def test_save_load_roundtrip(tmp_path):
    q, shape, scale, rng, x = build(3, "conv", 2, 5, True)
    g = compile_qann(q, input_scale=scale, input_range=rng, thresholds="pow2")
    ir.save(g, tmp_path / "net.hwir")
    g2 = ir.load(tmp_path / "net.hwir")
    np.testing.assert_array_equal(sim.count(g2, x)["output"], sim.count(g, x)["output"])
    assert g2.meta["layers"].keys() == g.meta["layers"].keys()


def test_report_rows():
    q = mlp_qann()
    x = np.random.default_rng(1).integers(0, 17, (50, 5))
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    rows = integerization_report(q, g, x, sim.count(g, x))
    assert [r["layer"] for r in rows] == ["1", "output"]
    r = rows[0]
    assert r["kind"] == "neuron"
    # the first layer sees the exact input: both views agree
    assert r["own"] == r["propagated"]
    assert 0 <= r["own"]["level_mismatch"] < 0.2
    assert 0 < r["own"]["max_abs_diff"] < 0.1 and r["own"]["mean_abs_diff"] <= r["own"]["max_abs_diff"]
    # 8-bit weights: the rounding error of one layer is a fraction of one weight step per input
    assert rows[1]["own"]["max_abs_diff"] < 0.05


def test_bundled_digits_ir():
    from hwsnn.examples import digits_info, load_digits_ir

    g, x, y, steps = load_digits_ir(n_test=40)
    assert x.shape == (40, 1, 8, 8) and x.dtype == np.int64 and 0 <= x.min() and x.max() <= 16
    assert y.shape == (40,)
    want = sim.count(g, x)["output"]
    for d in (0, 1):
        tr = sim.run(g.with_delays(d), x, steps, record=False)
        assert tr.settled.all()
        np.testing.assert_array_equal(tr.output, want)
    assert digits_info()["levels"] == g.nodes["2"].s_max


def test_overlapping_pool_folded_into_the_next_conv_stays_within_w_bits():
    """A 3x3 / stride 2 pool (ResNet's max pool) folded into the conv after it sums up to 4 taps
    per input pixel; the compiler scales so that even those folded sums fit w_bits, and not by
    more than needed (the largest sum of |taps| one pixel can see uses over half the range)."""
    import torch.nn.functional as F

    from hwsnn.energy import chains

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                          nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    q = convert(model, (1, 8, 8), levels=4, calib=torch.rand(8, 1, 8, 8), pool="avg")
    for w_bits in (4, 6, 8):
        g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16), w_bits=w_bits)
        wmax = (1 << (w_bits - 1)) - 1
        (folded,) = [c.matrix for c in chains(g) if c.dst == "4"]
        assert int(abs(folded).max()) <= wmax
        w = torch.as_tensor(np.abs(g.nodes["3"].W), dtype=torch.float64).reshape(16, 1, 3, 3)
        abs_sums = F.conv_transpose2d(w, torch.ones(1, 1, 3, 3, dtype=torch.float64), stride=2)
        assert wmax / 2 < float(abs_sums.max()) <= wmax, (w_bits, float(abs_sums.max()))
