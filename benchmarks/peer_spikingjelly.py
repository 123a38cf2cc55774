"""Peer comparison: SpikingJelly's classic ANN->SNN converter vs hwsnn's methods on digits.

    .venv/bin/python benchmarks/peer_spikingjelly.py [--steps 1,2,4,8,16,32,64] [--n-test 360]

The same bundled float digits CNN (hwsnn/data/digits_cnn.safetensors) is converted by
SpikingJelly 2.0 (`ann2snn.Converter(RateCodingRecipe(dataloader, mode=...))`: Conv-BN fusion,
threshold from the activation max or a percentile, ReLU -> IFNode with soft reset, float input
repeated every step, output = mean over T) and run with float torch for T steps. hwsnn's
methods run on the golden integer simulator (`hwsnn sweep`). Printed side by side: accuracy at
each T and wall time per image (both single-threaded, batch = the test set). SpikingJelly 2.0
has no CNN QCFS or ST-BIF converter (its SpikeZIP recipe targets RoBERTa/ViT QANNs only).
Install: `pip install -e .[bench]` (spikingjelly).
"""

import argparse
import copy
import time

import numpy as np
import torch


def spikingjelly_rows(model, xtr, xte, yte, steps, modes):
    from spikingjelly.activation_based import functional
    from spikingjelly.activation_based.ann2snn import Converter, RateCodingRecipe

    calib = torch.utils.data.DataLoader(torch.as_tensor(xtr, dtype=torch.float32) / 16, batch_size=256)
    x = torch.as_tensor(xte, dtype=torch.float32) / 16
    rows = []
    for mode in modes:
        snn = Converter(RateCodingRecipe(calib, mode=mode)).convert(copy.deepcopy(model).eval())
        snn.eval()
        for T in steps:
            functional.reset_net(snn)
            t0 = time.perf_counter()
            with torch.no_grad():
                out = sum(snn(x) for _ in range(T)) / T
            wall = time.perf_counter() - t0
            rows.append({"method": f"spikingjelly-{mode}", "T": T,
                         "accuracy": float((out.argmax(1).numpy() == yte).mean()),
                         "seconds_per_image": wall / len(x)})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="1,2,4,8,16,32,64")
    ap.add_argument("--methods", default="stbif,spikezip,qcfs,sliprelu,dualphase,ilif,calif")
    ap.add_argument("--n-test", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    steps = [int(s) for s in args.steps.split(",")]
    from hwsnn.examples import digits_data, load_digits_model
    from hwsnn.methods._study import sweep

    model, _, _ = load_digits_model()
    xtr, ytr, xte, yte = digits_data()
    if args.n_test:
        xte, yte = xte[:args.n_test], yte[:args.n_test]
    try:
        import spikingjelly  # noqa: F401
        peer = spikingjelly_rows(model, xtr, xte, yte, steps, ["Max", "99.9%"])
    except Exception as exc:  # report and go on with hwsnn only
        print(f"SpikingJelly unavailable: {type(exc).__name__}: {exc}")
        peer = []
    ours = sweep(args.methods.split(","), steps, n_test=args.n_test)
    rows = peer + ours
    methods = list(dict.fromkeys(r["method"] for r in rows))
    acc = {(r["method"], r["T"]): r for r in rows}
    print("accuracy (digits test set, %d images)" % len(xte))
    print("| method | " + " | ".join(f"T={t}" for t in steps) + " | s/image at T=%d |" % steps[-1])
    print("| --- |" + " --- |" * (len(steps) + 1))
    for m in methods:
        cells = []
        for t in steps:
            r = acc.get((m, t))
            cells.append("—" if r is None or r["accuracy"] is None else f"{r['accuracy']:.3f}")
        last = acc.get((m, steps[-1]))
        sec = "—" if last is None or last.get("seconds_per_image") is None else f"{last['seconds_per_image'] * 1e3:.2f} ms"
        print(f"| {m} | " + " | ".join(cells) + f" | {sec} |")
    sj = [acc[(m, steps[-1])]["seconds_per_image"] for m in methods if m.startswith("spikingjelly") and (m, steps[-1]) in acc]
    hw = [acc[(m, steps[-1])]["seconds_per_image"] for m in methods
          if not m.startswith("spikingjelly") and acc.get((m, steps[-1])) and acc[(m, steps[-1])].get("seconds_per_image")]
    if sj and hw:
        print(f"\nwall time per image at T={steps[-1]}: hwsnn golden (integer, mean over methods) / "
              f"SpikingJelly (float, mean over modes) = {np.mean(hw) / np.mean(sj):.2f}")


if __name__ == "__main__":
    main()
