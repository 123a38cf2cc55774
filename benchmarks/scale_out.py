"""Scale-out, measured side by side in one run: the same work on 1 and on 2 Ray workers.

1. RTL verify (`hwsnn.cluster.verify_sharded`, back end "rtl", Verilator by default) of the
   digits test images against golden at every step: wall time, speed-up, and that the merged
   counts equal the 1-worker counts.
2. Golden `evaluate` of a large random input set (digits network, inputs in its recorded
   range 0..16): wall time, images/s, speed-up, identical results.
3. With a CUDA device: golden images/s on CPU vs GPU for a CIFAR-shaped ResNet (3x32x32,
   three residual stages), and that both traces are identical; without one it says so.

Wall times include starting and stopping the local Ray instance, as a user sees them.

    python benchmarks/scale_out.py [--rtl-samples 360] [--eval-samples 100000] [--sim verilator]
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))


def rtl_verify(samples, sim, workers):  # workers None: in this process, no Ray
    from hwsnn.cluster import Pool, verify_sharded
    from hwsnn.examples import load_digits_ir
    os.environ["SIM"] = sim
    graph, x, _, steps = load_digits_ir(n_test=samples)
    t0 = time.perf_counter()
    with Pool(workers=workers, progress=False) as pool:
        c = verify_sharded(graph, x, steps, ["rtl"], pool)["rtl"]
    return time.perf_counter() - t0, c


def golden_eval(samples, workers, chunk=2000):
    from hwsnn.cluster import ArrayChunks, Pool, evaluate
    from hwsnn.examples import load_digits_ir
    graph, _, _, steps = load_digits_ir()
    lo, hi = graph.meta["input_range"]
    path = os.path.join(tempfile.mkdtemp(), "x.npz")
    np.savez(path, x=np.random.default_rng(0).integers(lo, hi + 1, (samples, 1, 8, 8)))
    t0 = time.perf_counter()
    with Pool(workers=workers, progress=False) as pool:  # workers None: serial, in process
        r = evaluate(graph, ArrayChunks(path, "x", chunk), steps, pool)
    return time.perf_counter() - t0, r


def gpu_compare(batch=256, steps=16):
    import torch
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device on this machine"}
    from hwsnn import sim
    from cifar_resnet import cifar_resnet_ir  # noqa: F401 (benchmarks/cifar_resnet.py)
    graph, x = cifar_resnet_ir(batch)
    out = {}
    traces = {}
    for dev in ("cpu", "cuda"):
        sim.run(graph, x[:8], steps, device=dev)  # warm-up (allocations, kernels)
        t0 = time.perf_counter()
        traces[dev] = sim.run(graph, x, steps, device=dev)
        out[f"{dev}_images_per_s"] = batch / (time.perf_counter() - t0)
    a, b = traces["cpu"], traces["cuda"]
    out["identical"] = all(np.array_equal(arr, getattr(b, var)[n]) for n, var, arr in a.variables())
    out["gpu_over_cpu"] = out["cuda_images_per_s"] / out["cpu_images_per_s"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rtl-samples", type=int, default=360)
    ap.add_argument("--eval-samples", type=int, default=100_000)
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--skip-rtl", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    report = {"cpus": os.cpu_count()}
    if not args.skip_rtl:
        t0 = time.perf_counter()
        rtl_verify(1, args.sim, None)  # build once (the content-hash cache), not timed below
        report["rtl_build_s"] = time.perf_counter() - t0
        rows = {}
        for w in (1, 2):
            wall, c = rtl_verify(args.rtl_samples, args.sim, w)
            rows[w] = {"wall_s": wall, "compared_values": c.compared_values, "mismatches": c.mismatches}
        rows["speedup"] = rows[1]["wall_s"] / rows[2]["wall_s"]
        rows["same_counts"] = all(rows[1][k] == rows[2][k] for k in ("compared_values", "mismatches"))
        report["rtl_verify"] = {"samples": args.rtl_samples, "sim": args.sim, **rows}
    rows = {}
    results = {}
    for w in (None, 1, 2):  # None: in this process, no Ray (the baseline)
        wall, r = golden_eval(args.eval_samples, w)
        results[w] = r
        rows[w or 0] = {"wall_s": wall, "images_per_s": args.eval_samples / wall}
    rows["speedup"] = rows[1]["wall_s"] / rows[2]["wall_s"]
    rows["identical"] = all(results[w].summary() == results[None].summary()
                            and np.array_equal(results[w].pred, results[None].pred) for w in (1, 2))
    report["golden_eval"] = {"samples": args.eval_samples, **rows}
    report["gpu"] = gpu_compare()
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"machine: {report['cpus']} CPUs; wall times include starting/stopping local Ray")
    print("| work | in process (no Ray) | 1 worker | 2 workers | speed-up 2 vs 1 | results |")
    print("| --- | --- | --- | --- | --- | --- |")
    if "rtl_verify" in report:
        v = report["rtl_verify"]
        print(f"| RTL verify ({v['sim']}), {v['samples']} digits images | — | {v[1]['wall_s']:.1f} s | "
              f"{v[2]['wall_s']:.1f} s | {v['speedup']:.2f}x | {v[2]['compared_values']:,} values, "
              f"{v[2]['mismatches']} mismatches; {'same' if v['same_counts'] else 'DIFFERENT'} "
              f"as 1 worker |")
    e = report["golden_eval"]
    print(f"| golden eval, {e['samples']:,} random inputs | {e[0]['wall_s']:.1f} s "
          f"({e[0]['images_per_s']:,.0f}/s) | {e[1]['wall_s']:.1f} s "
          f"({e[1]['images_per_s']:,.0f}/s) | {e[2]['wall_s']:.1f} s ({e[2]['images_per_s']:,.0f}/s) | "
          f"{e['speedup']:.2f}x | {'identical' if e['identical'] else 'DIFFERENT'} |")
    g = report["gpu"]
    if "skipped" in g:
        print(f"GPU: {g['skipped']}")
    else:
        print(f"GPU (CIFAR-shaped ResNet): CPU {g['cpu_images_per_s']:.0f}/s, GPU "
              f"{g['cuda_images_per_s']:.0f}/s ({g['gpu_over_cpu']:.1f}x), identical: {g['identical']}")


if __name__ == "__main__":
    main()
