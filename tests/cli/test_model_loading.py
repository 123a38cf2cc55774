"""A newcomer's model: `--model file.py:factory` and `--model module:factory` from the current
folder, `--model-args` (JSON or k=v), a model file that imports torchvision, one-line errors
naming the user's file and line; `hwsnn run` without --steps."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hwsnn.cli._model import load_model, parse_model_args
from hwsnn.errors import ConversionError

HWSNN = os.path.join(os.path.dirname(sys.executable), "hwsnn")  # the installed command
MYNET = textwrap.dedent("""\
    import torchvision
    from torch import nn


    def f(num_classes=1000):
        return torchvision.models.resnet18(weights=None, num_classes=num_classes)


    def tiny(num_classes=3, width=4):
        return nn.Sequential(nn.Conv2d(1, width, 3), nn.ReLU(), nn.Flatten(),
                             nn.Linear(width * 4, num_classes))


    def broken():
        x = 1
        return undefined_name + x
    """)
LINE_UNDEFINED = MYNET.splitlines().index("    return undefined_name + x") + 1
LINE_TINY = MYNET.splitlines().index("def tiny(num_classes=3, width=4):") + 1
QUANT = ["--input-scale", str(1 / 255), "--input-range", "0,255"]


@pytest.mark.parametrize("text, want", [
    ("num_classes=10", {"num_classes": 10}),
    ('{"num_classes": 10, "aux_logits": false}', {"num_classes": 10, "aux_logits": False}),
    ("num_classes=10, aux_logits=False,name=abc,p=0.5", {"num_classes": 10, "aux_logits": False,
                                                          "name": "abc", "p": 0.5}),
    ("", {}), (None, {}),
])
def test_model_args(text, want):
    assert parse_model_args(text) == want


@pytest.mark.parametrize("text", ["num_classes", "[1, 2]", "{bad json", "1x=3"])
def test_bad_model_args(text):
    with pytest.raises(ConversionError, match="--model-args"):
        parse_model_args(text)


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    (tmp_path / "mynet.py").write_text(MYNET)
    (tmp_path / "bad.py").write_text("import torch\ndef g(:\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield tmp_path
    for name in ("mynet", "bad"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize("spec", ["mynet.py:tiny", "mynet:tiny"])
def test_file_and_module_from_the_current_folder(user_folder, spec):
    model = load_model(spec, "num_classes=5,width=2")
    assert model[3].out_features == 5 and model[0].out_channels == 2


@pytest.mark.parametrize("spec, args, where, what", [
    ("mynet:broken", None, f"mynet.py:{LINE_UNDEFINED}", "NameError: name 'undefined_name' is not defined"),
    ("mynet.py:tiny", "bad=1", f"mynet.py:{LINE_TINY}", "TypeError"),  # the factory's def line
    ("bad.py:g", None, "bad.py:2", "SyntaxError"),
    ("mynet:missing", None, "mynet.py", "defines no callable 'missing'"),
    ("nosuch:f", None, "no module 'nosuch'", "current folder"),
])
def test_errors_in_the_users_file_are_one_line(user_folder, spec, args, where, what):
    with pytest.raises(ConversionError) as err:
        load_model(spec, args)
    msg = str(err.value)
    assert "\n" not in msg and where in msg and what in msg, msg


@pytest.mark.slow
def test_installed_hwsnn_compiles_a_torchvision_model_file(tmp_path):
    """The installed command, from a folder holding mynet.py, which imports torchvision (a bare
    `import torchvision` fails beside the CPU torch without hwsnn's fix)."""
    (tmp_path / "mynet.py").write_text(MYNET)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HWSNN_DEBUG")}
    run = subprocess.run([HWSNN, "compile", "--model", "mynet.py:f", "--model-args", "num_classes=10",
                          "--input-shape", "3,32,32", *QUANT, "-o", "r18.hwir", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["layers"][-1]["layer"] == "output"
    from hwsnn import ir
    graph = ir.load(tmp_path / "r18.hwir")
    assert graph.nodes["fc"].W.shape == (10, 512)  # num_classes reached the factory
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).integers(0, 256, (2, 3, 32, 32)))
    run = subprocess.run([HWSNN, "run", "r18.hwir", "--input", "x.npz", "--json"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    plan = result["step_plan"]  # no --steps: until every sample settled, capped
    assert plan["rule"] == "settled" and plan["cap"] == 4096 and result["steps"] == plan["steps"]
    assert all(result["settled"])
    run = subprocess.run([HWSNN, "compile", "--model", "mynet:broken", "--input-shape", "3,32,32",
                          *QUANT, "-o", "x.hwir"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and f"{tmp_path / 'mynet.py'}:{LINE_UNDEFINED}: NameError" in run.stderr


def test_run_without_steps_prints_the_plan(user_folder, capsys):
    import torch

    from hwsnn import ir
    from hwsnn.cli.cmd_compile import compile_model
    from hwsnn.cli.main import main

    torch.manual_seed(0)
    graph, *_ = compile_model("mynet:tiny", None, (1, 4, 4), input_scale=1 / 15, input_range=(0, 15))
    ir.save(graph, "t.hwir")
    np.savez("x.npz", x=np.random.default_rng(0).integers(0, 16, (3, 1, 4, 4)))
    try:
        main(["run", "t.hwir", "--input", "x.npz"])
    except SystemExit as exc:
        assert not exc.code
    out = capsys.readouterr().out
    assert out.startswith("steps: ") and "until every sample settled" in out and "capped at 4096" in out
    assert out.count("\nsample ") == 3 and "not settled" not in out
