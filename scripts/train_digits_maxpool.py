"""Train the digits CNN with exact max pooling, and its average-pool replacement beside it.

    .venv/bin/python scripts/train_digits_maxpool.py [--levels 8] [--epochs 40] [--qat-epochs 30]

Float training (as scripts/train_digits.py: Adam, seed 0) of the digits CNN, whose two pools are
MaxPool2d(2). Then twice from the same float model: convert with pool="max" (the IR keeps an
exact MaxPool2d over the ST-BIF spike counts) and with pool="avg" (the papers' max -> avg swap),
each calibrated, QAT fine-tuned and compiled. Measures float / QANN / integer-QANN / SNN accuracy
of both on the 360 test images, and for max pooling whether the per-step SNN (delays 0 and 1)
equals the count semantics on every image. Writes hwsnn/data/digits_cnn_maxpool.safetensors
(float model + max-pool QANN) and digits_cnn_maxpool.json.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_digits import loader, train_float  # noqa: E402

from hwsnn.compile import compile_qann  # noqa: E402
from hwsnn.convert import convert, evaluate, finetune, save_weights  # noqa: E402
from hwsnn.examples import (DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, DIGITS_INPUT_SHAPE,  # noqa: E402
                            digits_cnn, digits_data)
from hwsnn.sim import count, run  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "hwsnn" / "data"


def quantize(model, pool, args, train, test, calib, xte, yte):
    """(qann, graph, accuracies) of `model` converted with `pool`."""
    torch.manual_seed(args.seed)
    qann = convert(model, DIGITS_INPUT_SHAPE, levels=args.levels, calib=calib, pool=pool)
    ptq = evaluate(qann, test)
    finetune(qann, train, epochs=args.qat_epochs, lr=args.qat_lr, progress=sys.stderr.isatty())
    acc = evaluate(qann, test)
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=args.w_bits)
    ints = count(graph, xte)
    return qann, graph, ints, {"ptq_accuracy": ptq, "qann_accuracy": acc,
                               "int_qann_accuracy": float(np.mean(ints["output"].argmax(1) == yte))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--qat-epochs", type=int, default=30)
    ap.add_argument("--w-bits", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--qat-lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=DATA)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t0 = time.time()
    xtr, ytr, xte, yte = digits_data()
    train, test = loader(xtr, ytr, 64, True, args.seed), loader(xte, yte, 360, False)
    model = digits_cnn()
    train_float(model, train, args.epochs, args.lr)
    float_acc = evaluate(model, test)
    calib = torch.as_tensor(xtr, dtype=torch.float32) * DIGITS_INPUT_SCALE
    avg_q, avg_g, avg_ints, avg = quantize(model, "avg", args, train, test, calib, xte, yte)
    avg["snn_accuracy"] = float(np.mean(run(avg_g, xte, 4 * args.levels * 6, record=False)
                                        .output.argmax(1) == yte))
    qann, graph, ints, mx = quantize(model, "max", args, train, test, calib, xte, yte)
    steps = 4 * args.levels * 6
    tr = run(graph, xte, steps, record=False)
    tr1 = run(graph.with_delays(1), xte, steps, record=False)
    t_eq = int(max(tr.t_eq.max(), tr1.t_eq.max()))
    info = {
        "architecture": "conv(1->16,3,p1)-BN-ReLU-MaxPool2 -> conv(16->32,3,p1)-BN-ReLU-MaxPool2 "
                        "-> flatten -> linear(128->64)-ReLU -> linear(64->10); pools kept as exact "
                        "IR MaxPool2d (convert pool='max')",
        "factory": "hwsnn.examples:digits_cnn", "pool": "max", "input_shape": list(DIGITS_INPUT_SHAPE),
        "input_scale": DIGITS_INPUT_SCALE, "input_range": list(DIGITS_INPUT_RANGE),
        "split": "sklearn load_digits: first 1437 train, last 360 test, pixels/16",
        "levels": args.levels, "w_bits": args.w_bits, "seed": args.seed,
        "epochs": args.epochs, "qat_epochs": args.qat_epochs,
        "float_accuracy": float_acc, **mx,
        "snn_accuracy": float(np.mean(tr.output.argmax(1) == yte)),
        "snn_equals_qann": float(np.mean(np.all(tr.output == ints["output"], axis=1))),
        "snn_equals_qann_delay1": float(np.mean(np.all(tr1.output == ints["output"], axis=1))),
        "t_eq_max": int(tr.t_eq.max()), "t_eq_max_delay1": int(tr1.t_eq.max()),
        "settled": bool(tr.settled.all() and tr1.settled.all()),
        "steps": max(2 * t_eq, t_eq + 8),
        "avg_pool_replacement": avg,
        "train_seconds": round(time.time() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_weights(args.out / "digits_cnn_maxpool.safetensors", model, qann,
                 {"levels": args.levels, "input_scale": DIGITS_INPUT_SCALE, "input_range": "0,16",
                  "pool": "max"})
    os.chmod(args.out / "digits_cnn_maxpool.safetensors", 0o644)
    tmp = args.out / f"digits_cnn_maxpool.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, args.out / "digits_cnn_maxpool.json")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
