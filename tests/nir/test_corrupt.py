"""50+ corrupted or hostile NIR files: each is one `error: ...` line from `hwsnn import-nir`
(an HwsnnError; exit 1, no output file), and neither the process nor the readers it forks
(hwsnn.nir._guard) grow their peak memory by 200 MiB. The seconds per file are printed (no timing
assertion; the guard stops a read after 0.5 s of CPU, tested with a read that spins)."""

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
    assert result["peak_growth_mib"] < 200, result
    assert result["child_peak_growth_mib"] < 200, result
    slowest = max(files, key=lambda f: f["seconds"])
    print(f"{len(files)} files, slowest {slowest['seconds']:.3f} s ({slowest['name']}), peak RSS "
          f"growth {result['peak_growth_mib']:.1f} MiB, of the forked readers "
          f"{result['child_peak_growth_mib']:.1f} MiB")


def _sleep_forever(path):
    import time
    time.sleep(60)


def _crash(path):
    import os
    import signal
    os.kill(os.getpid(), signal.SIGKILL)   # as a crash, without a fault handler's dump


def test_a_read_that_hangs_or_crashes_is_one_error(tmp_path, monkeypatch):
    import os

    from hwsnn.errors import NIRError
    from hwsnn.nir import _guard

    if not hasattr(os, "fork"):
        pytest.skip("the guard needs os.fork")
    monkeypatch.setattr(_guard, "WALL_SECONDS", 0.3)   # sleeping uses no CPU
    with pytest.raises(NIRError, match=r"'x.nir' cannot be read: the HDF5 read took more than 0.3 s"):
        _guard.guarded(_sleep_forever, "x.nir")
    with pytest.raises(NIRError, match=r"'x.nir' cannot be read: the HDF5 library failed \(signal 9\)"):
        _guard.guarded(_crash, "x.nir")


def test_the_guarded_read_returns_what_the_direct_read_does():
    from importlib import resources

    import numpy as np

    from hwsnn.nir._h5 import read_file, read_raw

    with resources.as_file(resources.files("hwsnn.data") / "snntorch_digits.nir") as p:
        a, b = read_file(p), read_raw(str(p))
    assert a["version"] == b["version"] and a["edges"] == b["edges"] and a["nodes"].keys() == b["nodes"].keys()
    for name, node in a["nodes"].items():
        for key, value in node.items():
            other = b["nodes"][name][key]
            assert (np.array_equal(value, other) and value.dtype == other.dtype) \
                if isinstance(value, np.ndarray) else value == other


def _spin(path):
    while True:
        pass


def _allocate(path):
    import numpy as np
    return np.ones((400 << 20) // 8)   # 400 MiB


def test_the_read_is_capped_in_cpu_time_and_memory(monkeypatch):
    import os

    from hwsnn.errors import NIRError
    from hwsnn.nir import _guard

    if not hasattr(os, "fork"):
        pytest.skip("the guard needs os.fork")
    with pytest.raises(NIRError, match=r"'x.nir' cannot be read: the HDF5 read took more than 0.5 s"):
        _guard.guarded(_spin, "x.nir")
    with pytest.raises(NIRError, match=r"'x.nir': reading it needs more than the memory cap"):
        _guard.guarded(_allocate, "x.nir")


def test_random_byte_damage_imports_or_is_one_nir_error(tmp_path):
    """60 valid files with 1-7 random bytes changed: each imports or raises an HwsnnError (one line),
    never another exception, a hang or a crash."""
    import numpy as np

    from hwsnn.errors import HwsnnError
    from hwsnn.nir import import_nir

    sys.path.insert(0, str(HERE))
    from nirfiles import small_graph, write_nir

    base = write_nir(tmp_path / "base.nir", *small_graph()).read_bytes()
    rng = np.random.default_rng(7)
    outcomes = {"imported": 0, "error": 0}
    for i in range(60):
        blob = bytearray(base)
        for _ in range(rng.integers(1, 8)):
            blob[rng.integers(0, len(blob))] = rng.integers(0, 256)
        path = tmp_path / f"f{i}.nir"
        path.write_bytes(bytes(blob))
        try:
            import_nir(path, dt=1e-3, T=8)
            outcomes["imported"] += 1
        except HwsnnError as exc:
            assert "\n" not in str(exc)
            outcomes["error"] += 1
    print(outcomes)
    assert outcomes["error"] > 0
