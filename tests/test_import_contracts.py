"""The import contracts (pyproject.toml [tool.importlinter]) hold, and a planted forbidden import
breaks them: `lint-imports`, run from the repository root, is what `make test` runs first."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root):
    """`lint-imports` in `root`, which then reads `root`'s hwsnn (import-linter puts the working
    folder first on sys.path), not the installed one."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=300)


def _copy(tmp_path):
    shutil.copytree(ROOT / "hwsnn", tmp_path / "hwsnn",
                    ignore=shutil.ignore_patterns("__pycache__", "data", "targets"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_hold():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 broken." in r.stdout.split("Contracts:")[-1].splitlines()[0], r.stdout


@pytest.mark.parametrize("where,line,contract", [
    ("hwsnn/mappings/lava/_lower.py", "from hwsnn.sim import Network", "executors are independent of the oracle"),
    ("hwsnn/rtl/_core.py", "import hwsnn.sim._neurons", "executors are independent of the oracle"),
    ("hwsnn/sim/_step.py", "from hwsnn.mappings import lava", "the oracle imports only the IR"),
    ("hwsnn/mappings/place.py", "from hwsnn.energy import count_events", "mappings never imports energy"),
    ("hwsnn/ir/_graph.py", "from hwsnn.compile import compile_qann", "layers"),
], ids=["lava-imports-oracle", "rtl-imports-oracle", "oracle-imports-lava", "mappings-imports-energy",
        "ir-imports-compile"])
def test_a_planted_forbidden_import_fails(tmp_path, where, line, contract):
    root = _copy(tmp_path)
    path = root / where
    path.write_text(path.read_text() + f"\n{line}  # planted\n")
    r = _lint(root)
    assert r.returncode != 0, r.stdout
    broken = r.stdout.split("Broken contracts")[-1]
    module = "hwsnn." + where[:-3].replace("/", ".").removeprefix("hwsnn.")
    assert contract in broken and f"{module} -> " in broken, r.stdout
