"""Mutation score of the tests: small faults injected one at a time, each run against the tests
that claim to cover it.

    python benchmarks/mutation.py            # a table, one line per mutant
    python benchmarks/mutation.py --json     # {"mutants", "killed", "timeouts", "survived": [...]}
    python benchmarks/mutation.py -k ranges  # only mutants whose `where` contains "ranges"

The mutants (`mutants.py` beside this file) cover the oracle's neuron and synapse rules,
`verify`, the range analysis, the compiler's rounding, the IR loader rules, the energy counts
and each executor's neuron rule (Lava process models, the RTL neuron datapath). Every run works
on a private copy of the sources in a temporary folder (imported first through PYTHONPATH), so a
mutant never touches the working tree, even when this script is killed. A mutant is killed when
its tests fail or run past the per-mutant timeout (a hang counts as killed, and is counted in
"timeouts"). score = killed / (mutants - equivalent).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mutants import MUTANTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "out", ".pytest_cache", "results.xml")


def _copy_tree(tmp):
    """tmp/pkg/hwsnn (the package) and tmp/repo (tests, docs, pyproject.toml: where pytest runs)."""
    shutil.copytree(ROOT / "hwsnn", tmp / "pkg" / "hwsnn", ignore=IGNORE)
    repo = tmp / "repo"
    for name in ("tests", "docs"):
        shutil.copytree(ROOT / name, repo / name, ignore=IGNORE)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, repo / name)


def _target(tmp, where):
    """The copy of repository file `where` (e.g. hwsnn/sim/_neurons.py)."""
    return tmp / "pkg" / where


def _env(tmp):
    env = dict(os.environ)
    env.update(PYTHONPATH=str(tmp / "pkg"), PYTHONDONTWRITEBYTECODE="1", HYPOTHESIS_PROFILE="mutation",
               HWSNN_BUILD=str(tmp / "build"), HWSNN_REQUIRE_BACKENDS="0")
    return env


def _pytest(tmp, tests, timeout, first=True, deselect=()):
    """(outcome, failing tests) of `pytest [-x] tests` in the copy: outcome 'passed', 'failed' or
    'timeout'. The run gets its own process group, ended as a whole on timeout."""
    cmd = [sys.executable, "-m", "pytest", *(["-x"] if first else []), "-q", "-rfE", "-p", "no:cacheprovider",
           "-o", "addopts=", "--timeout", str(timeout), *tests]
    for d in deselect:
        cmd += ["--deselect", d]
    proc = subprocess.Popen(cmd, cwd=tmp / "repo", env=_env(tmp), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=(timeout if first else 4 * timeout) + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", []
    except BaseException:  # Ctrl-C / SIGTERM: end the test run too, then clean up (run's finally)
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    if proc.returncode == 0:
        return "passed", []
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, re.M)
    if not failed:  # a collection error or a crash: its last line
        failed = [out.strip().splitlines()[-1][:200] if out.strip() else f"exit {proc.returncode}"]
    if "Timeout" in out and "+++++++" in out:
        return "timeout", failed
    return "failed", failed


def _apply(path, old, new):
    text = path.read_text()
    n = text.count(old)
    if n != 1:
        raise SystemExit(f"mutation.py: {path.name}: {old!r} occurs {n} times, expected once "
                         f"(the mutant list is out of date)")
    path.write_text(text.replace(old, new))
    return text


def run(mutants, timeout, verbose):
    tmp = Path(tempfile.mkdtemp(prefix="hwsnn-mutation-"))
    rows = []
    try:
        _copy_tree(tmp)
        # the unmutated code: a test that fails already cannot judge a mutant; it is left out
        # of that set's runs and reported ("baseline_failures")
        broken = {}
        for tests in sorted({tuple(m["tests"]) for m in mutants}):
            outcome, failed = _pytest(tmp, list(tests), timeout, first=False)
            if outcome == "timeout":
                raise SystemExit(f"mutation.py: the unmutated code times out on {' '.join(tests)}")
            broken[tests] = [f for f in failed if "::" in f]
            if outcome != "passed" and not broken[tests]:
                raise SystemExit(f"mutation.py: the unmutated code fails {' '.join(tests)}: {failed[0]}")
            if verbose and broken[tests]:
                print(f"baseline: left out (fail unmutated): {' '.join(broken[tests])}", file=sys.stderr)
        for m in mutants:
            path = _target(tmp, m["where"])
            t0 = time.time()
            original = _apply(path, m["old"], m["new"])
            try:
                outcome, failed = _pytest(tmp, m["tests"], timeout, deselect=broken[tuple(m["tests"])])
            finally:
                path.write_text(original)
            rows.append({**m, "outcome": outcome, "by": failed[0] if failed else "",
                         "seconds": round(time.time() - t0, 1)})
            if verbose:
                print(f"{outcome:8s} {rows[-1]['seconds']:6.1f}s {m['where']}: {m['change']}  {rows[-1]['by']}",
                      file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows, sorted({f for fs in broken.values() for f in fs})


def summary(rows, baseline_failures=()):
    killed = [r for r in rows if r["outcome"] in ("failed", "timeout")]
    equivalent = [r for r in rows if r["outcome"] == "passed" and r.get("equivalent")]
    survived = [r for r in rows if r["outcome"] == "passed"]
    denom = len(rows) - len(equivalent)
    return {"mutants": len(rows), "killed": len(killed),
            "timeouts": sum(r["outcome"] == "timeout" for r in rows),
            "equivalent": len(equivalent), "score": round(len(killed) / denom, 4) if denom else 1.0,
            "survived": [{"where": r["where"], "change": r["change"],
                          "reason": r.get("equivalent") or "NOT KILLED: no test fails"} for r in survived],
            "killed_by": [{"where": r["where"], "change": r["change"], "test": r["by"], "outcome": r["outcome"],
                           "seconds": r["seconds"]} for r in killed],
            "baseline_failures": list(baseline_failures)}


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None):
    signal.signal(signal.SIGTERM, _interrupt)  # the copy is removed and no test run left behind
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("-k", default="", help="only mutants whose where/change contains this text")
    ap.add_argument("--timeout", type=int, default=240, help="seconds per mutant (default 240)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if args.k in m["where"] + " " + m["change"]]
    for m in mutants:  # every mutant still applies to the current code
        text = (ROOT / m["where"]).read_text()
        if text.count(m["old"]) != 1:
            raise SystemExit(f"mutation.py: {m['where']}: {m['old']!r} occurs {text.count(m['old'])} "
                             f"times, expected once (the mutant list is out of date)")
    if args.list:
        for m in mutants:
            print(f"{m['where']}: {m['change']}  [{' '.join(m['tests'])}]")
        return 0
    t0 = time.time()
    rows, broken = run(mutants, args.timeout, verbose=True)  # progress on stderr
    s = summary(rows, broken)
    s["seconds"] = round(time.time() - t0, 1)
    if args.json:
        print(json.dumps(s, indent=1))
    else:
        for r in rows:
            print(f"{r['outcome']:8s} {r['where']}: {r['change']}  {r['by']}")
        print(f"{s['killed']}/{s['mutants']} killed ({s['timeouts']} by timeout), {s['equivalent']} equivalent, "
              f"score {s['score']:.3f}, {s['seconds']:.0f} s")
    return 0 if s["score"] >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
