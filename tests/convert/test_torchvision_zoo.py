"""torchvision's resnet18 and mobilenet_v2 as a newcomer uses them (3x32x32, weights=None,
num_classes=10, calibration on 8 random inputs 0..255 at scale 1/255) compile at w_bits=8; the
golden per-step run equals the count semantics on 8 random inputs (every spike count, the
logits), and Lava equals golden at every step on 1 input. benchmarks/zoo.py runs all eleven."""

import numpy as np
import pytest
import torch

from hwsnn import backends, sim
from hwsnn._torchvision import import_torchvision
from hwsnn.compile import compile_qann
from hwsnn.convert import convert
from hwsnn.energy import plan_steps

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _graph(name):
    tv = import_torchvision()
    torch.manual_seed(0)
    model = getattr(tv.models, name)(weights=None, num_classes=10).eval()
    calib = torch.randint(0, 256, (8, 3, 32, 32)).float() / 255
    qann = convert(model, (3, 32, 32), levels=8, calib=calib)
    return compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_per_step_equals_count_semantics(name):
    graph = _graph(name)
    x = np.random.default_rng(1).integers(0, 256, (8, 3, 32, 32))
    want = sim.count(graph, x)
    steps = plan_steps(graph, x).steps
    trace = sim.run(graph, x, steps)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, want["output"])
    for node in want["S"]:
        np.testing.assert_array_equal(trace.S[node][-1], want["S"][node], err_msg=node)
    # the comparison covers real activity (random MobileNetV2's logits are ~1e-10 in float too)
    assert sum(int(np.count_nonzero(want["S"][n])) for n in want["S"]) > 10_000


@pytest.mark.lava
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_lava_equals_golden(name):
    pytest.importorskip("hwsnn.mappings.lava")
    graph = _graph(name)
    x = np.random.default_rng(2).integers(0, 256, (1, 3, 32, 32))
    steps = plan_steps(backends.stated_graph("lava", graph), x).steps
    result = backends.verify(graph, x, steps, backends=["lava"])["lava"]
    assert result.ok, result.to_dict()
    assert result.compared_values > 1_000_000


def test_mobilenet_v2_draw_that_overflowed_w_bits():
    """../shared/repro/mobilenet_v2_weights.py's draw (resnet18 and vgg11_bn built first):
    'features.16.conv.0.2' needed 21-bit weights at theta=2; its step is raised instead."""
    tv = import_torchvision()
    torch.manual_seed(0)
    for name in ["resnet18", "vgg11_bn"]:  # consume the generator as the reproducer does
        getattr(tv.models, name)(weights=None, num_classes=10)
        torch.rand(8, 3, 32, 32)
    model = tv.models.mobilenet_v2(weights=None, num_classes=10).eval()
    qann = convert(model, (3, 32, 32), levels=8, calib=torch.rand(8, 3, 32, 32))
    graph = compile_qann(qann, input_scale=1 / 255, input_range=(0, 255), w_bits=8)
    info = graph.meta["layers"]["features.16.conv.0.2"]
    assert info["scale"] > 1000 * info["scale_calibrated"]
    assert info["theta"] == 2 and info["max_abs_w_int"] <= 127
    op = next(op for op in qann.qrelus if op.name == "features.16.conv.0.2")
    assert float(qann.layers[op.key].scale.detach()) == pytest.approx(info["scale"], rel=1e-6)
    assert all(n.w_bits <= 8 for n in graph.nodes.values() if hasattr(n, "w_bits"))
