"""Wall time and peak memory of `hwsnn demo` (target: under 2 minutes, under 2 GiB).

    .venv/bin/python benchmarks/demo_memory.py [--backends lava,rtl]

Runs the demo in a child process and reads the child's peak resident set size from
getrusage (Linux: kilobytes).
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="lava,rtl")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "hwsnn.cli", "demo", "--out", out, "--quiet",
               "--backends", args.backends]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if proc.returncode:
        print(proc.stdout, proc.stderr, sep="\n")
    print(f"hwsnn demo --backends {args.backends!r}: exit {proc.returncode}, wall {wall:.1f} s "
          f"(target < 120 s), peak RSS {peak_mib:.0f} MiB (target < 2048 MiB)")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
