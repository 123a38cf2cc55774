"""`hwsnn energy` and `hwsnn map` end to end (CliRunner on the Typer app; errors through main)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsnn import energy, ir, sim
from hwsnn.cli.cmd_energy import default_input
from hwsnn.cli.main import app, main
from hwsnn.mappings.targets import load_target

from randnets import random_input, random_stbif_net

runner = CliRunner()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    g = random_stbif_net(7, kind="conv", depth=2, residual=True)
    g = g.replace_node("out", ir.Readout((3,), v_bits=16))  # Loihi holds 24-bit state
    g.meta["steps"] = 10
    ir.save(g, d / "net.hwir")
    x = random_input(g, 3, 7)
    np.savez(d / "x.npz", x=x)
    return d, g, x


def test_energy_json_matches_library(net):
    d, g, x = net
    r = runner.invoke(app, ["energy", str(d / "net.hwir"), "--target", "horowitz45",
                            "--input", str(d / "x.npz"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    counts = energy.count_events(sim.run(g, x, 10, record=True), x)
    assert out["counts"]["totals"]["sops"] == counts.total("sops").tolist()
    assert out["steps"] == 10 and out["input"] == str(d / "x.npz")
    rep = energy.per_sop(counts, load_target("horowitz45"))
    assert out["models"]["per_sop"]["snn_J"] == pytest.approx(rep.snn, rel=1e-12)
    assert set(out["models"]) == {"per_sop", "memory"}


def test_energy_table_and_plot(net, tmp_path):
    d, _, _ = net
    png = tmp_path / "sub" / "e.png"
    r = runner.invoke(app, ["energy", str(d / "net.hwir"), "--target", "loihi", "--steps", "6",
                            "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert "SNN per_sop" in r.stdout and "loihi.synaptic_spike_op = 23.6 pJ" in r.stdout
    assert "random integers, seed 0, batch 8" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(png.parent.iterdir()) == [png]  # no temporary file left behind


def test_default_input_within_source_range(net):
    _, g, _ = net
    x = default_input(g, 50)
    lo, hi = ir.int_range(g.nodes["in"].x_bits)
    assert x["in"].min() >= lo and x["in"].max() <= hi and x["in"].min() < 0
    assert (default_input(g, 50)["in"] == x["in"]).all()  # fixed seed


def test_map_json_and_table(net):
    d, g, _ = net
    r = runner.invoke(app, ["map", str(d / "net.hwir"), "--target", "loihi", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert [l["name"] for l in out["layers"]] == ["l0", "l1", "out"]
    assert out["cores"] == sum(len(l["cores"]) for l in out["layers"]) and out["chips"] == 1
    r = runner.invoke(app, ["map", str(d / "net.hwir"), "--target", "loihi"])
    assert r.exit_code == 0 and "total: 3 cores, 1 chip(s) of 128 cores" in r.stdout


def test_errors_are_one_line(net, tmp_path, capsys):
    d, _, _ = net
    bad = tmp_path / "foo.toml"
    bad.write_text('[target]\ntitle = "t"\nprocess = "p"\nsource = "s"\n[energy.sop]\nvalue = "abc"\n'
                   'unit = "pJ"\nkind = "all-in"\nbasis = "measured"\nsource = "s"\nverified = true\n')
    with pytest.raises(SystemExit) as e:
        main(["energy", str(d / "net.hwir"), "--target", str(bad)])
    assert e.value.code == 1
    assert capsys.readouterr().err == f"error: {bad}: key 'energy.sop.value' must be a number, not 'abc'\n"
    with pytest.raises(SystemExit) as e:
        main(["map", str(d / "net.hwir"), "--target", "odin"])
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: layer 'l1': needs 1 cores for 50 neurons, bringing the network "
                          "to 2 cores, over the target's 1 (1 chip(s) x 1 cores) by 1; fix: ")
    assert err.count("\n") == 1


@pytest.mark.slow
@pytest.mark.lava
def test_energy_from_lava_run_equals_golden(net):
    """`--executor lava` counts from the Lava trace; golden on the graph Lava ran gives the same."""
    d, g, x = net
    r = runner.invoke(app, ["energy", str(d / "net.hwir"), "--target", "loihi", "--executor", "lava",
                            "--input", str(d / "x.npz"), "--json"])
    if r.exit_code != 0 and "not available" in str(r.exception):
        pytest.skip(str(r.exception))
    assert r.exit_code == 0, r.output
    lava = json.loads(r.stdout)["counts"]
    from hwsnn.cli.cmd_energy import execute
    golden = energy.count_events(execute(g.with_delays(1), x, 10), x).to_dict()
    assert lava["layers"] == golden["layers"]
