"""HWSNN_REQUIRE_BACKENDS=1 (what CI sets, `.ci/run`): a missing back end fails the run.

Without the switch, a test whose back end (lava-nc, Icarus Verilog, Verilator, cocotb) is not
installed skips. With it, the run stops before collecting with one line naming everything that
is missing (`check_session`, called by tests/conftest.py), and any skip left (an
`importorskip`, `need_sim`, `pytest.skip`) is reported as a failure (the hooks below, also
usable alone as a plugin: `pytest -p require_backends`).
"""

import os

import pytest

__all__ = ["SWITCH", "required", "missing_backends", "check_session", "need"]

SWITCH = "HWSNN_REQUIRE_BACKENDS"


def required():
    """True when the switch is "1"; UsageError for any value other than "", "0", "1"."""
    value = os.environ.get(SWITCH, "")
    if value not in ("", "0", "1"):
        raise pytest.UsageError(f"{SWITCH} must be 0 or 1, not {value!r}")
    return value == "1"


def missing_backends():
    """[(back end, why it cannot run)] for Lava, Icarus and Verilator (cocotb for both)."""
    from hwsnn.errors import BackendUnavailableError
    missing = []
    try:
        from hwsnn.mappings.lava import require_lava
        require_lava()
    except (ImportError, BackendUnavailableError) as exc:
        missing.append(("lava", str(exc)))
    from hwsnn.rtl.sim._runner import check_simulator
    for sim in ("icarus", "verilator"):
        try:
            check_simulator(sim)
        except BackendUnavailableError as exc:
            missing.append((sim, str(exc)))
    return missing


def check_session():
    """Under the switch: UsageError (one line, exit 4) naming every missing back end."""
    if not required():
        return
    missing = missing_backends()
    if missing:
        raise pytest.UsageError(f"{SWITCH}=1 but back ends are missing: "
                                + "; ".join(f"{name} ({why})" for name, why in missing))


def need(backend):
    """In a test: skip (fail under the switch) unless `backend` ("lava", "icarus",
    "verilator") can run; returns its name."""
    why = dict(missing_backends()).get(backend)
    if why is not None:
        pytest.skip(why)
    return backend


def _as_failure(report, what):
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"{SWITCH}=1: {what} may not skip: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and required() and not _no_gpu_ok(item):
        _as_failure(report, f"test {item.nodeid}")


def _no_gpu_ok(item):
    """A test marked `gpu` may skip where this machine has no CUDA device (CI has none); the
    switch is about back ends that the set-up installs, and a GPU is not one of them."""
    if item.get_closest_marker("gpu") is None:
        return False
    import torch
    return not torch.cuda.is_available()


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and required():
        _as_failure(report, f"module {collector.nodeid}")
