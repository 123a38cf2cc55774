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


def conv_core(lanes, pack_lanes):
    """The core of a 3x3 conv 4x16x16 -> 8x16x16 ST-BIF layer (2048 neurons, computed row
    table): V, S and weight memories big enough to take RAM blocks."""
    from hwsnn.mappings.rtl import lower
    rng = np.random.default_rng(3)
    nodes = {"in": ir.Source((4, 16, 16), x_bits=5), "cw": ir.Conv2d(rng.integers(-20, 21, (8, 4, 3, 3)), padding=(1, 1)),
             "a": ir.STBIF((8, 16, 16), theta=16, v0=8, s_max=7, s_bits=5),
             "flat": ir.Flatten(), "fc": ir.Dense(rng.integers(-4, 5, (3, 2048))), "out": ir.Readout((3,))}
    edges = [ir.Edge("in", "cw"), ir.Edge("cw", "a"), ir.Edge("a", "flat"), ir.Edge("flat", "fc"),
             ir.Edge("fc", "out")]
    return lower(ir.Graph(nodes, edges, name="conv"), lanes=lanes, pack_lanes=pack_lanes).cores[0]


@pytest.mark.slow
@pytest.mark.parametrize("lanes,pack_lanes", [(2, False), (4, True)])
def test_ram_estimate_equals_yosys_on_a_conv_core(tmp_path, lanes, pack_lanes):
    """The RAM estimate the fit search uses (`ram_estimate`, no yosys) against yosys's DP16KD
    count for one core alone (no FIFOs), per-lane and packed memories."""
    from hwsnn.rtl._core import row_decode
    from hwsnn.rtl._synth import memories, ram_estimate
    cfg = conv_core(lanes, pack_lanes)
    assert row_decode(cfg) is not None
    names = [n for n, _, _ in memories(cfg)]
    assert ("s" in names and "w" in names) == pack_lanes
    est = ram_estimate([cfg], "ecp5-85k")
    r = synth_core(cfg, "ecp5-85k", work_dir=tmp_path, pnr=False)
    assert est > 0 and r.cells["RAM"] == est, (r.cells, memories(cfg))


def test_emit_pack_lanes_writes_one_packed_weight_image(tmp_path):
    """`rtl emit --pack-lanes`: one weight image per core whose word a holds lane l's word a
    in bits l*w_bits .. (l+1)*w_bits - 1 (two's complement), no per-lane weight files."""
    from hwsnn.mappings.rtl import lower
    path = tmp_path / "net.hwir"
    ir.save(small_graph(), path)
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "emit", str(path), "-o", str(tmp_path / "p"), "--lanes", "2", "--pack-lanes", "--no-cores"])
    assert exc.value.code in (0, None)
    names = {p.name for p in (tmp_path / "p" / "mem").iterdir()}
    assert "a.w.hex" in names and not {"a.w0.hex", "a.w1.hex"} & names
    cfg = lower(small_graph(), lanes=2).cores[0]
    words = [int(line, 16) for line in (tmp_path / "p" / "mem" / "a.w.hex").read_text().split()]
    b = cfg.w_bits
    for lane in range(2):
        vals = [(w >> (lane * b)) & ((1 << b) - 1) for w in words]
        vals = [v - (1 << b) if v >> (b - 1) else v for v in vals]
        assert vals == list(cfg.weight_image(lane))
