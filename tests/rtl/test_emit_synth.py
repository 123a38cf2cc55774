"""Verilog emission (reproducible, atomic files) and synthesis reports."""

import json

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.cli.main import main
from hwsnn.errors import MappingError, TargetError
from hwsnn.rtl import CoreConfig, default_core
from hwsnn.rtl._synth import ram_blocks, synth_core, synthesize

pytestmark = pytest.mark.rtl


def small_graph():
    rng = np.random.default_rng(0)
    nodes = {"in": ir.Source((6,), x_bits=5), "fc": ir.Dense(rng.integers(-4, 5, (5, 6))),
             "a": ir.STBIF((5,), theta=4, v0=2, bias=rng.integers(-2, 3, 5), s_max=3),
             "fo": ir.Dense(rng.integers(-4, 5, (3, 5))), "out": ir.Readout((3,))}
    edges = [ir.Edge("in", "fc"), ir.Edge("fc", "a"), ir.Edge("a", "fo"), ir.Edge("fo", "out")]
    return ir.Graph(nodes, edges, name="small")


def test_emit_is_reproducible_byte_for_byte(tmp_path):
    path = tmp_path / "net.hwir"
    ir.save(small_graph(), path)
    for d in ("a", "b"):
        with pytest.raises(SystemExit) as exc:
            main(["rtl", "emit", str(path), "-o", str(tmp_path / d), "--lanes", "2"])
        assert exc.value.code in (0, None)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b
    assert {"hwsnn_network.v", "core0_a.v", "core1_out.v", "manifest.json", "mem/a.w0.hex"} <= {str(p) for p in files_a}
    for p in files_a:
        assert (tmp_path / "a" / p).read_bytes() == (tmp_path / "b" / p).read_bytes(), p
    assert not list((tmp_path / "a").rglob(".*tmp*"))  # no temporary files left behind
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert [c["node"] for c in manifest["cores"]] == ["a", "out"] and manifest["delay"] == 1


def test_weight_image_hex_holds_the_weights(tmp_path):
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl import emit_network
    net = lower(small_graph(), lanes=2)
    emit_network(net, tmp_path, cores=False)
    cfg = net.cores[0]
    words = [int(line, 16) for line in (tmp_path / "mem" / "a.w1.hex").read_text().split()]
    vals = [w - (1 << cfg.w_bits) if w >> (cfg.w_bits - 1) else w for w in words]
    # lane 1 holds neurons 1, 3 (and a padding slot): address row * groups + g
    W = cfg.weights
    assert vals == [W[r, 2 * g + 1] if 2 * g + 1 < cfg.n else 0 for r in range(cfg.rows) for g in range(cfg.groups)]


def test_design_that_does_not_fit_names_the_resource():
    big = default_core(lanes=1, n_in=4095, n=64)
    need = ram_blocks([big], "ice40-up5k")
    with pytest.raises(MappingError, match=rf"ice40-up5k: design 'core core \(1 lanes\)' does not fit: RAM needs "
                                           rf"at least {need} blocks for its weight memories, the device has 30 "
                                           rf"\({need - 30} over\)"):
        synth_core(big, "ice40-up5k")


def test_unknown_target():
    with pytest.raises(TargetError, match=r"target must be one of \['ecp5-85k', 'ice40-up5k'\], not 'xc7'"):
        synthesize(None, "x", "xc7")


@pytest.mark.slow
def test_small_core_synthesizes_on_ice40(tmp_path):
    cfg = default_core(lanes=2, n_in=16, n=8)
    r = synth_core(cfg, "ice40-up5k", work_dir=tmp_path)
    assert r.cells["LUT"] > 0 and r.cells["FF"] > 0 and r.fmax_mhz and r.fmax_mhz > 0
