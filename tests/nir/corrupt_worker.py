"""Run `hwsnn import-nir` (the CLI's main) on every file of the corrupted corpus in one process;
print JSON: per file its exit code, stderr, seconds, and the peak RSS growth (MiB) of this process
and of the readers it forks, over this process's warmed-up RSS. Used by test_corrupt.py in a fresh interpreter."""

import contextlib
import io
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from nir_corrupt import make_corpus  # noqa: E402
from nirfiles import small_graph, write_nir  # noqa: E402

from hwsnn.cli.main import main  # noqa: E402


def run_cli(args):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def peak_mib(who=resource.RUSAGE_SELF):
    return resource.getrusage(who).ru_maxrss / 1024


def main_worker(folder):
    files = make_corpus(folder)
    good = write_nir(os.path.join(folder, "good.nir"), *small_graph())
    out = os.path.join(folder, "out.hwir")
    assert run_cli(["import-nir", good, "-o", out, "--dt", "1e-3", "--T", "8"])[0] == 0  # warm-up
    os.unlink(out)
    base = peak_mib()
    rows = []
    for name, path in files:
        t0 = time.perf_counter()
        code, err = run_cli(["import-nir", path, "-o", out, "--dt", "1e-3", "--T", "8"])
        rows.append({"name": name, "code": code, "stderr": err,
                     "seconds": time.perf_counter() - t0, "wrote": os.path.exists(out)})
    # the HDF5 read runs in forked children (hwsnn.nir._guard): their peak RSS counts the pages
    # they share with this process too, so their growth is measured over this process's base
    print(json.dumps({"files": rows, "peak_growth_mib": peak_mib() - base,
                      "child_peak_growth_mib": peak_mib(resource.RUSAGE_CHILDREN) - base}))


if __name__ == "__main__":
    main_worker(sys.argv[1])
