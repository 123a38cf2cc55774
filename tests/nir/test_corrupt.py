"""50+ corrupted or hostile NIR files: each is one `error: ...` line from `hwsnn import-nir`
(an HwsnnError; exit 1, no output file), and all of them together grow the process's peak memory
by less than 200 MiB. The seconds per file are printed (no timing assertion)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("h5py")
HERE = Path(__file__).parent


def test_corrupted_nir_files_are_one_hwsnn_error_line_each(tmp_path):
    proc = subprocess.run([sys.executable, str(HERE / "corrupt_worker.py"), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    files = result["files"]
    assert len(files) >= 50
    for f in files:
        lines = f["stderr"].splitlines()
        assert f["code"] == 1 and len(lines) == 1 and lines[0].startswith("error: "), f
        assert "Traceback" not in f["stderr"] and not f["wrote"], f
    assert result["peak_growth_mib"] < 200, result["peak_growth_mib"]
    slowest = max(files, key=lambda f: f["seconds"])
    print(f"{len(files)} files, slowest {slowest['seconds']:.3f} s ({slowest['name']}), peak RSS "
          f"growth {result['peak_growth_mib']:.1f} MiB")
