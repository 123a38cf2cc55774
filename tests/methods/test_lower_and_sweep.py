"""Lowering passes (to_if, to_ilif), register widths, the method registry and `hwsnn sweep`."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hwsnn import ir
from hwsnn.cli.main import app
from hwsnn.errors import CompileError, ConversionError
from hwsnn.compile import fit_widths, register_bounds, to_if, to_ilif
from hwsnn.convert import QCFS, SlipReLU
from hwsnn.methods import get
from hwsnn.study import evaluate
from hwsnn.sim import run


def test_qcfs_forward_is_the_quantized_clip():
    a = QCFS(4, lam=2.0)
    x = torch.linspace(-1, 3, 101)
    expect = torch.clamp(torch.floor(x * 4 / 2.0 + 0.5), 0, 4) * 2.0 / 4
    torch.testing.assert_close(a(x), expect)
    torch.testing.assert_close(a.level(x) * a.scale, expect)


def test_sliprelu_mixes_threshold_relu_and_shifted_step():
    a = SlipReLU(4, lam=2.0, c=0.25, delta=-0.25)
    x = torch.linspace(-1, 3, 101)
    step = torch.clamp(torch.floor(x * 2 + 0.25), 0, 4) / 2
    torch.testing.assert_close(a(x), 0.25 * torch.clamp(x, 0, 2.0) + 0.75 * step)
    with pytest.raises(ValueError, match=r"delta must be in \[-1/2, 1/2\], not 0.7"):
        SlipReLU(4, delta=0.7)


def _stbif_graph():
    from hwsnn.methods._registry import STBIFMethod
    return STBIFMethod().graph


def test_to_if_keeps_theta_bias_and_sets_v0():
    g = _stbif_graph()
    gi = to_if(g, phi=0.25)
    for name in ("2", "6", "10"):
        a, b = g.nodes[name], gi.nodes[name]
        assert isinstance(b, ir.IF) and b.s_max == a.s_max and b.bias_R == a.bias_R
        np.testing.assert_array_equal(b.theta, a.theta)
        np.testing.assert_array_equal(b.bias, a.bias)
        first = gi.meta["layers"][name].get("bias_neurons", {}).get("first")
        np.testing.assert_array_equal(np.broadcast_to(b.v0, b.shape)[:first],
                                      np.floor(np.asarray(a.theta) * 0.25 + 0.5).astype(np.int64))


def test_to_ilif_rejects_wrong_levels():
    with pytest.raises(CompileError, match=r"node '2': to_ilif needs an STBIF with s_min=0, s_max=2\^T-1=3, not STBIF s_max=8"):
        to_ilif(_stbif_graph(), 2)


def test_widths_bound_every_register_in_a_run():
    """The static bounds hold the V reached in real runs (IF, ILIF)."""
    from hwsnn.examples import digits_data
    _, _, x, _ = digits_data()
    for name, T in (("qcfs", 4), ("ilif", 8)):
        low = get(name).lower(T)
        vb = register_bounds(low.graph, (0, 16) if name == "qcfs" else (0, 3))
        tr = run(low.graph, low.encode(x[:64]), low.steps)
        for n, (lo, hi) in vb.items():
            assert tr.V[n].min() >= lo and tr.V[n].max() <= hi, n
            assert ir.fits([lo, hi], low.graph.nodes[n].v_bits)


def test_unknown_method():
    with pytest.raises(ConversionError, match="method must be one of stbif, spikezip, qcfs, sliprelu, "
                                              "dualphase, ilif, calif, not 'foo'"):
        get("foo")


def test_ilif_needs_enough_steps():
    m = get("ilif")
    assert m.lower(3) is None
    low = m.lower(8)
    assert low.info == {"levels": 3, "bits": 2} and low.steps == 8


def test_sweep_cli_json():
    res = CliRunner().invoke(app, ["sweep", "--methods", "stbif,ilif", "--steps", "2,8", "--n-test", "24", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    rows = {(r["method"], r["T"]): r for r in data["rows"]}
    assert rows[("ilif", 2)]["accuracy"] is None
    r = rows[("stbif", 8)]
    assert 0 <= r["accuracy"] <= 1 and r["steps"] == 8 and r["sops"] > 0 and r["spikes"] > 0
    assert r["steps_mean"] == 8 and r["steps_max"] == 8 and 0 <= r["equals_qann"] <= 1
    assert rows[("ilif", 8)]["steps_max"] == 8 and rows[("ilif", 8)]["equals_qann"] == 1.0  # exact
    assert set(data["references"]) == {"float", "qann"}
    assert set(data["base_models"]) == {"stbif", "ilif"}
    assert data["base_models"]["stbif"]["float"] == data["references"]["float"]


def test_calif_steps_are_each_samples_own_run():
    """steps_mean/max of a Ca-LIF row equal the lengths of one-sample runs (window + that
    sample's settle phase), not the batch's longest settle phase."""
    from hwsnn.examples import digits_data
    _, _, x, y = digits_data()
    m = get("calif")
    row = evaluate(m, 2, x[:5], y[:5])
    low = m.lower(2)
    alone = [run(low.graph, low.encode(x[i:i + 1]), 2, record=False).steps for i in range(5)]
    assert row["steps_max"] == max(alone) and row["steps_mean"] == pytest.approx(np.mean(alone), abs=0)
    batched = run(low.graph, low.encode(x[:5]), 2, record=False).steps
    assert row["steps"] == batched and batched >= max(alone)
    assert len(set(alone)) > 1 and row["equals_qann"] == 1.0


def _error(argv, capsys):
    from hwsnn.cli.main import main
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_sweep_cli_errors(capsys):
    assert _error(["sweep", "--methods", "stbif,bogus"], capsys) == (
        "error: --methods must be among stbif, spikezip, qcfs, sliprelu, dualphase, ilif, calif, not bogus")
    assert _error(["sweep", "--steps", "0"], capsys) == "error: --steps must list integers >= 1, not '0'"
    assert _error(["sweep", "cifar"], capsys) == "error: network must be 'digits' (the bundled model), not 'cifar'"


def test_table_and_plot_place_rows_by_steps_run(tmp_path):
    from hwsnn.study import plot, table
    rows = [{"method": "a", "T": 2, "accuracy": 0.5, "steps_mean": 2.0, "steps_max": 2},
            {"method": "c", "T": 2, "accuracy": 0.9, "steps_mean": 401.4, "steps_max": 588},
            {"method": "c", "T": 4, "accuracy": None}]
    text = table(rows)
    assert "| a | 0.500 |" in text and "| c | 0.900 @ 401/588 | — |" in text
    png = plot(rows, tmp_path / "s.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and len(list(tmp_path.iterdir())) == 1
