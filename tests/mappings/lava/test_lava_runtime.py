"""Lava's runtime is always stopped: after success, a failing process model and Ctrl-C, no
worker process survives and no multiprocessing temp folder (pymp-*) is left; a missing Lava
install is one clear error."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytest.importorskip("hwsnn.mappings.lava")
pytestmark = [pytest.mark.lava, pytest.mark.timeout(300)]  # a hang fails, never blocks

HERE = os.path.dirname(os.path.abspath(__file__))

PRELUDE = textwrap.dedent(f"""
    import multiprocessing, sys
    sys.path.insert(0, {HERE!r})
    import numpy as np
    from lava_nets import make
    from hwsnn.mappings import lava
    from hwsnn.mappings.lava.procs.neurons import STBIFModel
    graph, x, steps = make("STBIF-dense", seed=1)

    class Broken(STBIFModel):
        def step(self, I, t):
            if t == 3:
                raise ValueError("model broke at t=3")
            return super().step(I, t)
""")


def _run_script(body, tmp_path, timeout=120):
    env = dict(os.environ, TMPDIR=str(tmp_path))  # multiprocessing puts pymp-* here
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(body)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _leftovers(tmp_path):
    return sorted(p for p in os.listdir(tmp_path) if p.startswith(("pymp-", "hwsnn-lava-")))


def test_runtime_stopped_after_success_and_after_a_failing_model(tmp_path):
    r = _run_script("""
        from hwsnn.errors import BackendError
        tr = lava.run(graph, x, steps)
        print("ran", tr.steps, len(multiprocessing.active_children()))
        try:
            lava.run(graph, x, steps, models={"STBIF": Broken})
        except BackendError as exc:
            print("error", str(exc).splitlines()[0])
        print("children", len(multiprocessing.active_children()))
        tr = lava.run(graph, x, steps)  # a fresh runtime still works
        print("again", tr.steps)
    """, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    assert lines[0] == f"ran 14 0"
    assert lines[1] == ("error lava: the process model of node 'n1' failed at step 3: ValueError: "
                        "model broke at t=3")
    assert lines[2:] == ["children 0", "again 14"]
    assert _leftovers(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_runtime(tmp_path):
    body = PRELUDE + textwrap.dedent("""
        lava.run(graph, x, 2)  # imports done
        print("start", flush=True)
        lava.run(graph, x, 10 ** 7)
    """)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", body], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert p.stdout.readline().strip() == "start"
        time.sleep(3)  # compiling, starting workers or running (each is handled)
        os.killpg(p.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        _, err = p.communicate(timeout=60)
        assert p.returncode != 0 and "KeyboardInterrupt" in err
        for _ in range(100):  # a worker may linger a moment as a zombie until init reaps it
            try:
                os.killpg(p.pid, 0)
            except ProcessLookupError:
                break  # no process of that group is left
            time.sleep(0.1)
        else:
            pytest.fail("Lava worker processes survived Ctrl-C")
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert _leftovers(tmp_path) == []


def test_missing_lava_is_one_clear_error(tmp_path):
    code = textwrap.dedent("""
        import sys
        sys.modules["lava"] = None  # as if lava-nc were not installed
        import numpy as np
        from hwsnn.errors import BackendUnavailableError
        from hwsnn.backends import get_backend
        try:
            get_backend("lava")(None, np.zeros((1, 2)), 3)
        except BackendUnavailableError as exc:
            print(exc)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout == ("the Lava back end needs lava-nc 0.10.0, which cannot be imported "
                        "(ModuleNotFoundError: No module named 'lava.magma'; 'lava' is not a "
                        "package); install it with: pip install --no-deps --ignore-requires-python "
                        "lava-nc==0.10.0\n")


def test_lava_runs_after_the_start_method_was_fixed(tmp_path):
    # a tqdm bar or torch.fx fixes multiprocessing's start method; Lava's own unconditional
    # set_start_method('fork') at import must not then fail with "context has already been set"
    script = textwrap.dedent(f"""
        import multiprocessing, sys
        multiprocessing.set_start_method("fork")   # before Lava is imported
        sys.path.insert(0, {HERE!r})
        from lava_nets import make
        from hwsnn.mappings import lava
        graph, x, steps = make("STBIF-dense", seed=1)
        tr = lava.run(graph, x, steps)
        print("ran", tr.steps)
    """)
    env = dict(os.environ, TMPDIR=str(tmp_path))
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[-1].isdigit() and r.stdout.split()[-2] == "ran"
