"""Imported NIR networks on the back ends: the bundled snnTorch digits network (Lava Loihi-native,
i.e. Lava's own LIF and Dense processes, and RTL, 20 test images) and an snnTorch-style conv net
whose pooling folds into its convolution equal golden on every value at every step."""

import json
import os
import sys
from importlib import resources

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from require_backends import need  # noqa: E402

from hwsnn import ir  # noqa: E402
from hwsnn.cli.main import app  # noqa: E402

runner = CliRunner()
N = 20


@pytest.fixture(scope="module")
def digits_files(tmp_path_factory):
    pytest.importorskip("h5py")
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("nir")
    path = str(tmp / "snntorch_digits.hwir")
    with resources.as_file(resources.files("hwsnn.data") / "snntorch_digits.nir") as p:
        r = runner.invoke(app, ["import-nir", str(p), "-o", path, "--dt", "1e-4", "--T", "16"])
    assert r.exit_code == 0, r.output
    d = load_digits()
    x = d.images.astype(np.int64).reshape(len(d.images), -1)[1437:1437 + N]  # the first 20 test images
    np.savez(tmp / "test20.npz", x=x)
    return path, str(tmp / "test20.npz")


def _verify(path, inputs, backends, *extra):
    r = runner.invoke(app, ["verify", path, "--backends", backends, "--input", inputs,
                            "--samples", str(N), "--json", *extra])
    assert r.exit_code == 0, (r.output, repr(r.exception))
    return json.loads(r.output)


@pytest.mark.slow
@pytest.mark.lava
def test_imported_snntorch_digits_on_lava_native(digits_files):
    need("lava")
    from hwsnn.mappings.lava import native_reason

    path, inputs = digits_files
    graph = ir.load(path)
    assert native_reason(graph.with_delays(1)) is None    # Lava's own LIF/Dense, no hwsnn model
    res = _verify(path, inputs, "lava")["backends"]["lava"]
    steps = graph.meta["steps"]
    neurons = sum(int(np.prod(graph.nodes[n].shape)) for n in graph.neurons)
    assert res["mismatches"] == 0 and res["steps"] == steps
    assert res["compared_values"] >= steps * N * neurons * 2   # at least v and y of every neuron


@pytest.mark.slow
@pytest.mark.rtl
def test_imported_snntorch_digits_on_rtl(digits_files):
    sim = need("verilator")
    path, inputs = digits_files
    res = _verify(path, inputs, "rtl", "--sim", sim)["backends"]["rtl"]
    graph = ir.load(path)
    neurons = sum(int(np.prod(graph.nodes[n].shape)) for n in graph.neurons)
    assert res["mismatches"] == 0 and res["compared_values"] >= graph.meta["steps"] * N * neurons * 2


def _conv_net_files(tmp_path):
    """snnTorch-style conv net (Conv2d -> AvgPool2d -> LIF -> Flatten -> Linear -> LIF), random
    float weights, imported (the pool folds into the convolution), 4 random inputs."""
    sys.path.insert(0, os.path.dirname(__file__))
    from nirfiles import write_nir

    from hwsnn.nir import import_nir

    rng, c = np.random.default_rng(2), 4
    lif = {"type": "LIF", "tau": np.full((c, 4, 4), 1e-3), "r": np.full((c, 4, 4), 10.0),
           "v_leak": np.zeros((c, 4, 4)), "v_threshold": np.ones((c, 4, 4)),
           "v_reset": np.zeros((c, 4, 4))}
    nodes = {
        "input": {"type": "Input", "shape": np.array([1, 8, 8])},
        "conv": {"type": "Conv2d", "weight": rng.normal(0, 0.5, (c, 1, 3, 3)),
                 "bias": rng.normal(0, 0.05, c), "stride": np.array([1, 1]),
                 "padding": np.array([1, 1]), "dilation": np.array([1, 1]), "groups": np.array(1)},
        "pool": {"type": "AvgPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
                 "padding": np.array([0, 0])},
        "lif": lif,
        "flat": {"type": "Flatten", "start_dim": np.array(1), "end_dim": np.array(-1)},
        "fc": {"type": "Linear", "weight": rng.normal(0, 0.3, (5, c * 16))},
        "lif2": {k: (v.reshape(-1)[:5] if isinstance(v, np.ndarray) else v) for k, v in lif.items()},
        "output": {"type": "Output", "shape": np.array([5])},
    }
    edges = [("input", "conv"), ("conv", "pool"), ("pool", "lif"), ("lif", "flat"),
             ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")]
    graph, _ = import_nir(write_nir(tmp_path / "conv.nir", nodes, edges), dt=1e-4, T=8)
    path = str(tmp_path / "conv.hwir")
    ir.save(graph, path)
    np.savez(tmp_path / "in.npz", x=rng.integers(0, 9, (4, 1, 8, 8)))
    return graph, path, str(tmp_path / "in.npz")


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.rtl
def test_imported_conv_pool_net_on_lava_native_and_rtl(tmp_path):
    need("lava")
    sim = need("verilator")
    from hwsnn.mappings.lava import native_reason

    graph, path, inputs = _conv_net_files(tmp_path)
    assert native_reason(graph.with_delays(1)) is None and graph.nodes["conv"].stride == (2, 2)
    r = runner.invoke(app, ["verify", path, "--backends", "lava,rtl", "--input", inputs, "--json",
                            "--sim", sim])
    assert r.exit_code == 0, (r.output, repr(r.exception))
    res = json.loads(r.output)["backends"]
    assert res["lava"]["mismatches"] == 0 and res["rtl"]["mismatches"] == 0
    assert res["lava"]["compared_values"] > 0 and res["rtl"]["compared_values"] > 0
