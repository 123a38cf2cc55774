"""import-nir: the integers follow Loihi's rules derived from the float parameters, ambiguous
graphs are one-line NIRErrors naming the node, export -> import gives the same integer graph."""

import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("h5py")
sys.path.insert(0, str(Path(__file__).parent))

from nirfiles import conv_graph, small_graph, write_nir  # noqa: E402

from hwsnn import ir  # noqa: E402
from hwsnn.errors import HwsnnError, NIRError  # noqa: E402
from hwsnn.nir import export_nir, import_nir  # noqa: E402

BUNDLED = resources.files("hwsnn.data") / "snntorch_digits.nir"


def same_graph(a, b):
    assert list(a.nodes) == list(b.nodes)
    for n, node in a.nodes.items():
        other = b.nodes[n]
        assert node.type == other.type and node.scalars() == other.scalars(), n
        for k, arr in node.arrays().items():
            assert np.array_equal(arr, other.arrays()[k]), (n, k)
    assert a.edges == b.edges


def test_small_graph_integers_follow_loihi_rules(tmp_path):
    nodes, edges = small_graph()
    g, rows = import_nir(write_nir(tmp_path / "s.nir", nodes, edges), dt=1e-3, T=8)
    lif1, lif2 = g.nodes["lif1"], g.nodes["lif2"]
    # decays from dt/tau, written out here: 4096 * 1e-3/0.01 = 409.6; 4096 * 1e-3/0.005 - 1
    assert (lif1.du, lif1.dv) == (4095, 410)
    assert (lif2.du, lif2.dv) == (818, 205)
    for syn in ("fc1", "fc2"):
        W = g.nodes[syn].W
        assert np.array_equal(ir.loihi_weights(W, 8), W)        # Lava leaves them unchanged
        assert W.min() < 0 < W.max() and np.all(W % 2 == 0)     # mixed sign: low bit dropped
        assert -256 <= W.min() and W.max() <= 254
    # every synapse of a spiking node is delayed one step (Loihi), the Output counts spikes
    assert all(e.delay == (1 if g.nodes[e.src].ROLE in ("source", "neuron") else 0)
               for e in g.edges)
    assert g.readouts == ["output"] and g.meta["steps"] == 8 + 3
    # the integer weights reproduce the float weights within one quantization step
    r1 = rows[0]
    k = r1["scale_k"]
    theta = nodes["lif1"]["v_threshold"]
    W_float = nodes["fc1"]["weight"] * (1e-3 / 0.01 * 10) * (theta.max() / theta)[:, None]
    W_int = g.nodes["fc1"].W * 2.0 ** g.nodes["fc1"].w_exp / k
    step = 2 * 2.0 ** g.nodes["fc1"].w_exp / k
    assert np.abs(W_int - W_float).max() <= step / 2 + 1e-12
    assert abs(lif1.vth / k - theta.max()) <= 0.5 / k


@pytest.mark.parametrize("w_bits", [8, 5])
@pytest.mark.parametrize("seed", range(6))
def test_export_then_import_gives_the_same_integer_graph(tmp_path, seed, w_bits):
    make = small_graph if seed % 2 else conv_graph
    g, _ = import_nir(write_nir(tmp_path / "s.nir", *make(seed=seed)), dt=1e-3, T=8, w_bits=w_bits)
    export_nir(g, tmp_path / "rt.nir", 1e-3)
    g2, _ = import_nir(tmp_path / "rt.nir", dt=1e-3, T=8, w_bits=w_bits)
    same_graph(g, g2)


def test_a_uniform_scale_folds_into_the_weights(tmp_path):
    nodes, edges = small_graph()
    plain, _ = import_nir(write_nir(tmp_path / "a.nir", nodes, edges), dt=1e-3, T=8)
    nodes["half"] = {"type": "Scale", "scale": np.full(6, 0.5)}
    edges = [("input", "half"), ("half", "fc1")] + edges[1:]
    scaled, _ = import_nir(write_nir(tmp_path / "b.nir", nodes, edges), dt=1e-3, T=8)
    assert "half" not in scaled.nodes
    # half the input weights = twice the threshold, on the same integer weights
    assert np.array_equal(scaled.nodes["fc1"].W, plain.nodes["fc1"].W)
    assert abs(scaled.nodes["lif1"].vth - 2 * plain.nodes["lif1"].vth) <= 1


def test_conv_pool_if_li_graph_imports_runs_and_round_trips(tmp_path):
    from hwsnn.sim import run

    g, rows = import_nir(write_nir(tmp_path / "c.nir", *conv_graph()), dt=1e-3, T=8)
    assert [g.nodes[n].type for n in ("pool", "conv", "lif", "flat", "fc", "if", "fc_out", "output")] \
        == ["SumPool2d", "Conv2d", "CUBALIF", "Flatten", "Dense", "CUBALIF", "Dense", "Readout"]
    # IF: no decays; LIF: 4096 * 1e-3 / 4e-3 = 1024; the LI without leak is the Readout itself
    assert (g.nodes["if"].du, g.nodes["if"].dv, g.nodes["lif"].dv) == (4095, 0, 1024)
    x = np.random.default_rng(1).integers(0, 9, (3, 2, 6, 6))
    trace = run(g, x, g.meta["steps"])
    assert trace.spikes["lif"].sum() > 0 and trace.spikes["if"].sum() > 0
    export_nir(g, tmp_path / "rt.nir", 1e-3)
    g2, _ = import_nir(tmp_path / "rt.nir", dt=1e-3, T=8)
    same_graph(g, g2)
    nir = pytest.importorskip("nir")
    assert set(nir.read(str(tmp_path / "rt.nir")).nodes) == set(g.nodes)


def test_bundled_snntorch_round_trip_and_nir_reads_our_file(tmp_path):
    nir = pytest.importorskip("nir")
    with resources.as_file(BUNDLED) as p:
        g, _ = import_nir(p, dt=1e-4, T=16)
    export_nir(g, tmp_path / "rt.nir", 1e-4)
    assert set(nir.read(str(tmp_path / "rt.nir")).nodes) >= {"input", "output"}
    g2, _ = import_nir(tmp_path / "rt.nir", dt=1e-4, T=16)
    same_graph(g, g2)


def bad(nodes, edges, changes):
    nodes = {k: dict(v) for k, v in nodes.items()}
    for (node, key), value in changes.items():
        if value is None:
            nodes[node].pop(key)
        else:
            nodes[node][key] = value
    return nodes, edges


def _cases():
    n, e = small_graph()
    yield "no dt", (n, e), {"dt": None}, "'lif1'.*--dt"
    yield "unsupported", bad(n, e, {("lif1", "type"): "Threshold"}), {}, "'lif1'.*not supported"
    yield "recurrent", (n, e + [("lif2", "fc1")]), {}, "recurrent edges"
    yield "shapes", bad(n, e, {("fc2", "weight"): np.ones((3, 4))}), {}, "'fc2'.*input shape"
    yield "v_reset", bad(n, e, {("lif1", "v_reset"): np.ones(5)}), {}, "'lif1'.*v_reset must be 0"
    yield "tau per neuron", bad(n, e, {("lif1", "tau"): np.linspace(.01, .02, 5)}), {}, \
        "'lif1'.*one value per layer"
    yield "missing key", bad(n, e, {("lif1", "v_threshold"): None}), {}, "'lif1'.*v_threshold"
    yield "bias into current", bad(n, e, {("fc2", "type"): "Affine",
                                            ("fc2", "bias"): np.ones(3)}), {}, "'lif2'.*bias"
    yield "dt too large", (n, e), {"dt": 0.05}, "'lif1'.*dt/tau"
    pool, e3 = small_graph(n_hidden=3, n_out=3)
    pool["fc2"] = {"type": "Scale", "scale": np.ones(3)}
    yield "no weights into neuron", (pool, e3), {}, "'fc2'.*Dense/Conv2d"


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: c[0])
def test_ambiguous_graphs_are_one_line_errors_naming_the_node(tmp_path, case):
    import re
    _, (nodes, edges), kw, pattern = case
    opts = {"dt": 1e-3, "T": 8, **kw}
    with pytest.raises(NIRError) as info:
        import_nir(write_nir(tmp_path / "b.nir", nodes, edges), **opts)
    msg = str(info.value)
    assert "\n" not in msg and re.search(pattern, msg), msg


def test_cli_import_report_and_stbif_export_refused(tmp_path, capsys):
    from hwsnn.cli.main import main
    from hwsnn.examples import load_digits_ir

    with resources.as_file(BUNDLED) as p, pytest.raises(SystemExit) as ok:
        main(["import-nir", str(p), "-o", str(tmp_path / "d.hwir"), "--dt", "1e-4", "--json"])
    assert ok.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in report["layers"]] == ["LIF", "LIF"]
    assert all(r["w_err_max"] < 0.01 for r in report["layers"])
    stbif = tmp_path / "stbif.hwir"
    ir.save(load_digits_ir()[0], stbif)
    with pytest.raises(SystemExit) as code:
        main(["export-nir", str(stbif), "-o", str(tmp_path / "x.nir"), "--dt", "1e-3"])
    err = capsys.readouterr().err
    assert code.value.code == 1 and err.count("\n") == 1
    assert "NIR cannot express ST-BIF" in err and not (tmp_path / "x.nir").exists()


def test_hwsnn_error_is_the_base(tmp_path):
    assert issubclass(NIRError, HwsnnError)


@pytest.mark.parametrize("conv_stride,pools", [(1, [(2, 2)]), (2, [(2, 2)]), (1, [(2, 1), (3, 3)])])
def test_pooling_after_a_convolution_folds_into_it_exactly(conv_stride, pools):
    """Conv2d then sum pools == one Conv2d with the summed shifted kernels (float, torch)."""
    import torch

    from hwsnn.nir._graph import NirGraph
    from hwsnn.nir._import import _fold_pools

    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 2, 3, 3))
    nodes = {"c": {"type": "Conv2d", "weight": W, "stride": np.array([conv_stride] * 2)}}
    for i, (k, s) in enumerate(pools):
        nodes[f"p{i}"] = {"type": "SumPool2d", "kernel_size": np.array([k, k]),
                          "stride": np.array([s, s])}
    g = NirGraph(nodes, [], [], {})
    W2, stride = _fold_pools(g, "c", [f"p{i}" for i in range(len(pools))])
    x = torch.as_tensor(rng.normal(size=(4, 2, 19, 17)))
    want = torch.nn.functional.conv2d(x, torch.as_tensor(W), stride=conv_stride, padding=1)
    for k, s in pools:
        want = torch.nn.functional.avg_pool2d(want, k, s) * k * k
    got = torch.nn.functional.conv2d(x, torch.as_tensor(W2), stride=stride, padding=1)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-9)


def test_snntorch_style_conv_avgpool_leaky_imports(tmp_path):
    rng = np.random.default_rng(2)
    c = 4
    nodes = {
        "input": {"type": "Input", "shape": np.array([1, 8, 8])},
        "conv": {"type": "Conv2d", "weight": rng.normal(0, 0.5, (c, 1, 3, 3)), "bias": np.zeros(c),
                 "stride": np.array([1, 1]), "padding": np.array([1, 1]),
                 "dilation": np.array([1, 1]), "groups": np.array(1)},
        "pool": {"type": "AvgPool2d", "kernel_size": np.array([2, 2]), "stride": np.array([2, 2]),
                 "padding": np.array([0, 0])},
        "lif": {"type": "LIF", "tau": np.full((c, 4, 4), 1e-3), "r": np.full((c, 4, 4), 10.0),
                "v_leak": np.zeros((c, 4, 4)), "v_threshold": np.ones((c, 4, 4)),
                "v_reset": np.zeros((c, 4, 4))},
        "output": {"type": "Output", "shape": np.array([c, 4, 4])},
    }
    edges = [("input", "conv"), ("conv", "pool"), ("pool", "lif"), ("lif", "output")]
    nodes["flat"] = {"type": "Flatten", "start_dim": np.array(1), "end_dim": np.array(-1)}
    nodes["fc"] = {"type": "Linear", "weight": rng.normal(0, 0.3, (5, c * 16))}
    nodes["lif2"] = {"type": "LIF", "tau": np.full(5, 1e-3), "r": np.full(5, 10.0),
                     "v_leak": np.zeros(5), "v_threshold": np.ones(5), "v_reset": np.zeros(5)}
    nodes["output"]["shape"] = np.array([5])
    edges = edges[:-1] + [("lif", "flat"), ("flat", "fc"), ("fc", "lif2"), ("lif2", "output")]
    g, _ = import_nir(write_nir(tmp_path / "b.nir", nodes, edges), dt=1e-4, T=8)
    assert "pool" not in g.nodes
    assert g.nodes["conv"].W.shape == (c, 1, 4, 4) and g.nodes["conv"].stride == (2, 2)
    export_nir(g, tmp_path / "rt.nir", 1e-4)
    same_graph(g, import_nir(tmp_path / "rt.nir", dt=1e-4, T=8)[0])
