"""`hwsnn inspect` says whether a graph is Loihi-native (Lava's own LIF/Dense/Conv) and why not."""

import json

import numpy as np
from typer.testing import CliRunner

from hwsnn import ir
from hwsnn.cli.main import app

from cubanets import random_cuba_graph

runner = CliRunner()


def _inspect(graph, tmp_path, *extra):
    path = str(tmp_path / "g.hwir")
    ir.save(graph, path)
    r = runner.invoke(app, ["inspect", path, *extra])
    assert r.exit_code == 0, r.output
    return r.output


def test_a_cuba_lif_graph_is_loihi_native(tmp_path):
    out = _inspect(random_cuba_graph(2, "conv", 3), tmp_path)
    assert out.rstrip().endswith("Loihi-native: yes (Lava's own LIF, Dense and Conv processes, "
                                 "bit-accurate models)")
    info = json.loads(_inspect(random_cuba_graph(2, "dense", 2), tmp_path, "--json"))
    assert info["loihi_native"] == {"native": True, "reason": None, "note": None}


def test_inspect_says_why_a_graph_is_not_native(tmp_path):
    nodes = {"in": ir.Source((3,)), "d": ir.Dense(np.ones((2, 3), dtype=np.int64)),
             "n": ir.STBIF((2,), theta=4, s_max=3), "d2": ir.Dense(np.ones((1, 2), dtype=np.int64)),
             "out": ir.Readout((1,))}
    g = ir.Graph(nodes, [ir.Edge("in", "d"), ir.Edge("d", "n"), ir.Edge("n", "d2"),
                         ir.Edge("d2", "out")])
    out = _inspect(g, tmp_path)
    assert out.rstrip().endswith("Loihi-native: no (node 'n' is a STBIF: Lava's library LIF runs "
                                 "only CUBALIF (Loihi's neuron))")


def test_inspect_notes_the_delays_lava_runs(tmp_path):
    g = random_cuba_graph(1, "dense", 1).with_delays(0)
    info = json.loads(_inspect(g, tmp_path, "--json"))["loihi_native"]
    assert info["native"] and info["note"] == ("Loihi delivers one step late: Lava runs delay 1 on "
                                               "1 delay-0 edge(s) (in -> s0)")
