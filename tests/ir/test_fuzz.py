"""Fuzz: every corrupted IR file fails with one clean HwsnnError that names the file, the same
on every run, within 1 s of CPU and 200 MB of memory; `hwsnn inspect` prints one line, exit 1.

The corruptions (seeded, several hundred) are made by ir_corrupt.cases: byte flips,
truncation, ZIP tricks, zip bombs, .npy tricks and header.json mutations.
"""

import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.errors import HwsnnError
from ir_corrupt import base_graph, cases

MAX_CPU_S = 1.0
MAX_BYTES = 200 << 20


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    files = []
    for i, (label, data, must_fail) in enumerate(cases(tmp, seed=0)):
        path = tmp / f"case{i:04d}.hwir"
        path.write_bytes(data)
        files.append((label, path, must_fail))
    return files


def _same_graph(a, b):
    ha, aa = ir.to_dict(a)
    hb, ab = ir.to_dict(b)
    return ha == hb and aa.keys() == ab.keys() and all(
        aa[k].dtype == ab[k].dtype and np.array_equal(aa[k], ab[k]) for k in aa)


def _load(path):
    """(graph or None, 'ErrorClass: message' or None, cpu seconds, peak bytes)."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    t0 = time.process_time()
    try:
        return ir.load(path), None, time.process_time() - t0, tracemalloc.get_traced_memory()[1] - before
    except HwsnnError as exc:
        err = f"{type(exc).__name__}: {exc}"
        return None, err, time.process_time() - t0, tracemalloc.get_traced_memory()[1] - before


def test_memory_measure_sees_numpy_arrays():
    """The peak measure below would notice a loader that allocates: numpy reports its buffers
    to tracemalloc."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        a = np.ones(50 << 20, np.int8)
        del a
        assert tracemalloc.get_traced_memory()[1] - before >= 50 << 20
    finally:
        tracemalloc.stop()


def test_only_hwsnn_errors_escape_load(corpus, record_property):
    original = base_graph()
    problems, worst_cpu, worst_mem, loaded = [], (0.0, ""), (0, ""), 0
    t_all = time.perf_counter()
    tracemalloc.start()
    try:
        for label, path, must_fail in corpus:
            try:
                with warnings.catch_warnings(record=True) as warned:
                    warnings.simplefilter("always")  # a warning would be a second CLI line
                    graph, err, cpu, mem = _load(path)
            except Exception as exc:  # noqa: BLE001 - the point of the test
                problems.append(f"{label}: escaped {type(exc).__name__}: {exc}")
                continue
            if warned:
                problems.append(f"{label}: warned {warned[0].category.__name__}: {warned[0].message}")
            worst_cpu = max(worst_cpu, (cpu, label))
            worst_mem = max(worst_mem, (mem, label))
            if cpu > MAX_CPU_S or mem > MAX_BYTES:
                problems.append(f"{label}: took {cpu:.2f} s CPU, {mem / 2**20:.0f} MiB")
            if err is None:
                loaded += 1
                if must_fail:
                    problems.append(f"{label}: loaded silently")
                elif not _same_graph(graph, original):
                    problems.append(f"{label}: loaded a different graph")
                continue
            msg = err.split(": ", 1)[1]
            if not msg.startswith(f"{path}: ") or "\n" in msg:
                problems.append(f"{label}: message must start with the path, on one line: {msg!r}")
            again = _load(path)[1]
            if again != err:
                problems.append(f"{label}: a second load gave {again!r}, not {err!r}")
    finally:
        tracemalloc.stop()
    record_property("cases", len(corpus))
    print(f"\n{len(corpus)} cases in {time.perf_counter() - t_all:.1f} s; {loaded} loaded unchanged; "
          f"worst CPU {worst_cpu[0]:.3f} s ({worst_cpu[1]}), worst memory "
          f"{worst_mem[0] / 2**20:.1f} MiB ({worst_mem[1]})")
    assert len(corpus) >= 300
    assert not problems, "\n".join(problems[:30])


# the kinds of file the first fuzz of 437 files crashed on or loaded silently, each pinned
PINNED = {
    "R '1'": "node 'in': R must be an integer in [1, 1048576], not '1'",
    "R 1.5": "node 'in': R must be an integer in [1, 1048576], not 1.5",
    "s_max None": "node 'n1': s_max must be an integer in [0, 140737488355327], not None",
    "s_max 8.5": "node 'n1': s_max must be an integer in [0, 140737488355327], not 8.5",
    "stride 0": "node 'c': stride must be a list of 2 integers in [1, 65536], not [0, 1]",
    "Infinity in a shape": "header.json is not valid JSON: Infinity is not allowed in an IR header",
    "meta nested 5000": "header.json nests arrays/objects deeper than 64 levels",
    "meta nested 200": "header.json nests arrays/objects deeper than 64 levels",
    "arrays list": "node 'd' (Dense) arrays must be an object with keys ['W'], not [{'key': ",
    "method 12 on d.W.npy": "member 'd.W.npy' uses compression method 12; expected 0 (stored) or 8 (deflated)",
    "method 99 on header.json": "member 'header.json' uses compression method 99; expected 0",
    "flags 0x1 on n4.theta.npy": "member 'n4.theta.npy' is encrypted; IR members are plain",
    "npy shape 10^13": "member 'd.W.npy' has shape [10000000000000], header.json says [5, 36]",
    "header bomb 2 GiB, true size": re.compile(r"member 'header\.json' declares 21474\d{5} uncompressed "
                                               r"bytes, more than the 2097152 a header may hold$"),
    "header bomb 2 GiB, lying size": "not a readable hwsnn IR file (truncated or corrupt: member "
                                     "'header.json': BadZipFile: Bad CRC-32",
    "array bomb 2 GiB, true size": "member 'd.W.npy' declares 2147483776 uncompressed bytes, more "
                                   "than the 4276 its shape [5, 36] of int8 needs with a .npy header",
    "missing key nodes/4/params/s_max": "node 'n2' (IF) params: missing key 's_max'",
    "missing key edges/0/delay": "edges[0]: missing key 'delay'",
    "array bits 16": "node 'd': array W declares bits 16, expected the node's w_bits = 8",
    "values outside declared bits": "node 'c': array W ('c.W') holds values in [100, 100], outside "
                                    "its declared bits 4 [-8, 7]",
    "npy int16": "member 'd.W.npy' is stored as dtype int16; its declared bits need int8",
    "source shape [1.5, 6, 6]": "node 'in': shape must be a list of 1 to 8 integers in [1, 65536], not [1.5, 6, 6]",
    "delay '0'": "edges[0]: delay must be 0 or 1, not '0'",
    "delay 0.5": "edges[0]: delay must be 0 or 1, not 0.5",
    "delay True": "edges[0]: delay must be 0 or 1, not True",
    "duplicate node name": "nodes[4]: name 'n1' is already used by nodes[2]",
    "30000 members": re.compile(r"ZIP central directory of \d+ bytes is larger than the 1048576 "
                                r"an IR file may have$"),
}


def test_pinned_messages(corpus):
    by_label = {label: path for label, path, _ in corpus}
    for label, want in PINNED.items():
        path = by_label[label]
        with pytest.raises(HwsnnError) as exc:
            ir.load(path)
        msg = str(exc.value)
        assert msg.startswith(f"{path}: "), (label, msg)
        msg = msg[len(f"{path}: "):]
        assert want.match(msg) if isinstance(want, re.Pattern) else msg.startswith(want), (label, msg)


def _inspect_in_process(path, capsys):
    from hwsnn.cli.main import main
    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(path)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_inspect_prints_one_line_in_process(corpus, capsys):
    failing = [(label, path) for label, path, must_fail in corpus if must_fail][::5]
    assert len(failing) >= 60
    for label, path in failing:
        code, out, err = _inspect_in_process(path, capsys)
        lines = (out + err).splitlines()
        assert code == 1 and out == "" and len(lines) == 1, (label, out, err)
        assert lines[0].startswith(f"error: {path}: "), (label, lines)


def test_inspect_subprocess_and_hash_seed(corpus):
    """`hwsnn inspect` as a user runs it: one line, exit 1; and the message of every corrupt
    file is the same under other PYTHONHASHSEEDs (no set order leaks into messages)."""
    failing = [(label, path) for label, path, must_fail in corpus if must_fail]
    want = {}
    for label, path in failing:
        with pytest.raises(HwsnnError) as exc:
            ir.load(path)
        want[str(path)] = f"{type(exc.value).__name__}: {exc.value}"
    picks = [p for label, p in failing if label in ("method 12 on d.W.npy", "header bomb 2 GiB, true size")]
    assert len(picks) == 2
    for seed, path in zip(("1", "2"), picks):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env.pop("HWSNN_DEBUG", None)
        r = subprocess.run([sys.executable, "-m", "hwsnn.cli", "inspect", str(path)], env=env,
                           capture_output=True, text=True, timeout=120)
        lines = (r.stdout + r.stderr).splitlines()
        assert r.returncode == 1 and len(lines) == 1, (path, r.stdout, r.stderr)
        assert lines[0] == "error: " + want[str(path)].split(": ", 1)[1]
    script = ("import json, sys\nfrom hwsnn import ir\nfrom hwsnn.errors import HwsnnError\nout = {}\n"
              "for p in sys.argv[1:]:\n    try:\n        ir.load(p)\n        out[p] = None\n"
              "    except HwsnnError as e:\n        out[p] = f'{type(e).__name__}: {e}'\n"
              "print(json.dumps(out))\n")
    for seed in ("12345",):
        r = subprocess.run([sys.executable, "-c", script, *want], capture_output=True, text=True,
                           env=dict(os.environ, PYTHONHASHSEED=seed), timeout=300)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout)
        diff = [p for p in want if got[p] != want[p]]
        assert not diff, [(p, want[p], got[p]) for p in diff[:5]]
