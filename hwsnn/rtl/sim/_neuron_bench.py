"""Runner of the neuron datapath bench: vectors -> Verilog -> cocotb -> measured outputs."""

import hashlib
import json

import numpy as np

from ._runner import BUILD_ROOT, build, default_sim, run_bench, write_verilog

__all__ = ["run_neuron_bench"]


def run_neuron_bench(params, vec, exp, sim=None, _mutate_ge=False):
    """Run the NeuronUnit of `params` (NeuronUnit's keyword arguments) on the input vectors `vec`
    ({"v", "i", "theta", "s"[, "leak"]}: int arrays) against the expected outputs `exp` ({"v_out",
    "s_out", "y", "ovf"}), which the caller derives (the tests: from the golden rule).

    Returns (passed, got); `passed` is the bench's own verdict."""
    from hwsnn.rtl import NeuronUnit
    sim = default_sim(sim)
    key = json.dumps({**params, "mutate": _mutate_ge}, sort_keys=True)
    tag = hashlib.sha1(key.encode()).hexdigest()[:10]
    build_dir = BUILD_ROOT / "neuron" / f"{sim}-{params['kind']}-{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / "neuron_unit.v"
    write_verilog(NeuronUnit(**params, _mutate_ge=_mutate_ge), "neuron_unit", src)
    data, out = build_dir / "data.npz", build_dir / "out.npz"
    np.savez(data, **{f"in_{k}": v for k, v in vec.items()}, **{f"exp_{k}": v for k, v in exp.items()})
    if out.exists():
        out.unlink()
    runner = build([src], "neuron_unit", build_dir, sim)
    ok = run_bench(runner, "neuron_unit", "bench_neuron", build_dir, data, out)
    got = dict(np.load(out)) if out.exists() else None
    return ok, got
