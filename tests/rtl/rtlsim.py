"""Helpers shared by the RTL tests."""


import pytest


def need_sim(sim):
    """Skip when simulator `sim` is not installed (the back end then raises BackendUnavailableError)."""
    from hwsnn.errors import BackendUnavailableError
    from hwsnn.sim.benches._runner import check_simulator
    pytest.importorskip("cocotb_tools.runner")
    try:
        check_simulator(sim)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return sim
