"""torchvision models (random weights, weights=None) convert and compile; the conversion rules
they need: one op per module call site, functional ops, padded max pools, adaptive pools,
strided 1x1 shortcuts, ReLU6 and linear bottlenecks; everything else a one-line error."""

import operator

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hwsnn import backends, ir, sim
from hwsnn._torchvision import import_torchvision
from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.errors import UnsupportedLayerError
from hwsnn.examples import BasicBlock
from hwsnn.mappings.place import place
from hwsnn.mappings.targets import load_target

tv = import_torchvision()
W_BITS = 8


def _build(factory, size, pool="avg", **kw):
    torch.manual_seed(0)
    model = factory(weights=None, **kw).eval()
    qann = convert(model, (3, size, size), levels=3, calib=torch.rand(2, 3, size, size), pool=pool)
    graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=W_BITS)
    return model, qann, graph


def _check(qann, graph):
    """Every Q-ReLU call site is its own neuron, named after its module path; every weight
    array the compiler wrote fits w_bits (bias neurons included)."""
    sites = [op.name for op in qann.qrelus]
    assert len(set(sites)) == len(sites)
    assert set(sites) <= set(graph.neurons)
    for name, node in graph.nodes.items():
        for arr in [getattr(node, "W", None), getattr(node, "w", None)]:
            if arr is not None and np.size(arr):
                assert node.w_bits <= W_BITS, name
                assert ir.bits_for(int(np.min(arr)), int(np.max(arr))) <= W_BITS, name


def _resnet_sites(graph, blocks_per_layer, relus_per_block):
    want = {"relu"}
    for layer, n in enumerate(blocks_per_layer, start=1):
        for b in range(n):
            want |= {f"layer{layer}.{b}.relu"} | {f"layer{layer}.{b}.relu.{k}"
                                                   for k in range(1, relus_per_block)}
    assert want == {n for n in graph.neurons if not n.startswith("output.")}


def test_resnet18_32():
    _, qann, graph = _build(tv.models.resnet18, 32, num_classes=10)
    _check(qann, graph)
    _resnet_sites(graph, [2, 2, 2, 2], 2)
    assert graph.name == "ResNet"
    # the 3x3/2 max pool with padding 1: a zero-padded sum pool (depthwise conv of ones), one
    # node shared by layer1.0.conv1 and the block's identity shortcut
    pool = graph.nodes["maxpool"]
    assert isinstance(pool, ir.Conv2d) and pool.padding == (1, 1) and pool.stride == (2, 2)
    assert (pool.W == 1).all() and pool.groups == 64
    assert sorted(e.dst for e in graph.outputs_of("maxpool")) == ["layer1.0.conv1",
                                                                  "layer1.0.relu.1.shortcut"]
    down = graph.nodes["layer2.0.downsample.0"]  # strided 1x1 shortcut, BN folded
    assert isinstance(down, ir.Conv2d) and down.W.shape[2:] == (1, 1) and down.stride == (2, 2)
    assert [e.dst for e in graph.outputs_of("layer2.0.downsample.0")] == ["layer2.0.relu.1"]
    # the folded view (max pool summed into layer1.0.conv1) fits Loihi's 8-bit weights too
    placed = place(graph, load_target("loihi"))
    assert all(layer.weight_bits <= W_BITS for layer in placed.layers)
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32))
    want = sim.count(graph, x)
    trace = sim.run(graph, x, 60, record=False)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, want["output"])


def test_resnet18_224():
    _, qann, graph = _build(tv.models.resnet18, 224)
    _check(qann, graph)
    _resnet_sites(graph, [2, 2, 2, 2], 2)
    assert graph.nodes["output"].shape == (1000,)


def test_resnet50_32():
    """Bottleneck calls its one `self.relu` three times: relu, relu.1, relu.2."""
    _, qann, graph = _build(tv.models.resnet50, 32, num_classes=10)
    _check(qann, graph)
    _resnet_sites(graph, [3, 4, 6, 3], 3)


def test_vgg16_bn_32():
    """At 32x32 the features end 1x1; AdaptiveAvgPool2d((7, 7)) copies that cell 49 times and
    the first classifier Linear gets its weights summed over the copies (25088 -> 512 inputs)."""
    model, qann, graph = _build(tv.models.vgg16_bn, 32, num_classes=10)
    _check(qann, graph)
    assert graph.nodes["classifier.0"].W.shape == (4096, 512)
    assert {n for n in graph.neurons if not n.startswith("output.")} == (
        {op.name for op in qann.qrelus})
    assert len(qann.qrelus) == 15  # 13 conv + 2 classifier ReLUs; Dropout removed


@pytest.mark.slow
def test_vgg16_bn_224():
    _, qann, graph = _build(tv.models.vgg16_bn, 224)
    _check(qann, graph)
    assert graph.nodes["classifier.0"].W.shape == (4096, 25088)


def test_mobilenet_v2_relu6_depthwise_and_linear_bottleneck():
    """ReLU6 is a Q-ReLU whose step stays <= 6/n; depthwise convs keep their groups; the
    projection 1x1 conv (no activation) is composed with the next 1x1 conv."""
    _, qann, graph = _build(tv.models.mobilenet_v2, 32, num_classes=10, width_mult=0.25)
    _check(qann, graph)
    for op in qann.qrelus:
        relu = qann.layers[op.key]
        assert relu.ceiling == 6.0 and float(relu.scale.detach()) <= 6.0 / qann.levels
    assert graph.nodes["features.1.conv.0.0"].groups == 8
    composed = [op for op in qann.ops if op.name == "features.2.conv.0.0"]
    assert composed and isinstance(graph.nodes["features.2.conv.0.0"], ir.Conv2d)
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32))
    trace = sim.run(graph, x, 80, record=False)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, sim.count(graph, x)["output"])


def test_unsupported_torchvision_layer_is_named():
    torch.manual_seed(0)
    with pytest.raises(UnsupportedLayerError, match=r"^layer 'features\.0\.2' \(SiLU\) has no "
                                                    r"conversion rule; supported: Conv2d, "):
        convert(tv.models.efficientnet_b0(weights=None), (3, 32, 32))


class _Sites(nn.Module):
    """A block calling one ReLU three times, functional ops inside a child and at the top."""

    def __init__(self):
        super().__init__()
        self.block = _Inner()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.block(x))
        x = torch.relu(x.view(x.size(0), -1))
        return self.fc(x)


class _Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.act(self.conv(x))
        y = self.act(torch.add(y, x))
        return self.act(operator.add(y, x) + y)


def test_op_names_follow_module_paths_and_call_index():
    q = convert(_Sites(), (2, 2, 2), levels=2)
    assert [(op.name, op.kind) for op in q.ops] == [
        ("input", "input"), ("block.conv", "conv"), ("block.act", "qrelu"), ("block.add", "add"),
        ("block.act.1", "qrelu"), ("block.add.1", "add"), ("block.add.2", "add"),
        ("block.act.2", "qrelu"), ("relu", "qrelu"), ("view", "flatten"), ("relu.1", "qrelu"),
        ("fc", "linear"), ("output", "output")]
    g = compile_qann(q, input_scale=1 / 4, input_range=(0, 4))
    assert {"block.act", "block.act.1", "block.act.2", "relu", "relu.1"} <= set(g.neurons)


def test_shared_relu_block_compiles_without_a_cycle():
    """Issue 10: a BasicBlock calling self.relu twice used to merge both calls into one node."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), BasicBlock(4, 4),
                          BasicBlock(4, 8, stride=2), nn.Flatten(), nn.Linear(32, 3)).eval()
    q = convert(model, (1, 4, 4), levels=4, calib=torch.rand(8, 1, 4, 4))
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16), name="tiny-resnet")
    assert g.name == "tiny-resnet"
    assert {"2.relu", "2.relu.1", "3.relu", "3.relu.1"} <= set(g.neurons)
    x = np.random.default_rng(1).integers(0, 17, (16, 1, 4, 4))
    trace = sim.run(g, x, 60, record=False)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, sim.count(g, x)["output"])


def test_enlarging_adaptive_pool_folds_into_the_linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d((4, 2)), nn.Flatten(),
                          nn.Linear(24, 5)).eval()
    q = convert(model, (1, 3, 2), levels=6, calib=torch.rand(8, 1, 3, 2))  # conv out 2x1
    assert q.layers["4"].weight.shape == (5, 6)
    x = torch.rand(5, 1, 3, 2)
    with torch.no_grad():
        env = q(x, capture=True)
        ref = model[4](torch.flatten(model[2](env["1"]), 1))  # the float tail on the Q-ReLU levels
    torch.testing.assert_close(env["output"], ref, rtol=1e-6, atol=1e-6)


def test_enlarging_adaptive_pool_before_anything_but_a_linear_is_named():
    model = nn.Sequential(nn.Conv2d(1, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.ReLU())
    with pytest.raises(UnsupportedLayerError, match=r"^layer '3' reads an adaptive pool that "
                                                    r"enlarges its input \(1, 1\) to \(2, 2\); only "
                                                    r"flatten then Linear may follow one"):
        convert(model, (1, 2, 2))


def test_cli_model_factory_imports_torchvision():
    """`hwsnn compile --model torchvision.models:resnet18` in a fresh process (no torchvision
    imported before)."""
    import subprocess
    import sys

    code = ("from hwsnn.cli.cmd_compile import load_factory; "
            "print(type(load_factory('torchvision.models:resnet18')).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ResNet", out.stderr


@pytest.mark.slow
def test_resnet_stem_padded_max_pool_and_blocks_on_lava():
    """ResNet's ops (BN stem, 3x3/2 padded max pool as a depthwise conv of ones, shared-ReLU
    blocks, 1x1 strided shortcut, global pool, readout bias units) run on Lava exactly."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(3, 2, 1), BasicBlock(4, 4), BasicBlock(4, 8, stride=2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()
    q = convert(model, (1, 8, 8), levels=4, calib=torch.rand(8, 1, 8, 8), pool="avg")
    g = compile_qann(q, input_scale=1 / 16, input_range=(0, 16))
    assert isinstance(g.nodes["3"], ir.Conv2d) and "4.relu.1" in g.neurons
    x = np.random.default_rng(1).integers(0, 17, (6, 1, 8, 8))
    r = backends.verify(g, x, 40, backends=["lava"])["lava"]
    assert r.compared_values > 0 and r.mismatches == 0, r.first
