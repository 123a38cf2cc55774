"""`hwsnn eval` and the --workers/--address options (serial paths; Ray ones in test_cluster)."""

import json
import sys

import numpy as np
import pytest
from randnets import random_stbif_net
from typer.testing import CliRunner

from hwsnn import ir, sim
from hwsnn.cli.main import app
from hwsnn.cluster import ArrayChunks, Pool, evaluate

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    graph = random_stbif_net(3)
    x = np.random.default_rng(1).integers(0, 17, (257, 6))
    y = np.random.default_rng(2).integers(0, 3, 257)
    ir.save(graph, str(tmp_path / "net.hwir"))
    np.savez_compressed(tmp_path / "x.npz", x=x, y=y)
    return graph, x, y, str(tmp_path / "net.hwir"), str(tmp_path / "x.npz")


def test_eval_equals_one_golden_run_for_any_chunk_size(files):
    graph, x, y, _, path = files
    trace = sim.run(graph, x, 9)
    want_acc = float((trace.predict() == y).mean())
    from hwsnn.energy import count_events
    events = count_events(trace, x, graph)
    want_sops = int(sum(layer.counts["sops"].sum() for layer in events.layers))
    for rows in (1000, 64, 7):
        r = evaluate(graph, ArrayChunks(path, "x", rows), 9, Pool(progress=False), labels=y)
        assert np.array_equal(r.pred, trace.predict()) and np.array_equal(r.t_eq, trace.t_eq)
        assert np.array_equal(r.settled, trace.settled)
        s = r.summary()
        assert s["accuracy"] == want_acc and s["sops"]["total"] == want_sops
        assert s["spikes"]["total"] == int(sum(v.sum() for v in trace.spikes.values()))


def test_eval_cli_json(files):
    _, _, y, net, path = files
    r = runner.invoke(app, ["eval", net, "--input", path, "--labels", "y", "--steps", "9",
                            "--chunk", "50", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["samples"] == 257 and out["steps"] == 9 and out["correct"] is not None


def test_eval_rejects_bad_labels_and_missing_arrays(files, tmp_path):
    _, _, _, net, path = files
    r = runner.invoke(app, ["eval", net, "--input", path, "--labels", "nope"])
    assert r.exit_code == 1 and "has no array named 'nope'" in str(r.exception)
    np.savez(tmp_path / "two.npz", a=np.zeros((2, 6), int), b=np.zeros((2, 6), int))
    r = runner.invoke(app, ["eval", net, "--input", str(tmp_path / "two.npz")])
    assert "must hold an array named 'in' or 'x'" in str(r.exception)
    np.savez(tmp_path / "obj.npz", x=np.array([None, 1], dtype=object))
    r = runner.invoke(app, ["eval", net, "--input", str(tmp_path / "obj.npz")])
    assert "never unpickled" in str(r.exception)


@pytest.mark.parametrize("command", [["eval", "--input", "X"], ["verify", "--backends", "golden"]])
def test_workers_without_ray_says_how_to_install(files, command, monkeypatch):
    _, _, _, net, path = files
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    argv = [command[0], net] + [path if a == "X" else a for a in command[1:]] + ["--workers", "2"]
    r = runner.invoke(app, argv)
    assert r.exit_code == 1
    assert str(r.exception) == ("--workers and --address need Ray, which is not installed: "
                                "pip install 'hwsnn[cluster]' (Ray)")


def test_eval_without_steps_runs_until_settled_for_any_chunking(files):
    graph, x, y, _, path = files
    long = sim.run(graph, x, 64)
    assert long.settled.all()
    for rows in (257, 10):
        r = evaluate(graph, ArrayChunks(path, "x", rows), None, Pool(progress=False), labels=y)
        assert r.settled.all() and np.array_equal(r.t_eq, long.t_eq)
        assert np.array_equal(r.pred, long.predict()) and r.steps >= long.t_eq.max()


def test_eval_rejects_inputs_outside_the_recorded_range(files, tmp_path):
    graph, x, _, _, _ = files
    graph.meta["input_range"] = [0, 10]
    ir.save(graph, str(tmp_path / "ranged.hwir"))
    np.savez(tmp_path / "big.npz", x=x)
    r = runner.invoke(app, ["eval", str(tmp_path / "ranged.hwir"), "--input", str(tmp_path / "big.npz")])
    assert r.exit_code == 1 and "outside the input range [0, 10]" in str(r.exception)
