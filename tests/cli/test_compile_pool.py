"""`hwsnn compile --pool max|avg`: exact max pools (IR MaxPool2d, the default) or the papers'
max -> avg swap; anything else is one error line."""

from hwsnn import ir
from hwsnn.cli.main import main

MODEL = "from hwsnn.examples import digits_cnn\n\n\ndef f():\n    return digits_cnn()\n"


def _compile(tmp_path, monkeypatch, capsys, *extra):
    """(exit code, stderr, node types of the IR written) of `hwsnn compile` on the digits CNN."""
    (tmp_path / "mynet.py").write_text(MODEL)
    monkeypatch.chdir(tmp_path)
    try:
        main(["compile", "--model", "mynet.py:f", "--input-shape", "1,8,8", "--input-scale", "0.0625",
              "--input-range", "0,16", "-o", "n.hwir", "--json", *extra])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    err = capsys.readouterr().err
    types = [n.type for n in ir.load(tmp_path / "n.hwir").nodes.values()] if code == 0 else None
    return code, err, types


def test_default_keeps_exact_max_pools(tmp_path, monkeypatch, capsys):
    code, err, types = _compile(tmp_path, monkeypatch, capsys)
    assert code == 0, err
    assert types.count("MaxPool2d") == 2 and "SumPool2d" not in types


def test_avg_swaps_max_for_average_pools(tmp_path, monkeypatch, capsys):
    code, err, types = _compile(tmp_path, monkeypatch, capsys, "--pool", "avg")
    assert code == 0, err
    assert types.count("SumPool2d") == 2 and "MaxPool2d" not in types


def test_other_pool_is_one_error_line(tmp_path, monkeypatch, capsys):
    code, err, _ = _compile(tmp_path, monkeypatch, capsys, "--pool", "min")
    assert code == 1
    assert err.strip() == "error: pool must be 'max' or 'avg', not 'min'"
    assert not (tmp_path / "n.hwir").exists()
