"""Check the import contracts (pyproject.toml [tool.importlinter]) with import-linter.

hwsnn installs `rtl/`, `mappings/` and `sim/` as `hwsnn.rtl`, `hwsnn.mappings`, `hwsnn.sim`
(pyproject's package-dir map). import-linter reads a package from one folder, so this script
lays the sources out as installed (a copy in a temporary folder) and runs `lint-imports` there.

    python scripts/lint_imports.py [--root REPO]     exit 0 when every contract holds
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FOLDERS = {"hwsnn": "hwsnn", "rtl": "hwsnn/rtl", "mappings": "hwsnn/mappings", "sim": "hwsnn/sim"}


def lay_out(root, dest):
    """Copy the Python sources of `root` into `dest` as the installed package tree."""
    for src, to in FOLDERS.items():
        shutil.copytree(root / src, dest / to, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "data", "targets"))


def main(argv=None):
    here = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", type=Path, default=here, help="repository to check (default: this one)")
    args = p.parse_args(argv)
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        print("error: lint-imports is not installed (pip install import-linter; `make test` does)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="hwsnn-lint-") as tmp:
        lay_out(args.root.resolve(), Path(tmp))
        env = {**os.environ, "PYTHONPATH": tmp}
        cmd = [str(lint), str(args.root.resolve() / "pyproject.toml"), "--no-cache"]
        return subprocess.run(cmd, cwd=tmp, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
