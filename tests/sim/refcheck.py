"""Hold one golden run to the scalar reference: every record, every variable, atol 0."""

import numpy as np
import pytest

from hwsnn import sim
from hwsnn.errors import RangeError, SimulationError

from scalar_reference import RefOverflow, RefUnsupported, reference_run


def assert_trace_equals_reference(graph, x, steps):
    """Golden == reference on every recorded variable; RangeError exactly when V overflows."""
    try:
        ref = reference_run(graph, x, steps)
    except RefOverflow:
        with pytest.raises(RangeError, match="membrane V reached|CUBALIF input I reached"):
            sim.run(graph, x, steps)
        return None
    except RefUnsupported:
        with pytest.raises(SimulationError):
            sim.run(graph, x, steps)
        return None
    trace = sim.run(graph, x, steps)
    assert trace.steps == ref.steps
    for var in ("V", "S", "y", "U"):
        got_vars, ref_vars = getattr(trace, var), getattr(ref, var)
        assert set(got_vars) == set(ref_vars), var
        for node, got in got_vars.items():
            assert got.dtype.kind == "i", (node, var, got.dtype)  # integers, compared uncast
            want = ref.array(var, node)
            if not np.array_equal(got, want):
                bad = np.argwhere(got != want)[0]
                raise AssertionError(f"{node}.{var} differs first at (record, sample, index) "
                                     f"{tuple(bad)}: golden {got[tuple(bad)]}, reference "
                                     f"{want[tuple(bad)]}")
    for node, fin in trace.final.items():
        assert np.array_equal(fin["V"], ref.array("V", node)[-1]), node
        if node in ref.S:
            assert np.array_equal(fin["S"], ref.array("S", node)[-1]), node
            assert np.array_equal(trace.spikes[node], np.abs(ref.array("y", node)).sum(0)), node
    return ref
