"""Train the bundled digits CNN, convert it to a QANN, fine-tune it, write the weights.

    .venv/bin/python scripts/train_digits.py [--levels 8] [--epochs 40] [--qat-epochs 20]

Float training (Adam, fixed seed) -> convert (fuse BN, max -> avg pool, Q-ReLU with n levels,
steps calibrated on the training set) -> QAT fine-tuning (LSQ) -> compile to the integer IR ->
measure float / QANN / integer-QANN / SNN accuracy and the steps to equilibrium -> write
hwsnn/data/digits_cnn.safetensors and digits_cnn.json.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hwsnn.compile import compile_qann, integerization_report
from hwsnn.convert import convert, evaluate, finetune, save_weights
from hwsnn.examples import (DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, DIGITS_INPUT_SHAPE, digits_cnn,
                            digits_data)
from hwsnn.sim import count, run

DATA = Path(__file__).resolve().parent.parent / "hwsnn" / "data"


def loader(x, y, batch, shuffle, seed=0):
    ds = torch.utils.data.TensorDataset(torch.as_tensor(x, dtype=torch.float32) * DIGITS_INPUT_SCALE,
                                        torch.as_tensor(y))
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=shuffle, generator=g)


def train_float(model, train, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
        sched.step()
    model.eval()


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
    qann = convert(model, DIGITS_INPUT_SHAPE, levels=args.levels, calib=calib, pool="avg")
    ptq_acc = evaluate(qann, test)
    finetune(qann, train, epochs=args.qat_epochs, lr=args.qat_lr, progress=sys.stderr.isatty())
    qann_acc = evaluate(qann, test)
    graph = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE,
                         w_bits=args.w_bits)
    ints = count(graph, xte)
    int_acc = float(np.mean(ints["output"].argmax(1) == yte))
    tr = run(graph, xte, 4 * args.levels * 6, record=False)
    snn_acc = float(np.mean(tr.output.argmax(1) == yte))
    equal = float(np.mean(np.all(tr.output == ints["output"], axis=1)))
    tr1 = run(graph.with_delays(1), xte, 4 * args.levels * 6, record=False)
    equal_d1 = float(np.mean(np.all(tr1.output == ints["output"], axis=1)))
    t_eq = int(max(tr.t_eq.max(), tr1.t_eq.max()))
    report = integerization_report(qann, graph, xte, count(graph, xte))
    info = {
        "architecture": "conv(1->16,3,p1)-BN-ReLU-MaxPool2 -> conv(16->32,3,p1)-BN-ReLU-MaxPool2 "
                        "-> flatten -> linear(128->64)-ReLU -> linear(64->10)",
        "factory": "hwsnn.examples:digits_cnn", "input_shape": list(DIGITS_INPUT_SHAPE),
        "input_scale": DIGITS_INPUT_SCALE, "input_range": list(DIGITS_INPUT_RANGE),
        "split": "sklearn load_digits: first 1437 train, last 360 test, pixels/16",
        "levels": args.levels, "w_bits": args.w_bits, "seed": args.seed,
        "epochs": args.epochs, "qat_epochs": args.qat_epochs,
        "scales": {op.name: float(qann.layers[op.key].scale.detach()) for op in qann.qrelus},
        "float_accuracy": float_acc, "ptq_accuracy": ptq_acc, "qann_accuracy": qann_acc,
        "int_qann_accuracy": int_acc, "snn_accuracy": snn_acc, "snn_equals_qann": equal,
        "snn_equals_qann_delay1": equal_d1,
        "t_eq_max": int(tr.t_eq.max()), "t_eq_mean": float(tr.t_eq.mean()),
        "t_eq_max_delay1": int(tr1.t_eq.max()), "settled": bool(tr.settled.all() and tr1.settled.all()),
        "steps": max(2 * t_eq, t_eq + 8),
        "integerization": report, "train_seconds": round(time.time() - t0, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_weights(args.out / "digits_cnn.safetensors", model, qann,
                 {"levels": args.levels, "input_scale": DIGITS_INPUT_SCALE,
                  "input_range": "0,16"})
    os.chmod(args.out / "digits_cnn.safetensors", 0o644)
    tmp = args.out / f"digits_cnn.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, args.out / "digits_cnn.json")
    print(json.dumps({k: v for k, v in info.items() if k != "integerization"}, indent=2))


if __name__ == "__main__":
    main()
