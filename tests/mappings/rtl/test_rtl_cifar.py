"""A CIFAR-shaped ResNet (3x32x32, 8-16-32, strided 1x1 shortcuts) through the hardware flow:
every core a shared-kernel layout with a computed row table, RTL (the fit search's setting: 16
lanes, packed weight and S memories) equal to golden at every step on 10 inputs (Verilator), and the ECP5-85K fit search
(benchmarks/rtl_cifar_resnet.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.errors import MappingError

from rtlsim import need_sim

pytestmark = [pytest.mark.rtl, pytest.mark.slow]

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "rtl_cifar_resnet.py"


@pytest.fixture(scope="module")
def cifar():
    spec = importlib.util.spec_from_file_location("rtl_cifar_resnet", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, mod.build_graph()


def test_cifar_resnet_lowers_to_kernel_tables_with_computed_rows(cifar):
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._core import row_decode
    mod, g = cifar
    net = lower(g, lanes=8)
    conv = [c for c in net.cores if c.conv is not None]
    assert len(conv) == 7 and all(t.kind == "conv" for c in conv for t in c.tables)
    strides = sorted({t.conv.stride for c in conv for t in c.tables})
    assert strides == [(1, 1), (2, 2)]
    assert sum(t.conv.K.shape[2:] == (1, 1) and t.conv.stride == (2, 2) for c in conv for t in c.tables) == 2
    assert all(row_decode(c) is not None for c in conv)  # no row ROMs: computed from the index


def test_fit_search_finds_16_packed_lanes_on_ecp5(cifar):
    """The RAM estimate (no yosys) over lanes 16..1, per-lane and packed memories: per-lane
    memories fit up to 4 lanes, packing the weight and S memories across lanes up to 16; the
    search picks 16 packed, which passes the fit check, and 8 per-lane fails naming the excess."""
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import check_fit, ram_estimate
    mod, g = cifar
    rows, best = mod.fit_lanes(g, "ecp5-85k")
    assert [(r["lanes"], r["pack_lanes"]) for r in rows] == [(L, p) for L in (16, 8, 4, 2, 1) for p in (False, True)]
    for pack in (False, True):
        need = [r["ram_blocks"] for r in rows if r["pack_lanes"] == pack]
        assert need == sorted(need, reverse=True)           # fewer lanes: fewer blocks
    assert all(r["fits"] == (r["ram_blocks"] <= 208) for r in rows)
    assert [(r["lanes"], r["pack_lanes"]) for r in rows if r["fits"]] == \
        [(16, True), (8, True), (4, False), (4, True), (2, False), (2, True), (1, False), (1, True)]
    assert (best["lanes"], best["pack_lanes"]) == (16, True)
    fit = lower(g, lanes=16, pack_lanes=True).cores
    assert ram_estimate(fit, "ecp5-85k") == best["ram_blocks"]
    check_fit(fit, "ecp5-85k", "cifar")                    # no error
    over = next(r["ram_blocks"] for r in rows if (r["lanes"], r["pack_lanes"]) == (8, False))
    with pytest.raises(MappingError, match=r"ecp5-85k: design 'cifar' does not fit: RAM needs about "
                                           rf"{over} blocks .* the device has 208 \({over - 208} over\)"):
        check_fit(lower(g, lanes=8).cores, "ecp5-85k", "cifar")


def test_cifar_resnet_rtl_equals_golden_on_10_inputs(cifar):
    need_sim("verilator")
    from hwsnn.mappings.rtl import lower
    from hwsnn.mappings.rtl._run import run_lowered
    mod, g = cifar
    x = mod.images(10, 1)
    _, best = mod.fit_lanes(g, "ecp5-85k")  # the setting the fit search picks for the ECP5-85K
    net = lower(g, lanes=best["lanes"], pack_lanes=best["pack_lanes"])
    trace = run_lowered(net, x, 13, sim="verilator")
    golden = sim.run(trace.graph, x, 13)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values >= sum(a.size for _, _, a in golden.variables()) > 0
    assert np.array_equal(trace.predict(), golden.predict())


def test_synth_cli_names_the_overflow_and_the_settings_that_fit(cifar, tmp_path, capsys):
    """`hwsnn rtl synth --lanes 8` (per-lane memories) stops before yosys with one line: the
    RAM overflow, then every setting that fits, the most lanes first."""
    import re
    from hwsnn import ir
    from hwsnn.cli.main import main
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import ram_estimate
    _, g = cifar
    path = tmp_path / "cifar.hwir"
    ir.save(g, path)
    need = ram_estimate(lower(g, lanes=8).cores, "ecp5-85k")
    with pytest.raises(SystemExit) as exc:
        main(["rtl", "synth", str(path), "--target", "ecp5-85k", "--lanes", "8"])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(rf"error: ecp5-85k: design 'network of 9 cores' does not fit: RAM needs about {need} blocks "
                        rf"for its memories \(weights, state, row tables, FIFOs\), the device has 208 "
                        rf"\({need - 208} over\); settings that fit: --lanes 16 --pack-lanes, --lanes 8 --pack-lanes, "
                        r"--lanes 4, --lanes 4 --pack-lanes, --lanes 2, --lanes 2 --pack-lanes, "
                        r"--lanes 1, --lanes 1 --pack-lanes", err), err
