"""`hwsnn verify`: golden vs. back ends from the command line, text and JSON reports."""

import json
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from hwsnn import backends, ir, sim
from hwsnn.cli.cmd_verify import DEFAULT_SEED, default_inputs, default_steps
from hwsnn.cli.main import app

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "mappings", "lava"))
from lava_nets import make  # noqa: E402

runner = CliRunner()


@pytest.fixture
def net_file(tmp_path):
    graph, _, _ = make("STBIF-dense", seed=1)
    path = str(tmp_path / "net.hwir")
    ir.save(graph, path)
    return path, graph


def test_default_inputs_fit_every_encoding():
    for name in ("STBIF-dense", "ILIF-dense", "CaLIF-dense"):
        graph, _, _ = make(name)
        x = default_inputs(graph, 50)["in"]
        src = graph.nodes["in"]
        lo, hi = {"analog": ir.int_range(src.x_bits), "rate": (0, src.T),
                  "bits": (0, 2 ** src.T - 1)}[src.encoding]
        assert x.shape == (50, *src.shape) and x.min() == lo and x.max() == hi
        assert np.array_equal(x, default_inputs(graph, 50, seed=DEFAULT_SEED)["in"])


def test_default_steps():
    graph, _, _ = make("STBIF-dense")
    assert default_steps(graph) == 3 + 2 * 2 + 2  # bias_R 3, two neuron layers
    assert default_steps(make("CaLIF-dense")[0]) == 6  # the window
    graph.meta["steps"] = 17
    assert default_steps(graph) == 17


def test_golden_against_itself_in_json(net_file):
    path, _ = net_file
    r = runner.invoke(app, ["verify", path, "--backends", "golden", "--samples", "2", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["samples"] == 2 and out["steps"] == 9
    assert out["backends"]["golden"]["mismatches"] == 0
    assert out["backends"]["golden"]["compared_values"] == 9 * 2 * (9 + 6) * 3 + 9 * 2 * 4


def test_input_file_must_name_the_source(net_file, tmp_path):
    path, _ = net_file
    np.savez(tmp_path / "in.npz", pixels=np.zeros((2, 7), dtype=int))
    r = runner.invoke(app, ["verify", path, "--backends", "golden", "--input", str(tmp_path / "in.npz")])
    assert r.exit_code == 1
    assert str(r.exception) == (f"input file '{tmp_path / 'in.npz'}' must hold an array named 'in' "
                                f"or x, not ['pixels']")


@pytest.mark.lava
def test_lava_matches_in_json(net_file, tmp_path):
    pytest.importorskip("hwsnn.mappings.lava")
    path, graph = net_file
    x = np.random.default_rng(5).integers(-30, 60, (3, 7))
    np.savez(tmp_path / "in.npz", x=x)
    r = runner.invoke(app, ["verify", path, "--backends", "lava", "--input", str(tmp_path / "in.npz"),
                            "--steps", "12", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)["backends"]["lava"]
    assert res == {"steps": 12, "compared_values": 12 * 3 * (9 + 6) * 3 + 12 * 3 * 4, "mismatches": 0,
                   "first_divergence": None}


@pytest.mark.lava
def test_corrupted_model_reports_first_divergence(net_file, monkeypatch):
    lava = pytest.importorskip("hwsnn.mappings.lava")
    from test_lava_verify import ThetaPlusOneModel

    path, graph = net_file
    x, steps = default_inputs(graph, 8), default_steps(graph)
    g1 = graph.with_delays(1)  # Lava's delays
    n2 = g1.nodes["n2"]
    bad = g1.replace_node("n2", type(n2)(**{**n2.scalars(), **n2.arrays(), "theta": n2.theta + 1}))
    expected = backends.compare(sim.run(g1, x, steps), sim.run(bad, x, steps))
    assert expected.mismatches > 0

    monkeypatch.setitem(lava.MODEL_OVERRIDES, "STBIF", ThetaPlusOneModel)
    r = runner.invoke(app, ["verify", path, "--backends", "lava"])
    assert r.exit_code == 1
    assert r.output.splitlines()[-1] == (f"lava: {expected.mismatches} of {expected.compared_values} "
                                         f"values differ; first: {expected.first}")
    r = runner.invoke(app, ["verify", path, "--backends", "lava", "--json"])
    assert r.exit_code == 1
    first = json.loads(r.output)["backends"]["lava"]["first_divergence"]
    assert first == {**vars(expected.first), "neuron": list(expected.first.neuron)}


def _fake(monkeypatch, edit):
    """Back end "fake" (documented delay 1): golden's trace of the delay-1 graph, then `edit`."""
    from hwsnn.backends import BACKENDS, DELAYS

    def run(graph, x, steps):
        trace = sim.run(graph.with_delays(1), x, steps)
        edit(trace)
        return trace
    monkeypatch.setitem(BACKENDS, "fake", run)
    monkeypatch.setitem(DELAYS, "fake", 1)


def test_a_backend_reporting_another_graph_is_an_error(net_file, monkeypatch):
    path, graph = net_file
    _fake(monkeypatch, lambda tr: setattr(tr, "graph", graph.with_delays(0)))
    r = runner.invoke(app, ["verify", path, "--backends", "fake", "--samples", "2"])
    assert r.exit_code == 1
    assert str(r.exception) == ("fake: edge 'in' -> 'fc1' has delay 0 in the graph it ran, "
                                "not the documented 1")


def test_nothing_compared_fails(net_file, monkeypatch):
    path, graph = net_file
    _fake(monkeypatch, lambda tr: setattr(tr, "valid", {n: np.zeros(1, bool) for n in tr.V}))
    r = runner.invoke(app, ["verify", path, "--backends", "fake", "--samples", "2"])
    assert r.exit_code == 1
    assert r.output.splitlines()[-1] == "fake: no values compared (the back end read none back)"


def _rtl_files(tmp_path, seed, kind):
    """(graph, IR path, x) of a random ST-BIF network saved with 2 inputs in tmp_path/in.npz;
    skips (fails under HWSNN_REQUIRE_BACKENDS) without Icarus."""
    from randnets import random_input, random_stbif_net
    from require_backends import need
    need("icarus")
    graph = random_stbif_net(seed, kind=kind, depth=2)
    path = str(tmp_path / "net.hwir")
    ir.save(graph, path)
    x = random_input(graph, 2, seed)
    np.savez(tmp_path / "in.npz", x=x)
    return graph, path, x


@pytest.mark.rtl
def test_rtl_json_names_the_core_layouts(tmp_path):
    graph, path, _ = _rtl_files(tmp_path, 3, "conv")
    r = runner.invoke(app, ["verify", path, "--backends", "rtl", "--input", str(tmp_path / "in.npz"),
                            "--steps", "10", "--json", "--sim", "icarus"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["simulator"] == "icarus"
    res = json.loads(r.output)["backends"]["rtl"]
    assert res["mismatches"] == 0 and res["steps"] == 10
    # per step: V, S, y of l0 and l1 (C x 5 x 5 each) and V of the 3 readouts; read back after
    # the last step: V and S of both layers and V of the readout
    n_neurons = sum(int(np.prod(graph.nodes[n].shape)) for n in ("l0", "l1"))
    assert res["compared_values"] == 10 * 2 * (3 * n_neurons + 3) + 2 * (2 * n_neurons + 3)
    assert res["layouts"] == {"l0": "shared-kernel", "l1": "shared-kernel", "out": "dense"}


def test_rtl_simulator_choice(monkeypatch):
    """CLI: --sim wins, then env SIM, then Verilator when installed, else Icarus. The Python API
    picks the same without reading the environment; a bad name is a one-line error."""
    from hwsnn.cli._sim import pick_simulator
    from hwsnn.errors import BackendError, BackendUnavailableError
    from hwsnn.rtl.sim import _runner
    monkeypatch.delenv("SIM", raising=False)
    installed = {"verilator": True}

    def check(sim):
        if not installed[sim]:
            raise BackendUnavailableError(f"{sim} not found")
    monkeypatch.setattr(_runner, "check_simulator", check)
    assert pick_simulator() == "verilator" == _runner.default_sim()
    assert pick_simulator("icarus") == "icarus" == _runner.default_sim("icarus")
    installed["verilator"] = False
    assert pick_simulator("auto") == "icarus" == _runner.default_sim(None)
    monkeypatch.setenv("SIM", "verilator")
    assert pick_simulator() == "verilator"
    assert _runner.default_sim() == "icarus"  # the API reads no environment
    assert pick_simulator("icarus") == "icarus"
    with pytest.raises(BackendError, match="simulator must be one of"):
        pick_simulator("modelsim")


def test_python_api_and_cli_pick_the_same_simulator(monkeypatch):
    """`hwsnn.backends.verify` and `hwsnn.mappings.rtl.run` take `sim=`; without it they run what
    the CLI runs without --sim and SIM (Verilator when installed)."""
    import inspect

    from hwsnn import backends
    from hwsnn.cli._sim import pick_simulator
    from hwsnn.mappings import rtl
    from hwsnn.rtl.sim import _runner
    monkeypatch.delenv("SIM", raising=False)
    assert inspect.signature(backends.verify).parameters["sim"].default is None
    assert inspect.signature(rtl.run).parameters["sim"].default is None
    from randnets import random_stbif_net
    seen = []

    def fake_rtl(graph, x, steps, **options):
        seen.append(options)
        raise RuntimeError("stop")
    monkeypatch.setitem(backends.BACKENDS, "rtl", fake_rtl)
    graph = random_stbif_net(3)
    x = np.zeros((1, *graph.nodes[graph.sources[0]].shape), np.int64)
    for chosen in (None, "icarus"):
        with pytest.raises(RuntimeError, match="stop"):
            backends.verify(graph, x, 3, backends=["rtl"], sim=chosen)
    assert seen == [{}, {"sim": "icarus"}]  # None is not passed: the back end picks its default
    assert _runner.default_sim() == pick_simulator()


def test_bad_simulator_name_is_one_line(net_file):
    path, _ = net_file
    r = runner.invoke(app, ["verify", path, "--backends", "rtl", "--sim", "modelsim", "--samples", "1"])
    assert r.exit_code == 1
    assert str(r.exception) == "simulator must be one of ('icarus', 'verilator'), not 'modelsim'"


@pytest.mark.rtl
def test_run_rtl_names_its_simulator_and_matches_golden(tmp_path):
    graph, path, x = _rtl_files(tmp_path, 4, "dense")
    r = runner.invoke(app, ["run", path, "--backend", "rtl", "--sim", "icarus", "--input",
                            str(tmp_path / "in.npz"), "--steps", "12", "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.output)
    assert res["simulator"] == "icarus"
    golden = sim.run(graph.with_delays(1), x, 12)  # the RTL computes every edge with delay 1
    assert res["output"] == golden.output.reshape(2, -1).tolist()
