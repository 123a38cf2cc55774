"""Conversion: tracing, BN fusion, pool and ReLU rules, errors, fine-tuning, weights files."""

import pytest
import torch
from torch import nn

from hwsnn.convert import (convert, evaluate, finetune, fuse_bn, load_weights, save_weights,
                           to_snn)
from hwsnn.errors import ShapeError, TraceError, UnsupportedLayerError


def small_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1),
                         nn.Linear(8, 3))


def _randomize_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))
    return model.eval()


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_ops_and_rules(pool):
    q = convert(small_cnn(), (1, 4, 4), levels=5, **({} if pool == "max" else {"pool": pool}))
    kinds = [(op.name, op.kind) for op in q.ops]
    assert kinds == [("input", "input"), ("0", "conv"), ("2", "qrelu"), ("3", f"{pool}pool"),
                     ("4", "flatten"), ("5", "linear"), ("7", "qrelu"), ("9", "linear"),
                     ("output", "output")]
    assert q.ops[3].source == "MaxPool2d"
    assert all(q.layers[op.key].levels == 5 for op in q.qrelus)


def test_qann_with_many_levels_tracks_the_maxpool_float_model():
    """pool="max" keeps the max pool: a 4096-level QANN is the float max-pool model up to the
    quantization step (no max -> avg swap)."""
    torch.manual_seed(0)
    model = _randomize_bn(small_cnn())
    x = torch.rand(64, 1, 4, 4)
    q = convert(model, (1, 4, 4), levels=4096, calib=x)
    for op in q.qrelus:
        q.layers[op.key].scale.data *= 1.01
    with torch.no_grad():
        err = (q(x) - model(x)).abs().max().item()
        spread = model(x).abs().max().item()
    assert err < 0.01 * spread


def test_pool_must_be_max_or_avg():
    from hwsnn.errors import ConversionError
    with pytest.raises(ConversionError, match="pool must be 'max' or 'avg', not 'min'"):
        convert(small_cnn(), (1, 4, 4), pool="min")


def test_bn_fusion_matches_conv_then_bn():
    model = _randomize_bn(small_cnn()).double()
    conv, bn = model[0], model[1]
    fused = fuse_bn(conv, bn).double()
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    # fuse_bn stores float32 parameters: compare at float32 resolution
    torch.testing.assert_close(fused(x), bn(conv(x)), rtol=1e-5, atol=1e-5)


def test_qann_with_many_levels_tracks_the_avgpool_float_model():
    """With MaxPool -> AvgPool done by hand in the float model, a 4096-level QANN is the float
    model up to the quantization step."""
    torch.manual_seed(0)
    model = _randomize_bn(small_cnn())
    model[3] = nn.AvgPool2d(2)
    x = torch.rand(64, 1, 4, 4)
    q = convert(model, (1, 4, 4), levels=4096, calib=x)
    for op in q.qrelus:  # cover the whole range: no clipping
        q.layers[op.key].scale.data *= 1.01
    with torch.no_grad():
        err = (q(x) - model(x)).abs().max().item()
        ref = model(x).abs().max().item()
    assert err < 2e-3 * ref


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        y = torch.relu(self.a(x))
        return self.head(torch.relu(self.b(y) + y))


def test_residual_model_is_traced():
    q = convert(Residual(), (4,), levels=3)
    assert [op.kind for op in q.ops] == ["input", "linear", "qrelu", "linear", "add", "qrelu",
                                         "linear", "output"]
    add = q.ops[4]
    assert add.inputs == ("b", "relu")


class WithLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.LSTM(4, 4))

    def forward(self, x):
        return self.features(x)


def test_unsupported_layer_names_module_path():
    with pytest.raises(UnsupportedLayerError) as info:
        convert(WithLSTM(), (4,))
    assert str(info.value) == (
        "layer 'features.3' (LSTM) has no conversion rule; supported: Conv2d, Linear, BatchNorm1d, "
        "BatchNorm2d, ReLU, ReLU6, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, "
        "Flatten, Dropout, Identity, x + y, torch.add, F.relu, torch.relu, torch.flatten, "
        "view/reshape to flat, torch.cat on channels, channel chunk/split/shuffle, mean over H, W")


def test_unsupported_function():
    class Mul(nn.Module):
        def forward(self, x):
            return x * 2
    with pytest.raises(UnsupportedLayerError, match=r"^layer 'mul' \(function mul\) has no conversion rule"):
        convert(Mul(), (4,))


def test_untraceable_model():
    class Branchy(nn.Module):
        def forward(self, x):
            return x if x.sum() > 0 else -x
    with pytest.raises(TraceError, match=r"^model Branchy cannot be traced by torch.fx: TraceError: "
                                         r"symbolically traced variables cannot be used as inputs "
                                         r"to control flow$"):
        convert(Branchy(), (4,))


def test_wrong_input_shape():
    with pytest.raises(ShapeError, match=r"^model Sequential does not accept input shape \(1, 8, 8\): "
                                         r"RuntimeError: "):
        convert(small_cnn(), (1, 8, 8))


def test_bn_after_relu_folds_into_the_next_layer():
    """A BatchNorm with no layer before it to fuse into stays a per-channel affine op; the
    compiler folds it into the next Linear's columns (its shift into that layer's bias)."""
    from hwsnn.compile import compile_qann
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)).double()
    model[2].running_mean.uniform_(-1, 1)
    model[2].running_var.uniform_(0.5, 2)
    model[2].weight.data.uniform_(0.5, 2)
    model.eval()
    qann = convert(model, (4,), levels=1 << 15).double()
    assert [op.kind for op in qann.ops] == ["input", "linear", "qrelu", "affine", "linear", "output"]
    qann.layers[qann.qrelus[0].key].scale.data.fill_(2.0 ** -12)
    x = torch.rand(8, 4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(qann(x), model(x), rtol=0, atol=2.0 ** -9)
    graph = compile_qann(qann, input_scale=1 / 16, input_range=(0, 16))
    assert [type(graph.nodes[n]).__name__ for n in ("0", "1", "3")] == ["Dense", "STBIF", "Dense"]
    assert not any("2" == n or n.startswith("2.") for n in graph.nodes)  # no node for the BN


def test_finetune_lowers_loss_and_trains_scales():
    torch.manual_seed(0)
    x = torch.rand(128, 4)
    y = (x[:, 0] > x[:, 1]).long()
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    q = convert(model, (4,), levels=4, calib=x)
    s0 = [q.layers[op.key].scale.item() for op in q.qrelus]
    data = list(zip(x.split(32), y.split(32)))
    hist = finetune(q, data, epochs=15, lr=1e-2, progress=False)
    assert hist[-1] < hist[0]
    assert [q.layers[op.key].scale.item() for op in q.qrelus] != s0
    assert evaluate(q, data) > 0.8


def test_to_snn_reaches_qann_output():
    """Float per-step ST-BIF SNN; dyadic weights so float sums are exact."""
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        for m in model:
            if isinstance(m, nn.Linear):
                m.weight.copy_(torch.randint(-4, 5, m.weight.shape) / 4)
                m.bias.copy_(torch.randint(-4, 5, m.bias.shape) / 4)
    q = convert(model, (3,), levels=6).double()
    q.layers[q.qrelus[0].key].scale.data.fill_(0.5)
    x = torch.randint(0, 5, (10, 3)).double() / 4
    snn = to_snn(q)
    assert snn.neurons[q.qrelus[0].key].v0 == 0.25
    torch.testing.assert_close(snn.run(x, 40), q(x).detach(), rtol=0, atol=0)


def test_to_snn_with_max_pool_reaches_qann_output():
    """The per-step SNN max-pools its inputs' running counts (padded, overlapping, ceil-mode
    windows): at equilibrium it gives the max-pool QANN's output exactly (dyadic weights)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                          nn.Flatten(), nn.Linear(27, 2)).double()
    with torch.no_grad():
        for m in model:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randint(-4, 5, m.weight.shape) / 4)
                m.bias.copy_(torch.randint(-4, 5, m.bias.shape) / 4)
    q = convert(model, (1, 5, 5), levels=6).double()
    assert [op.kind for op in q.ops].count("maxpool") == 1
    q.layers[q.qrelus[0].key].scale.data.fill_(0.5)
    x = torch.randint(0, 5, (10, 1, 5, 5)).double() / 4
    torch.testing.assert_close(to_snn(q).run(x, 60), q(x).detach(), rtol=0, atol=0)


def test_weights_roundtrip(tmp_path):
    model = _randomize_bn(small_cnn())
    q = convert(model, (1, 4, 4), levels=7, calib=torch.rand(8, 1, 4, 4))
    path = tmp_path / "w.safetensors"
    save_weights(path, model, q, {"note": "x"})
    m2, q2, meta = load_weights(_randomize_bn(small_cnn()), str(path), (1, 4, 4))
    assert meta["levels"] == "7" and meta["note"] == "x"
    x = torch.rand(5, 1, 4, 4)
    with torch.no_grad():
        assert torch.equal(q2(x), q(x)) and torch.equal(m2(x), model(x))
    torch.save(model.state_dict(), tmp_path / "w.pt")
    _, q3, _ = load_weights(small_cnn(), str(tmp_path / "w.pt"), (1, 4, 4))
    assert q3 is None
