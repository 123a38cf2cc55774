"""The bundled snnTorch digits network, imported from NIR: `hwsnn verify` with Lava (Loihi-native:
Lava's own LIF and Dense processes) and RTL equal golden on every value at every step for 20 test
images (0 mismatches)."""

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
