"""snnTorch's float accuracy beside hwsnn's integer accuracy, on the same 360 digits test images.

    .venv/bin/python benchmarks/snntorch_digits.py [--write-inputs build/nir/digits_test.npz]
        [--ir build/nir/snntorch_digits.hwir] [--json]

float:  snnTorch's own Leaky network (hwsnn/data/snntorch_digits.safetensors, the network of
        scripts/train_snntorch_digits.py) run by snnTorch for T = 16 steps on the rate-coded
        pixels; class = argmax of output spike counts.
integer: the bundled NIR file (snnTorch's export_to_nir) through `hwsnn import-nir` (dt 1e-4,
        8-bit weights), run by hwsnn's golden simulator; class = argmax of the Readout (the same
        spike counts, one step later per layer: Loihi's synapse delay).
Also prints how often the two classes agree, and both run times side by side (one thread).
--write-inputs writes x (360, 64) and y for `hwsnn verify ... --input FILE` and `hwsnn eval`.
"""

import argparse
import importlib.util
import json
import os
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def _train_module():
    spec = importlib.util.spec_from_file_location(
        "train_snntorch_digits", ROOT / "scripts" / "train_snntorch_digits.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def float_predictions(mod, info, x):
    from safetensors.torch import load_file

    net = mod.make_net(info["hidden"])
    with resources.as_file(resources.files("hwsnn.data") / "snntorch_digits.safetensors") as p:
        net.load_state_dict(load_file(str(p)))
    net.eval()
    with torch.no_grad():
        counts = mod.spike_counts(net, mod.rate_spikes(x))
    return counts.argmax(1).numpy()


def integer_predictions(graph, x):
    from hwsnn.sim import run

    trace = run(graph, x, graph.meta["steps"], record=False)
    return trace.predict()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-inputs", help="write x, y of the 360 test images to this .npz")
    ap.add_argument("--ir", help="also save the imported IR here (.hwir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from hwsnn import ir
    from hwsnn.nir import import_nir

    torch.set_num_threads(1)
    mod = _train_module()
    info = json.loads((resources.files("hwsnn.data") / "snntorch_digits.json").read_text())
    _, _, x, y = mod.digits_flat()
    with resources.as_file(resources.files("hwsnn.data") / "snntorch_digits.nir") as p:
        graph, report = import_nir(str(p), dt=info["dt"], T=info["T"], name="snntorch-digits")
    if args.ir:
        ir.save(graph, args.ir)
    if args.write_inputs:
        os.makedirs(os.path.dirname(os.path.abspath(args.write_inputs)), exist_ok=True)
        np.savez(args.write_inputs, x=x.astype(np.int64), y=y)
    t0 = time.perf_counter()
    pf = float_predictions(mod, info, x)
    t1 = time.perf_counter()
    pi = integer_predictions(graph, x)
    t2 = time.perf_counter()
    out = {"images": len(y), "snntorch_float_accuracy": float((pf == y).mean()),
           "hwsnn_integer_accuracy": float((pi == y).mean()),
           "same_class": float((pf == pi).mean()), "steps": graph.meta["steps"],
           "snntorch_seconds": t1 - t0, "golden_seconds": t2 - t1}
    out["difference_points"] = 100 * (out["hwsnn_integer_accuracy"] - out["snntorch_float_accuracy"])
    if args.json:
        print(json.dumps(out))
        return
    print(f"snnTorch float (T={info['T']}):        {100 * out['snntorch_float_accuracy']:.2f}% "
          f"of {len(y)} test images")
    print(f"hwsnn integer, golden ({out['steps']} steps): {100 * out['hwsnn_integer_accuracy']:.2f}%"
          f"  ({out['difference_points']:+.2f} points)")
    print(f"same class in both:              {100 * out['same_class']:.2f}%")
    print(f"time for the 360 images: snnTorch {out['snntorch_seconds']:.2f} s, hwsnn golden "
          f"{out['golden_seconds']:.2f} s ({out['golden_seconds'] / out['snntorch_seconds']:.2f}x), "
          f"one thread")


if __name__ == "__main__":
    main()
