"""`hwsnn demo`, `hwsnn compile`, `hwsnn run`: outputs, and one-line errors with exit code 1."""

import json
import os
import sys

import numpy as np
import pytest
import torch

from hwsnn import ir, sim
from hwsnn.cli.main import main

sys.path.insert(0, os.path.dirname(__file__))  # for --model cli_models:...
import cli_models  # noqa: E402

DIGITS = ["--model", "hwsnn.examples:digits_cnn", "--weights",
          os.path.join(os.path.dirname(__file__), "..", "..", "hwsnn", "data", "digits_cnn.safetensors"),
          "--input-scale", "0.0625", "--input-range", "0,16", "--input-shape", "1,8,8"]
SCALE_01 = ["--input-scale", str(1 / 255), "--input-range", "0,255"]


def cli(argv, capsys):
    """(exit code, stdout, stderr) of `hwsnn argv` run in-process."""
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_demo_report(tmp_path, capsys):
    code, out, err = cli(["demo", "--out", str(tmp_path), "--quiet", "--backends", ""], capsys)
    assert code == 0, out + err
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["samples"] == 360
    assert rep["snn_equals_qann"] == 1.0
    assert rep["snn_accuracy"] == rep["int_qann_accuracy"]
    assert 0.9 < rep["float_accuracy"] and 0.9 < rep["qann_accuracy"]
    assert rep["t_eq"]["max"] <= rep["steps"] and rep["settled"] == 1.0
    assert rep["executors"] == {}
    g = ir.load(tmp_path / "digits.hwir")
    assert "snn_equals_qann       1.0000" in out
    assert len(g.meta["layers"]) == 4
    assert g.name == "digits-cnn" and g.meta["input_range"] == [0, 16]
    assert not [f for f in os.listdir(tmp_path) if ".tmp" in f]


@pytest.mark.slow
def test_demo_with_executors(tmp_path, capsys):
    code, out, err = cli(["demo", "--out", str(tmp_path), "--quiet"], capsys)
    rep = json.loads((tmp_path / "report.json").read_text())
    assert sorted(rep["executors"]) == ["lava", "rtl"], rep["executors"]
    missing = {name: r["skipped"] for name, r in rep["executors"].items() if "skipped" in r}
    for name, r in rep["executors"].items():
        if name not in missing:
            assert r.get("mismatches") == 0 and r.get("compared_values", 0) > 0, (name, r)
    assert code == 0, out + err
    if missing:  # a back end is not installed: a skip, which HWSNN_REQUIRE_BACKENDS=1 fails
        pytest.skip(f"the demo ran without {missing}")


def test_compile_then_run(tmp_path, capsys):
    net = tmp_path / "d.hwir"
    code, out, err = cli(["compile", *DIGITS, "-o", str(net)], capsys)
    assert code == 0, err
    assert "integerization error" in out and f"wrote {net}" in out
    g = ir.load(net)
    from hwsnn.examples import digits_data
    x = digits_data()[2][:7]
    np.savez(tmp_path / "x.npz", x=x)
    code, out, err = cli(["run", str(net), "--input", str(tmp_path / "x.npz"), "--steps", "30",
                          "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    want = sim.count(g, x)["output"]
    assert res["output"] == want.tolist()
    assert res["predictions"] == want.argmax(1).tolist()
    assert all(res["settled"])
    code, out, err = cli(["run", str(net), "--input", str(tmp_path / "x.npz"), "--steps", "30"], capsys)
    assert out.splitlines()[0].startswith(f"sample 0: class {want[0].argmax()}  output ")


def test_compile_pt_weights_calibrates(tmp_path, capsys):
    torch.save(cli_models.tiny_mlp().state_dict(), tmp_path / "w.pt")
    code, out, err = cli(["compile", "--model", "cli_models:tiny_mlp", "--weights", str(tmp_path / "w.pt"),
                          "--input-shape", "1,4,4", "--levels", "4", "--w-bits", "6", *SCALE_01,
                          "-o", str(tmp_path / "m.hwir"), "--json"], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert "no fine-tuned QANN" in rep["notes"][1]
    assert g_meta(tmp_path / "m.hwir") == (1 / 255, [0, 255])
    g = ir.load(tmp_path / "m.hwir")
    assert g.nodes["2"].s_max == 4 and g.nodes["1"].w_bits == 6


def g_meta(path):
    g = ir.load(path)
    return g.meta["input_scale"], g.meta["input_range"]


def test_compile_requires_input_quantization(tmp_path, capsys):
    args = [a for a in DIGITS]
    del args[args.index("--input-scale"):args.index("--input-scale") + 4]
    line = _error(["compile", *args, "-o", str(tmp_path / "x.hwir")], capsys)
    assert line == ("error: --input-scale and --input-range required: --input-scale S and "
                    "--input-range LO,HI say how the float input the model was trained on is "
                    "quantized: float input = S * q for integers q in LO..HI (the digits images: "
                    "--input-scale 0.0625 --input-range 0,16)")
    line = _error(["compile", *args, "--input-range", "0,16", "-o", str(tmp_path / "x.hwir")], capsys)
    assert line.startswith("error: --input-scale required: ")
    assert not (tmp_path / "x.hwir").exists()


def test_compile_records_input_quantization_and_run_rejects_outside(tmp_path, capsys):
    net = tmp_path / "d.hwir"
    assert cli(["compile", *DIGITS, "--name", "digits-cnn", "-o", str(net)], capsys)[0] == 0
    assert g_meta(net) == (0.0625, [0, 16]) and ir.load(net).name == "digits-cnn"
    x = np.zeros((2, 1, 8, 8), dtype=np.int64)
    x[1, 0, 3, 4] = 17
    np.savez(tmp_path / "x.npz", x=x)
    want = ("error: input 'input': values in [0, 17] lie outside the input range [0, 16] "
            "this IR was compiled for (--input-range 0,16); quantize inputs into it")
    for cmd in (["run", str(net), "--steps", "5"], ["verify", str(net), "--backends", "lava"],
                ["energy", str(net), "--target", "loihi"]):
        assert _error([*cmd, "--input", str(tmp_path / "x.npz")], capsys) == want, cmd


def _error(argv, capsys):
    code, out, err = cli(argv, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def _pt(tmp_path, factory):
    path = tmp_path / f"{factory}.pt"
    torch.save(getattr(cli_models, factory)().state_dict(), path)
    return str(path)


def test_error_unsupported_layer(tmp_path, capsys):
    line = _error(["compile", "--model", "cli_models:with_lstm", "--weights", _pt(tmp_path, "with_lstm"),
                   "--input-shape", "1,4,4", *SCALE_01, "-o", str(tmp_path / "x.hwir")], capsys)
    assert line.startswith("error: layer 'features.3' (LSTM) has no conversion rule; supported: Conv2d")


def test_error_not_traceable(tmp_path, capsys):
    line = _error(["compile", "--model", "cli_models:branchy", "--weights", _pt(tmp_path, "branchy"),
                   "--input-shape", "1,4,4", *SCALE_01, "-o", str(tmp_path / "x.hwir")], capsys)
    assert line == ("error: model _Branchy cannot be traced by torch.fx: TraceError: symbolically "
                    "traced variables cannot be used as inputs to control flow")


def test_error_wrong_input_shape(tmp_path, capsys):
    args = DIGITS[:-1] + ["3,8,8"]
    line = _error(["compile", *args, "-o", str(tmp_path / "x.hwir")], capsys)
    assert line.startswith("error: model Sequential does not accept input shape (3, 8, 8): RuntimeError: ")


def test_error_run_wrong_input_shape(tmp_path, capsys):
    net = tmp_path / "d.hwir"
    assert cli(["compile", *DIGITS, "-o", str(net)], capsys)[0] == 0
    np.savez(tmp_path / "x.npz", np.zeros((2, 1, 7, 7), dtype=np.int64))
    line = _error(["run", str(net), "--input", str(tmp_path / "x.npz"), "--steps", "5"], capsys)
    assert line == "error: input 'input': expected shape (batch, 1, 8, 8), not (2, 1, 7, 7)"


def test_error_overflow(tmp_path, capsys):
    line = _error(["compile", *DIGITS, "--v-bits", "6", "-o", str(tmp_path / "x.hwir")], capsys)
    assert line.startswith("error: layer '2': membrane V can reach [")
    assert line.endswith("(static bound), which does not fit v_bits=6 [-32, 31]; need v_bits >= "
                         + line.rsplit(">= ", 1)[1])
    assert not (tmp_path / "x.hwir").exists()


def test_error_malformed_ir(tmp_path, capsys):
    bad = tmp_path / "bad.hwir"
    bad.write_bytes(b"this is not a zip file")
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 1, 8, 8), dtype=np.int64))
    line = _error(["run", str(bad), "--input", str(tmp_path / "x.npz"), "--steps", "5"], capsys)
    assert line.startswith(f"error: {bad}")
