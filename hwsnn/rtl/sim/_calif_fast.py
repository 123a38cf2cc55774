"""`run_calif_fast`: a Ca-LIF network (window T + settle phase) on the generated testbench
wrapper (_fast_tb.py), the whole batch in one simulation, no Python per clock cycle.

Pass 1, per sample: INIT, T + 1 STEPs with the source events (step T: the window's last
spikes still in flight, and core 0's absorb), SETTLE (steps until the network raises
`settled`), DUMP, with `+quiet` (no monitor records: it only counts). The stat line of every
step says `settle_core` before it, so each sample's settle passes per core are counted from the
hardware. The golden run of a batch gives core L as many settle steps as its slowest sample
needs; pass 2 runs every sample on that explicit schedule, recording every monitor record:
core L's passes as plain STEPs, then pad[b, L] HOLD steps (`hold`: every core keeps its state
and shows it on its monitor). The hardware's `settle_core`/`settled` before every step must
follow that schedule (BackendError naming sample and step otherwise).

Records (as the per-sample bench had them): V{k}, S{k}, Y{k}, OVF{k} (batch, steps, n_k);
DV{k}, DS{k} (batch, n_k) read back after the last step; cycles, phase (batch, steps: -1
window, k settle core k, -3 hold), nsteps (batch,), sops{k}, acc_cycles{k} (batch, steps).
"""

import os
import re
import time

import numpy as np

from hwsnn.errors import BackendError

from ._fast_tb import OP, RecordFormat, parse_records
from ._network_bench import _fast_build, _inp_fields, _pack, binary_records, max_cycles
from ._runner import default_sim, run_bench

__all__ = ["run_calif_fast", "settle_passes", "schedule", "check_phases"]

_STEP_OPS = (OP["STEP"], OP["HOLD"], OP["SETTLE"])
_HOLD = -3


def settle_passes(phase, ncores):
    """(batch, ncores): settle steps each sample spent on each core (absorb + fire passes)."""
    return np.stack([(phase == k).sum(axis=1) for k in range(ncores)], axis=1)


def schedule(passes, pad):
    """One sample's settle steps after step T: [(op, settle_core before, settled before)]:
    core L's passes (the first of core 0 is step T itself), then pad[L] HOLD steps."""
    n, out = len(passes), []
    for k in range(n):
        out += [(OP["STEP"], k, 0)] * (int(passes[k]) - (1 if k == 0 else 0))
        out += [(OP["HOLD"], k + 1, int(k + 1 == n))] * int(pad[k])
    return out


def _commands(events, samples, window, tails, ib, xb):
    """Per sample b: INIT, window + 1 STEPs with their events, then SETTLE (tails[b] None) or
    the steps of `schedule` tails[b], DUMP; then END."""
    op = {k: v << 60 for k, v in OP.items()}
    last = f"{op['EVENT'] | _pack(0, 0, 1, ib, xb):x}"
    steps = window + 1
    lines = []
    for j, b in enumerate(samples):
        ev = events[events[:, 0] == b]
        lines.append(f"{op['INIT']:x}")
        for t in range(steps):
            lines.append(f"{op['STEP']:x}")
            rows = ev[ev[:, 1] == t]
            words = op["EVENT"] | _pack(rows[:, 2], rows[:, 3], 0, ib, xb).astype(np.uint64)
            lines.extend(f"{int(w):x}" for w in words)
            lines.append(last)
        if tails[j] is None:  # step until the network says settled
            lines.append(f"{op['SETTLE']:x}")
        else:
            for code, _, _ in tails[j]:
                lines += [f"{op['STEP' if code == OP['STEP'] else 'HOLD']:x}", last]
        lines.append(f"{op['DUMP']:x}")
    lines.append(f"{op['END']:x}")
    return "\n".join(lines) + "\n"


def _simulate(rtl_net, built, text, sim, settle_limit, quiet):
    """(monitor records or None, stat lines, wall seconds, run folder) of one simulation."""
    runner, build_dir, ports = built
    run_dir = build_dir / f"run-{os.getpid()}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True)
    stim, mon, stat = run_dir / "stim.hex", run_dir / "mon.hex", run_dir / "stat.txt"
    stim.write_text(text)
    t0 = time.time()
    ok = run_bench(runner, "hwsnn_tb", "bench_fast", build_dir, stim, mon, test_dir=run_dir,
                   plusargs=[f"+stim={stim}", f"+mon={mon}", f"+stat={stat}", f"+limit={max_cycles(rtl_net)}",
                             f"+settle_limit={settle_limit}"] + (["+quiet"] if quiet else []))
    wall = time.time() - t0
    if not ok:
        _settle_cap_error(rtl_net, run_dir, stat, sim, settle_limit)
    if not ok or not mon.exists() or not stat.exists():
        raise BackendError(f"rtl ({sim}): the Ca-LIF network testbench failed; see {run_dir / 'sim.log'}")
    rec = None if quiet else parse_records(mon, RecordFormat(ports, len(rtl_net.cores), binary_records(sim)))
    st = np.loadtxt(stat, dtype=np.int64, ndmin=2)
    for p in (stim, mon, stat):
        p.unlink()
    return rec, st, wall, run_dir


def _settle_cap_error(rtl_net, run_dir, stat, sim, settle_limit):
    """BackendError naming the node still settling when the testbench stopped at its settle cap
    (`settle_limit` SETTLE steps of one sample), the sample and the step; nothing otherwise."""
    log = run_dir / "sim.log"
    text = log.read_text(errors="replace") if log.exists() else ""
    m = re.search(r"HWSNN_TB: command \d+ \(SETTLE\) not settled after (\d+) steps, settle_core (\d+)", text)
    if not m:
        return
    n, core = int(m.group(1)), int(m.group(2))
    node = rtl_net.nodes[core] if core < len(rtl_net.nodes) else f"core {core}"
    where = ""
    if stat.exists():  # one stat line per finished command: the samples begun so far
        ops = [line.split()[0] for line in stat.read_text().splitlines() if line.strip()]
        sample = sum(op == str(OP["INIT"]) for op in ops) - 1
        steps = len(ops) - 1 - max(i for i, op in enumerate(ops) if op == str(OP["INIT"]))
        where = f"sample {sample}, step {steps}; "
    raise BackendError(f"rtl ({sim}): node '{node}': the Ca-LIF settle phase still fires after the cap of "
                       f"{settle_limit} settle steps ({where}a settle rule that cannot settle, or raise "
                       f"max_steps)")


def _steps(stat, batch, ncores, where):
    """Per command: op, sample, step index; per (sample, step): cycles, settle state before the
    step, phase; per sample: nsteps, `settled` after the last step (from the stat lines)."""
    op = stat[:, 0]
    sample = np.cumsum(op == OP["INIT"]) - 1
    if len(op) == 0 or op[0] != OP["INIT"] or sample[-1] != batch - 1:
        raise BackendError(f"rtl: expected {batch} samples, the testbench ran {sample[-1] + 1 if len(op) else 0} "
                           f"({where})")
    is_step = np.isin(op, _STEP_OPS)
    cs = np.cumsum(is_step)
    first = np.flatnonzero(op == OP["INIT"])
    step = cs - 1 - (cs[first] - is_step[first])[sample]  # step index of a step command
    nsteps = np.bincount(sample[is_step], minlength=batch)
    steps = int(nsteps.max())
    si, ti = sample[is_step], step[is_step]
    out = {"op": op, "sample": sample, "step": step, "is_step": is_step, "nsteps": nsteps, "at": (si, ti)}
    out["cycles"] = np.zeros((batch, steps), dtype=np.int64)
    out["cycles"][si, ti] = stat[is_step, 1]
    for j, name in enumerate(("settling", "settle_core", "settled")):
        out[name] = np.full((batch, steps), -1, dtype=np.int64)
        out[name][si, ti] = stat[is_step, 2 + 2 * ncores + j]
    out["phase"] = np.where(out["settling"] == 1, out["settle_core"], -1)
    hold = op[is_step] == OP["HOLD"]
    out["phase"][si[hold], ti[hold]] = _HOLD
    out["settled_after"] = stat[op == OP["DUMP"], 2 + 2 * ncores + 2]
    return out


def _assemble(rtl_net, rec, stat, batch, where):
    """Records per sample and step of one recorded run (as in the module docstring)."""
    ncores = len(rtl_net.cores)
    marker = (rec["flags"] & 8) != 0
    if int(marker.sum()) != len(stat) or not marker[-1]:
        raise BackendError(f"rtl: {len(stat)} stat lines but {int(marker.sum())} command markers ({where})")
    s = _steps(stat, batch, ncores, where)
    op, sample, step, is_step = s["op"], s["sample"], s["step"], s["is_step"]
    si, ti = s["at"]
    steps = s["cycles"].shape[1]
    out = {k: s[k] for k in ("nsteps", "cycles", "phase", "settling", "settle_core", "settled", "settled_after")}
    counters = stat[:, 2:2 + 2 * ncores].reshape(len(stat), ncores, 2)
    diff = (counters - np.concatenate([counters[:1], counters[:-1]])) % (1 << 32)  # 32-bit counters wrap
    cmd = np.cumsum(marker) - marker  # command each record belongs to
    is_dump = (rec["flags"] & 4) != 0
    valid = np.zeros((batch, steps, 1), dtype=bool)
    valid[si, ti] = True
    for k, c in enumerate(rtl_net.cores):
        for name, j in ((f"sops{k}", 0), (f"acc_cycles{k}", 1)):
            out[name] = np.zeros((batch, steps), dtype=np.int64)
            out[name][si, ti] = diff[is_step, k, j]
        mine = ~marker & (rec["core"] == k)
        st = mine & ~is_dump & is_step[cmd]
        b, t, i = sample[cmd[st]], step[cmd[st]], rec["index"][st]
        if (i >= c.n).any() or (mine & ~st & ~is_dump).any():
            raise BackendError(f"rtl: core {k} reported a neuron index >= {c.n} or outside a step ({where})")
        seen = np.bincount((b * steps + t) * c.n + i, minlength=batch * steps * c.n).reshape(batch, steps, c.n)
        if (seen != valid).any():
            b0, t0, i0 = map(int, np.argwhere(seen != valid)[0])
            raise BackendError(f"rtl: core {k} reported neuron {i0} {int(seen[b0, t0, i0])} times at "
                               f"sample {b0}, step {t0} (expected {int(valid[b0, t0, 0])})")
        for var, field in (("V", "v"), ("S", "s"), ("Y", "y")):
            out[f"{var}{k}"] = np.zeros((batch, steps, c.n), dtype=np.int64)
            out[f"{var}{k}"][b, t, i] = rec[field][st]
        out[f"OVF{k}"] = np.zeros((batch, steps, c.n), dtype=np.int64)
        out[f"OVF{k}"][b, t, i] = (rec["flags"][st] & 2) >> 1
        d = mine & is_dump
        db, di = sample[cmd[d]], rec["index"][d]
        got = np.bincount(db * c.n + di, minlength=batch * c.n).reshape(batch, c.n)
        if (got != 1).any() or (op[cmd[d]] != OP["DUMP"]).any():
            b0, i0 = map(int, np.argwhere(got != 1)[0]) if (got != 1).any() else (0, 0)
            raise BackendError(f"rtl: core {k} read back neuron {i0} {int(got[b0, i0])} times after "
                               f"sample {b0} (expected once, during the dump)")
        for var, field in (("DV", "v"), ("DS", "s")):
            out[f"{var}{k}"] = np.zeros((batch, c.n), dtype=np.int64)
            out[f"{var}{k}"][db, di] = rec[field][d]
    return out


def check_phases(out, window, sim, tails=None):
    """BackendError naming sample and step where the hardware's settle state is not the one
    the command stream implies (pass 1: window, then settle; pass 2: `tails`' schedule)."""
    for b in range(len(out["nsteps"])):
        n = int(out["nsteps"][b])
        settling = out["settling"][b, :n]
        bad = np.flatnonzero(settling != (np.arange(n) >= window))
        if len(bad):
            raise BackendError(f"rtl ({sim}): sample {b}, step {bad[0]}: settling = {settling[bad[0]]} before "
                               f"the step, expected {int(bad[0] >= window)} (window T = {window})")
        if tails is not None:
            want = [(0, 0)] + [(c, s) for _, c, s in tails[b]]  # step T: core 0, not settled
            if n != window + len(want):
                raise BackendError(f"rtl ({sim}): sample {b} ran {n} steps, the schedule has {window + len(want)}")
            for t, (c, s) in enumerate(want, start=window):
                got = (int(out["settle_core"][b, t]), int(out["settled"][b, t]))
                if got != (c, s):
                    raise BackendError(f"rtl ({sim}): sample {b}, step {t}: settle_core/settled = {got} before "
                                       f"the step, the batch schedule expects {(c, s)}")
        if out["settled_after"][b] != 1:
            raise BackendError(f"rtl ({sim}): sample {b}: not settled after its {n} steps")


def run_calif_fast(rtl_net, events, batch, window, sim=None, settle_limit=100000, _mutate_ge=False):
    """Run the Ca-LIF `rtl_net` (window T = `window`) on `events` ((sample, step, index,
    value) rows, steps 0..T) for `batch` samples. Returns (records, info): records as in the
    module docstring, aligned with the golden batch (every sample the same number of steps);
    info: passes (batch, cores) settle passes per core, sim_seconds (both passes),
    build_seconds, cycles (pass 2), measure_seconds (pass 1)."""
    sim = default_sim(sim)
    events = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    ncores = len(rtl_net.cores)
    t0 = time.time()
    built = _fast_build(rtl_net, sim, _mutate_ge)  # (runner, build folder, ports), cached by design
    t_build = time.time() - t0
    ports = built[2]
    if not RecordFormat(ports, ncores).dump or "settle_core" not in ports:
        raise BackendError(f"rtl ({sim}): a Ca-LIF network needs the dump and settle ports")
    fields = _inp_fields(rtl_net, ports["inp__payload"][1])
    # pass 1 (no monitor records): each sample's settle passes per core, as the hardware counts them
    text = _commands(events, range(batch), window, [None] * batch, *fields)
    _, stat, wall1, where = _simulate(rtl_net, built, text, sim, settle_limit, quiet=True)
    measured = _steps(stat, batch, ncores, where)
    check_phases(measured, window, sim)
    passes = settle_passes(measured["phase"], ncores)
    pad = passes.max(axis=0)[None, :] - passes
    # pass 2 (every record): the batch-aligned schedule, hold steps run in the hardware
    tails = [schedule(passes[b], pad[b]) for b in range(batch)]
    text = _commands(events, range(batch), window, tails, *fields)
    rec, stat, wall2, where = _simulate(rtl_net, built, text, sim, settle_limit, quiet=False)
    out = _assemble(rtl_net, rec, stat, batch, where)
    check_phases(out, window, sim, tails)
    info = {"passes": passes, "sim_seconds": wall1 + wall2, "measure_seconds": wall1, "build_seconds": t_build,
            "cycles": int(out["cycles"].sum())}
    return out, info
