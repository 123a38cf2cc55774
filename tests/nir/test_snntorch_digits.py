"""The bundled snnTorch digits network: snnTorch's float accuracy and hwsnn's integer (golden)
accuracy on the same 360 test images, printed by benchmarks/snntorch_digits.py, within 1 point;
and the file in hwsnn/data is what snnTorch's export_to_nir makes of the bundled weights."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("snntorch")
ROOT = Path(__file__).resolve().parents[2]


def test_integer_accuracy_within_one_point_of_snntorch_float():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "snntorch_digits.py"), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    print(out)
    assert out["images"] == 360
    assert out["snntorch_float_accuracy"] > 0.9
    assert abs(out["hwsnn_integer_accuracy"] - out["snntorch_float_accuracy"]) <= 0.01


def test_bundled_nir_is_snntorch_export_of_bundled_weights(tmp_path):
    from importlib import resources

    import nir
    import numpy as np
    import torch
    from safetensors.torch import load_file
    from snntorch.export_nir import export_to_nir

    spec = importlib.util.spec_from_file_location("t", ROOT / "scripts" / "train_snntorch_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    data = resources.files("hwsnn.data")
    info = json.loads((data / "snntorch_digits.json").read_text())
    net = mod.make_net(info["hidden"])
    with resources.as_file(data / "snntorch_digits.safetensors") as p:
        net.load_state_dict(load_file(str(p)))
    fresh = export_to_nir(net, torch.zeros(64))
    with resources.as_file(data / "snntorch_digits.nir") as p:
        bundled = nir.read(str(p))
    assert set(fresh.nodes) == set(bundled.nodes)
    for name, node in fresh.nodes.items():
        for key, value in node.to_dict().items():
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.array_equal(value, bundled.nodes[name].to_dict()[key]), (name, key)
