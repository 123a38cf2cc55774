"""A CIFAR-shaped ResNet (3x32x32, 8-16-32, strided 1x1 shortcuts) through the hardware flow:
every core a shared-kernel layout, RTL equal to golden at every step on 10 inputs (Verilator),
and the ECP5-85K fit check naming the RAM overflow (benchmarks/rtl_cifar_resnet.py)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from hwsnn import sim
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


def test_cifar_resnet_lowers_to_kernel_tables_and_reports_the_fit(cifar):
    from hwsnn.mappings.rtl import lower
    from hwsnn.rtl._synth import check_fit
    mod, g = cifar
    net = lower(g, lanes=8)
    conv = [c for c in net.cores if c.conv is not None]
    assert len(conv) == 7 and all(t.kind == "conv" for c in conv for t in c.tables)
    strides = sorted({t.conv.stride for c in conv for t in c.tables})
    assert strides == [(1, 1), (2, 2)]
    assert sum(t.conv.K.shape[2:] == (1, 1) and t.conv.stride == (2, 2) for c in conv for t in c.tables) == 2
    rows, chosen = mod.fit_lanes(lambda L: lower(g, lanes=L), "ecp5-85k")
    need = [r["ram_blocks"] for r in rows]
    assert need == sorted(need, reverse=True)           # fewer lanes pack the memories better
    if chosen is None:
        with pytest.raises(MappingError, match=r"ecp5-85k: design 'cifar' does not fit: RAM needs about "
                                               rf"{need[-1]} blocks .* the device has 208 \({need[-1] - 208} over\)"):
            check_fit(lower(g, lanes=1).cores, "ecp5-85k", "cifar")


def test_cifar_resnet_rtl_equals_golden_on_10_inputs(cifar):
    need_sim("verilator")
    from hwsnn.mappings.rtl import run
    mod, g = cifar
    x = mod.images(10, 1)
    trace = run(g, x, 13, sim="verilator", lanes=8)
    golden = sim.run(trace.graph, x, 13)
    cmp = sim.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values >= sum(a.size for _, _, a in golden.variables()) > 0
    assert np.array_equal(trace.predict(), golden.predict())
