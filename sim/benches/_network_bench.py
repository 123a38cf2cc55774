"""Runner of the network bench: RtlNetwork + inputs -> Verilog -> cocotb -> per-step records."""

import hashlib
from pathlib import Path

import numpy as np
import torch

from hwsnn.sim._encode import emit

from ._runner import BUILD_ROOT, build, check_simulator, default_sim, run_bench, write_verilog

__all__ = ["run_network_bench", "source_events", "network_verilog", "design_key"]


def source_events(node, q, steps):
    """Events (sample, step, index, value) core 0 consumes: the source's output of step t - 1
    (delay 1), nonzero values only, in index order."""
    q = torch.as_tensor(np.asarray(q, dtype=np.int64))
    batch = q.shape[0]
    rows = []
    for t in range(1, steps):
        x = emit(node, q, t - 1).reshape(batch, -1).numpy()
        b, i = np.nonzero(x)
        rows.append(np.stack([b, np.full_like(b, t), i, x[b, i]], axis=1))
    ev = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)
    return ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))] if len(ev) else ev


def design_key(configs, _mutate_ge=False):
    """Hash of everything the Verilog depends on: core parameters, memory images, RTL sources."""
    import hwsnn.rtl
    h = hashlib.sha1(repr(_mutate_ge).encode())
    for src in sorted(Path(hwsnn.rtl.__file__).parent.glob("_*.py")):
        h.update(src.read_bytes())
    for c in configs:
        h.update(repr(sorted(c.summary().items())).encode())
        h.update(repr((c.s_min, c.s_max, c.in_bound)).encode())
        for arr in (c.weights, c.theta, c.v0):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return h.hexdigest()[:12]


def network_verilog(rtl_net, path, _mutate_ge=False):
    from hwsnn.rtl import Network
    return write_verilog(Network(rtl_net.cores, _mutate_ge=_mutate_ge), "hwsnn_network", path)


def run_network_bench(rtl_net, x, steps, sim=None, _mutate_ge=False):
    """Run the RTL of `rtl_net` (an RtlNetwork) on inputs x (batch, *shape) for `steps` steps.

    Returns (passed, records): records holds V{k}, S{k}, Y{k}, OVF{k} (batch, steps, n_k),
    cycles (batch, steps), sops{k} and acc_cycles{k} (batch, steps)."""
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
        src = build_dir / "hwsnn_network.v"
        network_verilog(rtl_net, src, _mutate_ge)
        runner = build([src], "hwsnn_network", build_dir, sim)
        stamp.write_text(tag)
    src_node = rtl_net.graph.nodes[rtl_net.source]
    ev = source_events(src_node, x, steps)
    first = rtl_net.cores[0]
    data = {"steps": steps, "batch": len(x), "ncores": len(rtl_net.cores),
            "in_index_bits": first.in_index_bits, "x_bits": first.x_bits,
            "ev_sample": ev[:, 0], "ev_step": ev[:, 1], "ev_index": ev[:, 2], "ev_value": ev[:, 3]}
    data.update({f"n{k}": c.n for k, c in enumerate(rtl_net.cores)})
    # watchdog: a step needs at most (rows of events) x groups + neurons + a few cycles per core
    data["max_cycles"] = 64 + 4 * sum((c.rows + 1) * c.groups + c.n + 8 for c in rtl_net.cores)
    run_id = hashlib.sha1(np.ascontiguousarray(ev).tobytes() + str(steps).encode()).hexdigest()[:8]
    data_path, out_path = build_dir / f"data-{run_id}.npz", build_dir / f"out-{run_id}.npz"
    np.savez(data_path, **data)
    if out_path.exists():
        out_path.unlink()
    ok = run_bench(runner, "hwsnn_network", "bench_network", build_dir, data_path, out_path)
    records = dict(np.load(out_path)) if Path(out_path).exists() else None
    return ok, records
