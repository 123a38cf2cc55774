"""The bundled digits network end to end in RTL simulation: every step equals the golden run."""

import numpy as np
import pytest

from hwsnn import sim

from rtlsim import need_sim

pytestmark = [pytest.mark.rtl, pytest.mark.slow]


def test_digits_network_five_images_every_step():
    need_sim("icarus")
    from hwsnn.examples import load_digits_ir
    from hwsnn.mappings.rtl import lower, run
    graph, x, y, steps = load_digits_ir(5)
    # both conv layers get shared-kernel cores (the lowering checked them against the unrolled matrix)
    assert [c.conv is not None for c in lower(graph, lanes=16).cores] == [True, True, False, False]
    steps += 4  # delay 1 on every edge: the spikes need one step per layer more to settle
    trace = run(graph, x, steps, sim="icarus", lanes=16)
    golden = sim.run(trace.graph, x, steps)
    cmp = sim.compare(golden, trace, "rtl")
    assert cmp.compared_values == sum(a.size for _, _, a in golden.variables()) > 0
    assert cmp.mismatches == 0, str(cmp.first)
    assert np.array_equal(trace.predict(), golden.predict())
    s = trace.rtl
    print(f"\ndigits RTL: {s['cycles_per_step']:.0f} cycles/step, {s['sops_per_cycle']:.2f} SOPs/cycle; "
          + ", ".join(f"{c['node']}: {c['sops_per_acc_cycle']:.2f} SOPs/acc cycle ({c['lanes']} lanes)"
                      for c in s["cores"]))
