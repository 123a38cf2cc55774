"""The digits CNN with exact max pooling beside its average-pool replacement, and its check on
the executors.

    .venv/bin/python scripts/digits_maxpool.py                      # accuracies (360 test images)
    .venv/bin/python scripts/digits_maxpool.py --verify rtl,lava    # + every step on the back ends

Accuracies: the bundled max-pool model (hwsnn/data/digits_cnn_maxpool.*, from
scripts/train_digits_maxpool.py): float, QANN, and its SNN (count semantics and per-step run,
delays 0 and 1, which must agree on every image); then the same float weights converted with
pool="avg" (the SpikeZIP max -> avg swap), before and after the same QAT fine-tuning as the
training script (seed 0), compiled and run the same way. `--verify`: hwsnn.backends.verify
of the max-pool IR on `--images` test images, V, S, y of every node at every step.
"""

import argparse
import sys
import time

import numpy as np
import torch

from hwsnn import backends, sim
from hwsnn.compile import compile_qann
from hwsnn.convert import convert, evaluate, finetune
from hwsnn.examples import (DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, DIGITS_INPUT_SHAPE, digits_data,
                            load_digits_maxpool_ir, load_digits_maxpool_model)


def snn_accuracy(graph, x, y, steps):
    """(accuracy of the count semantics, whether the per-step runs equal it on every image)."""
    want = sim.count(graph, x)["output"]
    same = all(np.array_equal(sim.run(graph.with_delays(d), x, steps, record=False).output, want)
               for d in (0, 1))
    return float(np.mean(want.argmax(1) == y)), same


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verify", default="", help="comma-separated back ends: lava, rtl")
    ap.add_argument("--images", type=int, default=360)
    ap.add_argument("--qat-epochs", type=int, default=30)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, qann, info = load_digits_maxpool_model()
    graph, x, y, steps = load_digits_maxpool_ir()
    xtr, ytr, _, _ = digits_data()
    xf = torch.as_tensor(x, dtype=torch.float32) * DIGITS_INPUT_SCALE
    test = [(xf, torch.as_tensor(y))]
    max_snn, max_same = snn_accuracy(graph, x, y, steps)
    rows = [("max pool (exact, IR MaxPool2d)", evaluate(model, test), evaluate(qann, test), max_snn, max_same)]

    torch.manual_seed(0)
    calib = torch.as_tensor(xtr, dtype=torch.float32) * DIGITS_INPUT_SCALE
    ptq_max = evaluate(convert(model, DIGITS_INPUT_SHAPE, levels=info["levels"], calib=calib), test)
    avg = convert(model, DIGITS_INPUT_SHAPE, levels=info["levels"], calib=calib, pool="avg")
    ptq = evaluate(avg, test)
    train = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(calib, torch.as_tensor(ytr)), batch_size=64, shuffle=True,
        generator=torch.Generator().manual_seed(0))
    finetune(avg, train, epochs=args.qat_epochs, lr=3e-3, progress=False)
    g_avg = compile_qann(avg, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=info["w_bits"])
    avg_snn, avg_same = snn_accuracy(g_avg, x, y, 4 * info["levels"] * 6)
    rows.append(("avg-pool replacement (max -> avg)", evaluate(model, test), evaluate(avg, test), avg_snn,
                 avg_same))
    print(f"digits CNN, {len(y)} test images (levels {info['levels']}, w_bits {info['w_bits']})")
    print(f"{'pooling':36s} {'float':>6s} {'QANN':>6s} {'SNN':>6s}  SNN per-step == count (delays 0, 1)")
    for name, f, q, s, same in rows:
        print(f"{name:36s} {f:6.3f} {q:6.3f} {s:6.3f}  {same}")
    print(f"calibrated, before fine-tuning (PTQ), the QANN scores: max pool {ptq_max:.3f}, "
          f"avg-pool replacement {ptq:.3f}")
    for name in filter(None, args.verify.split(",")):
        t0 = time.time()
        n = args.images
        extra = 4 if name == "rtl" else 3  # delay 1 on every edge: one more step per layer
        r = backends.verify(graph, x[:n], steps + extra, backends=[name])[name]
        print(f"{name}: {n} images, {steps + extra} steps: {r.compared_values} values compared, "
              f"{r.mismatches} mismatches{'' if r.first is None else ', first ' + str(r.first)} "
              f"({time.time() - t0:.0f} s)")
        if r.mismatches:
            sys.exit(1)


if __name__ == "__main__":
    main()
