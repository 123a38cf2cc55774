"""Ctrl-C during a sharded run (its own module: no other Ray instance runs beside it)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from randnets import random_stbif_net

try:
    import ray  # noqa: F401
except ImportError:  # under HWSNN_REQUIRE_BACKENDS=1 (CI) a missing Ray fails the run
    if os.environ.get("HWSNN_REQUIRE_BACKENDS") == "1":
        raise ImportError("HWSNN_REQUIRE_BACKENDS=1: Ray is missing: pip install 'hwsnn[cluster]'")
    pytest.skip("Ray is not installed: pip install 'hwsnn[cluster]'", allow_module_level=True)


@pytest.mark.slow
def test_ctrl_c_stops_the_cluster_it_started(tmp_path):
    """SIGINT during a sharded `hwsnn eval` ends it (exit 130) and leaves no Ray process."""
    import signal
    import tempfile
    import time

    from hwsnn import ir
    graph = random_stbif_net(3)
    ir.save(graph, str(tmp_path / "net.hwir"))
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(0).integers(0, 17, (200_000, 6)))
    ray_tmp = tempfile.mkdtemp(prefix="hwray", dir="/tmp")  # short: Ray's sockets live there
    env = dict(os.environ, RAY_TMPDIR=ray_tmp)
    cmd = [sys.executable, "-m", "hwsnn.cli", "eval", str(tmp_path / "net.hwir"), "--input",
           str(tmp_path / "x.npz"), "--steps", "3000", "--chunk", "500", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ray_processes():
        ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout
        return [line for line in ps.splitlines() if ray_tmp in line]

    def working():  # the workers' processes are named after the task they run
        ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
        return "ray::_Worker.run" in ps

    deadline = time.time() + 240
    while time.time() < deadline and not (ray_processes() and working()) and proc.poll() is None:
        time.sleep(0.5)  # wait until the head runs and a worker is busy with a shard
    assert proc.poll() is None, proc.communicate()
    assert ray_processes() and working(), "Ray did not start working"
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err  # typer ends a Ctrl-C with exit 130, after our clean-up ran
    for _ in range(40):
        if not ray_processes():
            break
        time.sleep(0.5)
    assert ray_processes() == []
