"""`hwsnn energy` and `hwsnn map` end to end (CliRunner on the Typer app; errors through main)."""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsnn import energy, ir, sim
from hwsnn.cli.cmd_energy import default_input
from hwsnn.cli.main import app, main
from hwsnn.errors import BackendUnavailableError, SimulationError
from hwsnn.mappings.targets import load_target

from randnets import random_input, random_stbif_net

runner = CliRunner()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    g = random_stbif_net(7, kind="conv", depth=2, residual=True)
    g = g.replace_node("out", ir.Readout((3,), v_bits=16))  # Loihi holds 24-bit state
    g.meta["input_range"] = [-5, 9]
    ir.save(g, d / "net.hwir")
    x = np.clip(random_input(g, 3, 7), -5, 9)  # inside the recorded range (energy refuses others)
    np.savez(d / "x.npz", x=x)
    return d, g, x


def _settled(g, x, steps):
    return bool(sim.run(g, x, steps, record=False).settled.all())


def test_energy_json_matches_library(net):
    """Without --steps the run takes the fewest steps at which every sample has settled."""
    d, g, x = net
    r = runner.invoke(app, ["energy", str(d / "net.hwir"), "--target", "horowitz45",
                            "--input", str(d / "x.npz"), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    steps = out["steps"]
    assert _settled(g, x, steps) and not _settled(g, x, steps - 1)
    assert out["step_plan"]["rule"] == "settled" and out["step_plan"]["cap"] == 4096
    counts = energy.count_events(sim.run(g, x, steps, record=True), x)
    assert out["counts"]["totals"]["sops"] == counts.total("sops").tolist()
    assert out["steps_run"] == steps and out["input"] == str(d / "x.npz")
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
    assert "random integers in the IR's meta['input_range'] (in [-5, 9]), seed 0, batch 8" in r.stdout
    assert "steps: 6 (given); golden run" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(png.parent.iterdir()) == [png]  # no temporary file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~mask  # not the temp file's 0600


def test_default_input_within_recorded_range(net):
    _, g, _ = net
    x = default_input(g, 200)["in"]
    assert x.min() == -5 and x.max() == 9  # the recorded range, both ends drawn, nothing outside
    assert (default_input(g, 200)["in"] == x).all()  # fixed seed


def test_default_input_never_outside(net):
    _, g, _ = net
    wide = g.replace_node("in", g.nodes["in"])
    wide.meta["input_range"] = [-1000, 3]   # wider than the 6-bit source accepts: clipped to it
    x = default_input(wide, 300)["in"]
    assert x.min() == ir.int_range(6)[0] and x.max() == 3
    bare = g.replace_node("in", g.nodes["in"])
    bare.meta.pop("input_range")
    with pytest.raises(SimulationError, match=r"graph 'random-conv-7' records no "
                                              r"meta\['input_range'\] for source 'in': pass --input"):
        default_input(bare, 2)


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
    if isinstance(r.exception, BackendUnavailableError):  # HWSNN_REQUIRE_BACKENDS=1 fails it
        pytest.skip(str(r.exception))
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    from hwsnn.cli.cmd_energy import execute
    lava_graph = g.with_delays(1)            # settle detection ran on the graph Lava runs
    assert _settled(lava_graph, x, out["steps"]) and not _settled(lava_graph, x, out["steps"] - 1)
    golden = energy.count_events(execute(lava_graph, x, out["steps"]), x).to_dict()
    assert out["counts"]["layers"] == golden["layers"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """What `hwsnn demo --backends ''` writes (digits.hwir, x_test.npz, report.json)."""
    from hwsnn.cli.cmd_demo import run_demo
    d = tmp_path_factory.mktemp("demo")
    run_demo(str(d), say=lambda s: None, backends=())
    return d


def test_energy_on_demo_output_needs_no_flag(demo_dir):
    """`hwsnn energy DIR/digits.hwir --target loihi --json`, as the README prints it."""
    r = runner.invoke(app, ["energy", str(demo_dir / "digits.hwir"), "--target", "loihi", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    g = ir.load(demo_dir / "digits.hwir")
    x = default_input(g, 8)
    assert x["input"].min() >= 0 and x["input"].max() <= 16  # digits pixels, as compiled
    assert out["input"] == ("random integers in the IR's meta['input_range'] (input [0, 16]), "
                            "seed 0, batch 8")
    assert out["step_plan"]["rule"] == "settled" and out["steps_run"] == out["steps"]
    assert _settled(g, x, out["steps"]) and not _settled(g, x, out["steps"] - 1)
    counts = energy.count_events(sim.run(g, x, out["steps"], record=True), x)
    assert out["counts"]["totals"]["sops"] == counts.total("sops").tolist()


def test_energy_and_map_on_demo_test_inputs(demo_dir):
    """The README's `energy --input DIR/x_test.npz` and `map` examples, on the demo's files."""
    x = np.load(demo_dir / "x_test.npz")
    assert x["x"].shape == (360, 1, 8, 8) and x["y"].shape == (360,)
    r = runner.invoke(app, ["energy", str(demo_dir / "digits.hwir"), "--target", "loihi",
                            "--input", str(demo_dir / "x_test.npz")])
    assert r.exit_code == 0, r.output
    assert f"input: {demo_dir / 'x_test.npz'}; 360 samples" in r.stdout
    assert "(until every sample settled: t_eq max 9" in r.stdout
    r = runner.invoke(app, ["map", str(demo_dir / "digits.hwir"), "--target", "loihi"])
    assert r.exit_code == 0 and "total: 5 cores, 1 chip(s) of 128 cores" in r.stdout
