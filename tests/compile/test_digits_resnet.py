"""The bundled digits ResNet (torchvision-style blocks, one ReLU module called twice per block,
a strided 1x1 downsample, weights from scripts/train_digits_resnet.py): exact SNN on all 360
test images, placed onto Loihi, and on Lava with 0 mismatches at every step."""

import numpy as np
import pytest
import torch

from hwsnn import backends, ir, sim
from hwsnn.compile import compile_qann
from hwsnn.examples import (DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, digits_data,
                            load_digits_resnet)
from hwsnn.mappings.place import place
from hwsnn.mappings.targets import load_target


@pytest.fixture(scope="module")
def resnet():
    model, qann, info = load_digits_resnet()
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=8, name="digits-resnet")
    _, _, x, y = digits_data()
    return model, qann, info, graph, x, y


def test_names_are_module_paths(resnet):
    graph = resnet[3]
    assert graph.name == "digits-resnet"
    assert [n for n in graph.neurons if not n.startswith("output.")] == [
        "relu", "layer1.relu", "layer1.relu.1", "layer2.relu", "layer2.relu.1"]
    assert {"conv1", "layer1.conv1", "layer1.conv2", "layer1.relu.1.shortcut", "layer2.conv1",
            "layer2.conv2", "layer2.downsample.0", "avgpool", "fc"} <= set(graph.nodes)


@pytest.mark.parametrize("delays", [0, 1])
def test_snn_equals_count_semantics_on_all_test_images(resnet, delays):
    model, qann, info, graph, x, y = resnet
    g = graph.with_delays(delays)
    want = sim.count(g, x)
    trace = sim.run(g, x, info["steps"], record=False)
    assert trace.settled.all()
    np.testing.assert_array_equal(trace.output, want["output"])
    for name in g.neurons:
        np.testing.assert_array_equal(trace.final[name]["S"], want["S"][name])
    snn_acc = float(np.mean(trace.output.argmax(1) == y))
    assert snn_acc == info["snn_accuracy"] > 0.95
    with torch.no_grad():
        xf = torch.as_tensor(x * DIGITS_INPUT_SCALE, dtype=torch.float32)
        assert float((model(xf).argmax(1).numpy() == y).mean()) == info["float_accuracy"]
        assert float((qann(xf).argmax(1).numpy() == y).mean()) == info["qann_accuracy"]


def test_every_weight_fits_8_bits_and_places_onto_loihi(resnet):
    graph = resnet[3]
    for name, node in graph.nodes.items():
        for arr in (getattr(node, "W", None), getattr(node, "w", None)):
            if arr is not None:
                assert ir.bits_for(int(np.min(arr)), int(np.max(arr))) <= 8, name
    p = place(graph, load_target("loihi"))
    assert [layer.name for layer in p.layers][-1] == "output"
    assert all(layer.weight_bits <= 8 for layer in p.layers)


def test_map_cli_loihi(resnet, tmp_path, capsys):
    from hwsnn.cli.main import main

    ir.save(resnet[3], tmp_path / "r.hwir")
    try:
        main(["map", str(tmp_path / "r.hwir"), "--target", "loihi"])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "layer1.relu.1" in out.out and "total: " in out.out


@pytest.mark.slow
def test_lava_matches_golden_at_every_step(resnet):
    _, _, info, graph, x, _ = resnet
    r = backends.verify(graph, x[:20], info["steps"], backends=["lava"])["lava"]
    assert r.compared_values > 0 and r.mismatches == 0, r.first
