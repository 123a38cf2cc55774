"""Channel rules on small hand-made modules: torch.cat on channels, chunk / split / ShuffleNet's
channel shuffle, spatial means, a BatchNorm after a concatenation, avg pools with ceil_mode,
depthwise then 1x1 without activation. Each QANN is held to torch (float64, a step of 2^-12 with
2^15 levels: the only difference is Q-ReLU rounding, at most half a step per activation, so a
wrong channel order shows as an O(1) error), and each compiled IR's per-step run to its count
semantics, value for value."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwsnn import sim
from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.errors import UnsupportedLayerError

STEP = 2.0 ** -12


def _shuffle(x, groups):
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    return torch.transpose(x, 1, 2).contiguous().view(b, -1, h, w)


class Cat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 3, 3, padding=1), nn.Conv2d(2, 5, 1)
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()
        self.head = nn.Conv2d(8, 4, 3, stride=2)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        y = torch.cat([self.relu_a(self.a(x)), self.relu_b(self.b(x))], dim=1)
        return self.fc(torch.flatten(F.relu(self.head(y)), 1))


class Shuffle(nn.Module):  # ShuffleNet v2's stride-1 block, twice
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.b1 = nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU(),
                                nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.BatchNorm2d(4),
                                nn.Conv2d(4, 4, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.stem(x))
        for block in (self.b1, self.b2):
            x1, x2 = x.chunk(2, dim=1)
            x = _shuffle(torch.cat((x1, block(x2)), dim=1), 2)
        return self.fc(x.mean([2, 3]))


class DenseBN(nn.Module):  # DenseNet: BatchNorm and ReLU after each concatenation
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3, padding=1)
        self.pool = nn.AvgPool2d(3, 2, ceil_mode=True)
        self.c1, self.c2 = nn.Conv2d(4, 3, 3, padding=1), nn.Conv2d(7, 3, 3, padding=1)
        self.n1, self.n2, self.n3 = nn.BatchNorm2d(4), nn.BatchNorm2d(7), nn.BatchNorm2d(10)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        x = torch.cat([x, self.c1(F.relu(self.n1(x)))], 1)
        x = torch.cat([x, self.c2(F.relu(self.n2(x)))], 1)
        x = F.adaptive_avg_pool2d(F.relu(self.n3(x)), 1)
        return self.fc(torch.flatten(x, 1))


def _randomize_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data = torch.rand(m.num_features, generator=g) + 0.5
            m.bias.data = torch.rand(m.num_features, generator=g) - 0.5
            m.running_mean = torch.rand(m.num_features, generator=g) - 0.5
            m.running_var = torch.rand(m.num_features, generator=g) + 0.5


@pytest.mark.parametrize("factory", [Cat, Shuffle, DenseBN])
def test_qann_matches_torch(factory):
    # 9x9: DenseBN's ceil_mode pool has no window past the input here (see the ceil test)
    torch.manual_seed(0)
    model = factory()
    _randomize_bn(model)
    model = model.double().eval()
    qann = convert(model, (2, 9, 9), levels=1 << 15, pool="avg").double()
    for op in qann.qrelus:
        qann.layers[op.key].scale.data.fill_(STEP)
    x = torch.rand(4, 2, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        want, got = model(x), qann(x)
    assert torch.allclose(got, want, atol=4 * STEP, rtol=0), float((got - want).abs().max())
    assert want.abs().max() > 0.05  # the comparison is not between zeros


@pytest.mark.parametrize("factory", [Cat, Shuffle, DenseBN])
def test_compiled_per_step_equals_count(factory):
    torch.manual_seed(0)
    model = factory()
    _randomize_bn(model)
    qann = convert(model.eval(), (2, 10, 10), levels=4, calib=torch.rand(8, 2, 10, 10))
    graph = compile_qann(qann, input_scale=1 / 15, input_range=(0, 15), w_bits=8)
    x = np.random.default_rng(0).integers(0, 16, (6, 2, 10, 10))
    want = sim.count(graph, x)
    trace = sim.run(graph, x, 80)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, want["output"])
    for name in want["S"]:
        np.testing.assert_array_equal(trace.S[name][-1], want["S"][name], err_msg=name)


def test_concatenated_neuron_splits_into_parts():
    torch.manual_seed(0)
    qann = convert(DenseBN().eval(), (2, 10, 10), levels=4, calib=torch.rand(8, 2, 10, 10))
    graph = compile_qann(qann, input_scale=1 / 15, input_range=(0, 15), w_bits=8)
    assert "relu.1" in graph.neurons  # before the first concatenation: one neuron
    parts = sorted(n for n in graph.neurons if n.startswith("relu.3."))
    assert parts == ["relu.3.ch0_4", "relu.3.ch4_7", "relu.3.ch7_10"]
    assert [graph.nodes[p].shape[0] for p in parts] == [4, 3, 3]
    # the ceil_mode pool (10x10 -> 5x5 with 3x3 / 2): a padded conv of ones, one zero tap row
    pool = graph.nodes["pool"]
    assert pool.W.shape[2:] == (4, 4) and pool.padding == (1, 1) and (pool.W[:, :, 0] == 0).all()


def test_shuffle_is_a_permutation_in_the_qann():
    qann = convert(Shuffle().eval(), (2, 10, 10), levels=4)
    maps = [op for op in qann.ops if op.kind == "channels"]
    assert [m.attrs["index"] for m in maps if len(m.attrs["index"]) == 8][0] == (0, 4, 1, 5, 2, 6, 3, 7)


def test_step_that_overflows_the_weights_is_raised():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(4, 2))
    qann = convert(model.eval(), (1, 5, 5), levels=4)
    key = qann.qrelus[1].key
    qann.layers[key].scale.data.fill_(1e-9)  # far below what 8-bit weights can express
    graph = compile_qann(qann, input_scale=1 / 15, input_range=(0, 15), w_bits=8)
    info = graph.meta["layers"][qann.qrelus[1].name]
    assert info["scale_calibrated"] == pytest.approx(1e-9) and info["scale"] > 1e-6
    assert info["theta"] == 2 and info["max_abs_w_int"] <= 127
    assert float(qann.layers[key].scale.detach()) == pytest.approx(info["scale"])  # QANN follows


@pytest.mark.parametrize("act", [nn.SiLU, nn.GELU, nn.Hardswish])
def test_inexpressible_activations_are_one_line_errors(act):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), act(), nn.Flatten(), nn.Linear(2 * 3 * 3, 2))
    with pytest.raises(UnsupportedLayerError) as err:
        convert(model, (1, 5, 5))
    assert "\n" not in str(err.value) and act.__name__ in str(err.value)


def test_reshape_that_mixes_axes_is_refused():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 1)

        def forward(self, x):
            return F.relu(self.conv(x)).view(x.size(0), 2, 8, 4).flatten(1)

    with pytest.raises(UnsupportedLayerError, match="channel selection or shuffle"):
        convert(Mix(), (1, 4, 4))


def test_ceil_mode_pool_windows():
    """10x10, 3x3 / 2, ceil_mode: 5x5 windows as torch's; the last row and column of windows
    read one zero past the input and are divided by 9 (torch divides them by 6): equal to torch
    inside, to the zero-extended sum / 9 at the border."""
    model = nn.Sequential(nn.AvgPool2d(3, 2, ceil_mode=True), nn.Flatten(), nn.Linear(50, 2))
    qann = convert(model.double(), (2, 10, 10)).double()
    pool = qann.layers[qann.ops[1].key]
    x = torch.rand(3, 2, 10, 10, dtype=torch.float64)
    got = pool(x)
    assert got.shape == model[0](x).shape == (3, 2, 5, 5)
    torch.testing.assert_close(got[:, :, :4, :4], model[0](x)[:, :, :4, :4], rtol=0, atol=1e-15)
    zx = F.pad(x, (0, 1, 0, 1))
    want = torch.stack([torch.stack([zx[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3].sum((2, 3)) / 9
                                     for j in range(5)], -1) for i in range(5)], -2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-15)


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.timeout(600)
@pytest.mark.parametrize("factory", [Shuffle, DenseBN])
def test_lava_equals_golden(factory):
    """Split neurons, per-channel Scale synapses, ceil_mode pools, composed depthwise convs on
    Lava, every value at every step."""
    pytest.importorskip("hwsnn.mappings.lava")
    from hwsnn import backends
    torch.manual_seed(0)
    model = factory()
    _randomize_bn(model)
    qann = convert(model.eval(), (2, 10, 10), levels=4, calib=torch.rand(8, 2, 10, 10))
    graph = compile_qann(qann, input_scale=1 / 15, input_range=(0, 15), w_bits=8)
    x = np.random.default_rng(3).integers(0, 16, (2, 2, 10, 10))
    result = backends.verify(graph, x, 40, backends=["lava"])["lava"]
    assert result.ok, result.to_dict()
