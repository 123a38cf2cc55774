"""The bundled digits network end to end in RTL simulation: every step equals the golden run,
and so do the V and S memories read back after the last step (when the network has `dump`).
Verilator checks all 360 test images; Icarus (about 100x slower on this netlist) a few."""

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.examples import load_digits_ir
from hwsnn.mappings.rtl import lower, run

from rtlsim import need_sim
from test_rtl_run import values_recorded

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


@pytest.mark.parametrize("simulator,images", [("icarus", 2), ("verilator", 360)])
def test_digits_network_every_step(simulator, images):
    need_sim(simulator)
    graph, x, y, steps = load_digits_ir(images)
    # both conv layers get shared-kernel cores (the lowering checked them against the unrolled matrix)
    assert [c["layout"] for c in lower(graph, lanes=16).summary()] == ["shared-kernel", "shared-kernel",
                                                                        "dense", "dense"]
    steps += 4  # delay 1 on every edge: the spikes need one step per layer more to settle
    trace = run(graph, x, steps, sim=simulator, lanes=16)
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    per_step, readback = values_recorded(trace.graph, steps, len(x))
    assert cmp.compared_values == per_step + (readback if trace.final_readback else 0)
    assert cmp.mismatches == 0, str(cmp.first)
    assert np.array_equal(trace.predict(), golden.predict())
    s = trace.rtl
    print(f"\ndigits RTL ({simulator}, {images} images): {s['cycles']} cycles in {s['sim_seconds']:.1f} s "
          f"({s['cycles'] / s['sim_seconds']:.0f} cycles/s), {s['cycles_per_step']:.0f} cycles/step, "
          f"{s['sops_per_cycle']:.2f} SOPs/cycle")
