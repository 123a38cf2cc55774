"""Runners of the network benches: RtlNetwork + source events -> Verilog -> cocotb -> records.

The events are computed by the caller (`hwsnn.mappings.rtl` builds them from the IR), never
here. Two paths return the same records:

- `run_network_fast`: the generated `hwsnn_tb` wrapper (_fast_tb.py) runs the whole batch in
  the simulator (clock, command file, monitor file), no Python per cycle. The build is cached
  by a hash of the design (`design_key`); the inputs are a run-time file, so a second run of
  the same design, on any inputs, does not rebuild.
- `run_network_bench`: the per-cycle cocotb bench (bench_network.py), for small unit benches
  and as the peer of speed measurements.

Records: V{k}, S{k}, Y{k}, OVF{k} (batch, steps, n_k; U{k} too for a CUBA-LIF core); cycles (batch, steps); sops{k},
acc_cycles{k} (batch, steps); with a network that has `dump`: DV{k}, DS{k} (batch, n_k), the
V and S memories read back after each sample's last step.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from hwsnn.errors import BackendError

from ._fast_tb import OP, RECORDS_CPP, VERILATOR_ARGS, RecordFormat, network_ports, parse_records, tb_verilog
from ._runner import BUILD_ROOT, build, check_simulator, default_sim, run_bench, write_verilog

__all__ = ["run_network_fast", "run_network_bench", "network_verilog", "design_key", "max_cycles",
           "binary_records"]


LARGE_VERILOG = 2_000_000  # characters of network Verilog above which Verilator's C++ is built at -O1


def design_key(configs, _mutate_ge=False):
    """Hash of everything the Verilog depends on: core parameters, memory images, RTL sources,
    the testbench generator and the build flags."""
    import hwsnn.rtl
    h = hashlib.sha1(repr(_mutate_ge).encode())
    for src in sorted(Path(hwsnn.rtl.__file__).parent.glob("_*.py")):
        h.update(src.read_bytes())
    for name in ("_fast_tb.py", "_network_bench.py", "_runner.py"):  # the bench and the build flags
        h.update(Path(__file__).with_name(name).read_bytes())
    h.update(RECORDS_CPP.read_bytes())
    for c in configs:
        if hasattr(c, "fingerprint"):
            h.update(c.fingerprint())  # every parameter and memory image of the core (rtl-hw)
        else:
            h.update(repr((sorted(c.summary().items()), c.s_min, c.s_max, c.in_bound)).encode())
            for arr in (c.weights, c.theta, c.v0):
                h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        for lane in range(c.lanes):  # what the weight memories are loaded with (tests may alter it)
            h.update(np.ascontiguousarray(c.weight_image(lane), dtype=np.int64).tobytes())
    return h.hexdigest()[:12]


def network_verilog(rtl_net, path, _mutate_ge=False):
    """Write the network's Verilog to `path`, its read-only memories as image files in `mem/`
    beside it (`hwsnn.rtl._rom`: loaded by $readmemh, not inline; the read-write ones
    `hwsnn_ram` instances without initial contents). Returns (text, sources):
    every Verilog file the simulator needs."""
    from hwsnn.rtl import Network
    from hwsnn.rtl._rom import RomFiles
    rom = RomFiles(Path(path).parent / "mem")
    text = write_verilog(Network(rtl_net.cores, rom=rom, _mutate_ge=_mutate_ge), "hwsnn_network", path)
    return text, [Path(path), rom.module_path(), rom.ram_module_path()]


def max_cycles(rtl_net):
    """Watchdog of one command: (rows of events) x groups + neurons + a few cycles per core."""
    return 64 + 4 * sum((c.rows + 1) * c.groups + c.n + 8 for c in rtl_net.cores)


def _pack(index, value, last, ib, xb):
    return index | ((value & ((1 << xb) - 1)) << ib) | (last << (ib + xb))


def _inp_fields(rtl_net, payload_bits):
    """(index bits, value bits) of an `inp` event: the index addresses the Source's values."""
    n_src = int(np.prod(rtl_net.graph.nodes[rtl_net.source].shape))
    ib = max(1, (n_src - 1).bit_length())
    xb = payload_bits - ib - 1
    if xb < 1:
        raise BackendError(f"rtl: inp payload of {payload_bits} bits cannot hold a {ib}-bit index")
    return ib, xb


def _commands(events, batch, steps, dump, ib, xb):
    """The command file text: per sample INIT, `steps` x (STEP, its events, last), [DUMP]; END."""
    op = {k: v << 60 for k, v in OP.items()}
    words = np.full(len(events), op["EVENT"], dtype=np.uint64)
    if len(events):
        words |= _pack(events[:, 2], events[:, 3], 0, ib, xb).astype(np.uint64)
    # where each (sample, step) block of events starts in the sorted event list
    keys = events[:, 0] * steps + events[:, 1] if len(events) else np.zeros(0, np.int64)
    bounds = np.searchsorted(keys, np.arange(batch * steps + 1))
    lines = []
    last = f"{op['EVENT'] | _pack(0, 0, 1, ib, xb):x}"
    for b in range(batch):
        lines.append(f"{op['INIT']:x}")
        for t in range(steps):
            lines.append(f"{op['STEP']:x}")
            lo, hi = bounds[b * steps + t], bounds[b * steps + t + 1]
            lines.extend(f"{int(w):x}" for w in words[lo:hi])
            lines.append(last)
        if dump:
            lines.append(f"{op['DUMP']:x}")
    lines.append(f"{op['END']:x}")
    return "\n".join(lines) + "\n"


def _fast_build(rtl_net, sim, _mutate_ge):
    """(runner, build_dir, ports) of the wrapped network, built once per design and simulator."""
    from cocotb_tools.runner import get_runner
    key = design_key(rtl_net.cores, _mutate_ge)
    build_dir = BUILD_ROOT / "rtl-fast" / f"{sim}-{key}"
    stamp = build_dir / "built.ok"
    if stamp.exists():
        check_simulator(sim)
        return get_runner(sim), build_dir, json.loads((build_dir / "ports.json").read_text())
    build_dir.mkdir(parents=True, exist_ok=True)
    with _build_lock(build_dir):  # processes sharing the cache (Ray workers) build it once
        if stamp.exists():
            check_simulator(sim)
            return get_runner(sim), build_dir, json.loads((build_dir / "ports.json").read_text())
        return _fast_build_locked(rtl_net, sim, _mutate_ge, key, build_dir, stamp)


@contextlib.contextmanager
def _build_lock(build_dir):
    with open(build_dir / "build.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _fast_build_locked(rtl_net, sim, _mutate_ge, key, build_dir, stamp):
    net_v = build_dir / "hwsnn_network.v"
    t0 = time.time()
    text, sources = network_verilog(rtl_net, net_v, _mutate_ge)
    t_emit = time.time() - t0
    ports = network_ports(text)
    tb_v = build_dir / "hwsnn_tb.v"
    tb_v.write_text(tb_verilog(ports, len(rtl_net.cores), binary=binary_records(sim), burst_clock=sim == "verilator"))
    extra = list(VERILATOR_ARGS) + [str(RECORDS_CPP)] if sim == "verilator" else []
    t0 = time.time()
    large = len(text) > LARGE_VERILOG  # gcc -O3 on its huge eval functions takes many minutes
    runner = build(sources + [tb_v], "hwsnn_tb", build_dir, sim, extra_args=extra,
                   opt="-O1" if large else "-O3", jobs=2 if large else 1)
    times = {"emit_seconds": round(t_emit, 2), "compile_seconds": round(time.time() - t0, 2),
             "cxx_opt": "-O1" if large else "-O3"}
    (build_dir / "build_times.json").write_text(json.dumps(times))
    (build_dir / "ports.json").write_text(json.dumps(ports))
    stamp.write_text(key)
    return runner, build_dir, ports


def binary_records(sim):
    """Whether the wrapper built for `sim` writes binary records (DPI-C: Verilator only)."""
    return sim == "verilator"


def run_network_fast(rtl_net, events, batch, steps, sim=None, _mutate_ge=False):
    """Run the RTL of `rtl_net` on `events` ((sample, step, index, value) int rows, sorted) for
    `batch` samples of `steps` steps, all in one simulation. Returns (records, info); info:
    build_dir, wall seconds of the simulation, simulated cycles, whether V/S were read back,
    the build's emit_seconds (Amaranth + yosys) and compile_seconds (simulator build)."""
    sim = default_sim(sim)
    t_build = time.time()
    runner, build_dir, ports = _fast_build(rtl_net, sim, _mutate_ge)
    t_build = time.time() - t_build
    ncores = len(rtl_net.cores)
    fmt = RecordFormat(ports, ncores, binary_records(sim))
    events = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    run_dir = build_dir / f"run-{os.getpid()}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True)
    stim, mon, stat = run_dir / "stim.hex", run_dir / "mon.hex", run_dir / "stat.txt"
    ib, xb = _inp_fields(rtl_net, ports["inp__payload"][1])
    stim.write_text(_commands(events, batch, steps, fmt.dump, ib, xb))
    t0 = time.time()
    ok = run_bench(runner, "hwsnn_tb", "bench_fast", build_dir, stim, mon, test_dir=run_dir,
                   plusargs=[f"+stim={stim}", f"+mon={mon}", f"+stat={stat}", f"+limit={max_cycles(rtl_net)}"])
    wall = time.time() - t0
    if not ok or not mon.exists() or not stat.exists():
        raise BackendError(f"rtl ({sim}): the network testbench failed; see {run_dir / 'sim.log'}")
    t_parse = time.time()
    records = _assemble(rtl_net, parse_records(mon, fmt), np.loadtxt(stat, dtype=np.int64, ndmin=2),
                        batch, steps, fmt.dump, run_dir)
    info = {"build_dir": str(build_dir), "sim_seconds": wall, "cycles": int(records["cycles"].sum()),
            "readback": fmt.dump, "build_seconds": t_build, "parse_seconds": time.time() - t_parse}
    times = build_dir / "build_times.json"  # how long this design's build took, when it was built
    if times.exists():
        info.update(json.loads(times.read_text()))
    for p in (stim, mon, stat):  # the records are in memory now; keep sim.log for inspection
        p.unlink()
    return records, info


def _assemble(rtl_net, rec, stat, batch, steps, dump, where):
    """Records per core and step from the parsed monitor file and the per-command counters."""
    per_sample = 1 + steps + (1 if dump else 0)
    n_cmd = batch * per_sample
    marker = (rec["flags"] & 8) != 0
    if int(marker.sum()) != n_cmd or len(stat) != n_cmd or not marker[-1]:
        raise BackendError(f"rtl: expected {n_cmd} commands, the testbench finished "
                           f"{int(marker.sum())} (records in {where})")
    cmd = np.cumsum(marker) - marker  # command each record belongs to
    sample, pos = cmd // per_sample, cmd % per_sample
    out = {"cycles": stat[:, 1].reshape(batch, per_sample)[:, 1:1 + steps].copy()}
    counters = stat[:, 2:2 + 2 * len(rtl_net.cores)].reshape(batch, per_sample, len(rtl_net.cores), 2)
    for k, c in enumerate(rtl_net.cores):
        # counters wrap at 32 bits: the per-step figure is the difference after/before the step
        diff = np.diff(counters[:, :1 + steps, k, :], axis=1) % (1 << 32)
        out[f"sops{k}"], out[f"acc_cycles{k}"] = diff[..., 0], diff[..., 1]
        mine = ~marker & (rec["core"] == k)
        is_dump = (rec["flags"] & 4) != 0
        st = mine & ~is_dump & (pos >= 1) & (pos <= steps)
        b, t, i = sample[st], pos[st] - 1, rec["index"][st]
        if (i >= c.n).any() or (mine & ~st & ~is_dump).any():
            raise BackendError(f"rtl: core {k} reported a neuron index >= {c.n} or outside a step")
        seen = np.bincount((b * steps + t) * c.n + i, minlength=batch * steps * c.n).reshape(batch, steps, c.n)
        if (seen != 1).any():
            b0, t0, i0 = map(int, np.argwhere(seen != 1)[0])
            raise BackendError(f"rtl: core {k} reported neuron {i0} {int(seen[b0, t0, i0])} times at "
                               f"sample {b0}, step {t0} (expected once)")
        has_u = "u" in rec and getattr(c, "kind", "") == "cubalif"
        for var, field in (("V", "v"), ("S", "s"), ("Y", "y")) + ((("U", "u"),) if has_u else ()):
            arr = np.zeros((batch, steps, c.n), dtype=np.int64)
            arr[b, t, i] = rec[field][st]
            out[f"{var}{k}"] = arr
        ovf = np.zeros((batch, steps, c.n), dtype=np.int64)
        ovf[b, t, i] = (rec["flags"][st] & 2) >> 1
        out[f"OVF{k}"] = ovf
        if dump:
            d = mine & is_dump
            db, di = sample[d], rec["index"][d]
            got = np.bincount(db * c.n + di, minlength=batch * c.n).reshape(batch, c.n)
            if (got != 1).any() or (pos[d] != per_sample - 1).any():
                b0, i0 = map(int, np.argwhere(got != 1)[0]) if (got != 1).any() else (0, 0)
                raise BackendError(f"rtl: core {k} read back neuron {i0} {int(got[b0, i0])} times after "
                                   f"sample {b0} (expected once, during the dump)")
            for var, field in (("DV", "v"), ("DS", "s")) + ((("DU", "u"),) if has_u else ()):
                arr = np.zeros((batch, c.n), dtype=np.int64)
                arr[db, di] = rec[field][d]
                out[f"{var}{k}"] = arr
    return out


def _legacy_data(rtl_net, events, batch, steps):
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 4)
    first = rtl_net.cores[0]
    ib = max(1, (int(np.prod(rtl_net.graph.nodes[rtl_net.source].shape)) - 1).bit_length())
    data = {"steps": steps, "batch": batch, "ncores": len(rtl_net.cores),
            "in_index_bits": ib, "x_bits": first.x_bits,
            "ev_sample": ev[:, 0], "ev_step": ev[:, 1], "ev_index": ev[:, 2], "ev_value": ev[:, 3],
            "max_cycles": max_cycles(rtl_net)}
    data.update({f"n{k}": c.n for k, c in enumerate(rtl_net.cores)})
    return ev, data


def run_network_bench(rtl_net, events, batch, steps, sim=None, _mutate_ge=False):
    """The per-cycle cocotb bench (Python drives and monitors every cycle): same records as
    `run_network_fast` (without the read-back). Returns (passed, records)."""
    sim = default_sim(sim)
    tag = design_key(rtl_net.cores, _mutate_ge)
    build_dir = BUILD_ROOT / "rtl" / f"{sim}-{tag}"  # one build folder per design and simulator
    build_dir.mkdir(parents=True, exist_ok=True)
    stamp = build_dir / "built.ok"
    if stamp.exists():  # same design, same simulator: reuse the build (no Verilog conversion)
        from cocotb_tools.runner import get_runner
        check_simulator(sim)
        runner = get_runner(sim)
    else:
        _, sources = network_verilog(rtl_net, build_dir / "hwsnn_network.v", _mutate_ge)
        runner = build(sources, "hwsnn_network", build_dir, sim)
        stamp.write_text(tag)
    ev, data = _legacy_data(rtl_net, events, batch, steps)
    run_id = hashlib.sha1(np.ascontiguousarray(ev).tobytes() + str(steps).encode()).hexdigest()[:8]
    data_path, out_path = build_dir / f"data-{run_id}.npz", build_dir / f"out-{run_id}.npz"
    np.savez(data_path, **data)
    if out_path.exists():
        out_path.unlink()
    ok = run_bench(runner, "hwsnn_network", "bench_network", build_dir, data_path, out_path)
    records = dict(np.load(out_path)) if Path(out_path).exists() else None
    return ok, records
