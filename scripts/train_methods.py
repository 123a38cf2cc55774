"""Train the method QANNs of the study on digits and write hwsnn/data/methods/*.safetensors.

    .venv/bin/python scripts/train_methods.py [--only qcfs,sliprelu,spikezip,dualphase,calif]

Every method starts from the bundled float digits CNN (hwsnn/data/digits_cnn.safetensors):
spikezip: Paths-Ensemble Training (n = 8/4/2) from the bundled QANN's steps, major path kept.
qcfs / sliprelu: convert (levels L = 8, thresholds from the 99.9th percentile), swap the
activations, fine-tune (Adam, fixed seed). dualphase: one QC-ANN per T (Phase I with
quant-noise) and its Phase-II calibration. calif: torch.ao QAT (see hwsnn/methods/calif.py).
Single-threaded; measured on the shared 2-core machine: qcfs 5 s, sliprelu 3 s, spikezip 22 s,
calif 13 s, dualphase 17 min (T = 1..64; the file is rewritten after each T and a rerun keeps
the T already in it: delete hwsnn/data/methods/dualphase.safetensors to retrain all).
"""

import argparse
import json
import time
from pathlib import Path

import torch

from hwsnn.convert import convert
from hwsnn.examples import DIGITS_INPUT_SHAPE, digits_data, load_digits_model
from hwsnn.convert import swap_activations
from hwsnn.methods._digits import ACT_KW, accuracy, digits_loader, save_method_qann, train_qann

OUT = Path(__file__).resolve().parent.parent / "hwsnn" / "data" / "methods"
STEPS = (1, 2, 4, 8, 16, 32, 64)


def train_act(kind, model, xtr, ytr, xte, yte, epochs, seed):
    torch.manual_seed(seed)
    calib = torch.as_tensor(xtr, dtype=torch.float32) / 16
    q = convert(model, DIGITS_INPUT_SHAPE, levels=8, calib=calib, pool="avg")
    q = swap_activations(q, kind, **ACT_KW[kind])
    before = accuracy(q, xte, yte)
    train_qann(q, digits_loader(xtr, ytr, seed=seed), epochs, lr=1e-3)
    after = accuracy(q, xte, yte)
    save_method_qann(OUT / f"{kind}.safetensors", q, kind, ACT_KW[kind],
                     {"accuracy": after, "accuracy_before_finetune": before, "epochs": epochs, "seed": seed})
    return {"accuracy_before": before, "accuracy": after}


def train_spikezip(model, xtr, ytr, xte, yte, epochs, seed):
    """PET (n = 8, 4, 2; KD from the float model) from the bundled QANN's steps; major path out."""
    from hwsnn.examples import digits_cnn
    from hwsnn.methods.spikezip import PETNet, export_major, pet_train
    torch.manual_seed(seed)
    _, qann, _ = load_digits_model()
    pet = PETNet(model, 8, [qann.layers[op.key].scale.item() for op in qann.qrelus])
    pet_train(pet, model, digits_loader(xtr, ytr, seed=seed), epochs)
    paths = [accuracy(lambda x, i=i: pet(x, i), xte, yte) for i in range(3)]
    _, major = export_major(pet, digits_cnn(), DIGITS_INPUT_SHAPE)
    acc = accuracy(major, xte, yte)
    save_method_qann(OUT / "spikezip.safetensors", major, "qrelu", {},
                     {"accuracy": acc, "path_accuracies": paths, "levels_paths": [8, 4, 2],
                      "epochs": epochs, "seed": seed})
    return {"accuracy": acc, "path_accuracies": paths}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="qcfs,sliprelu,spikezip,dualphase,calif")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    model, _, _ = load_digits_model()
    xtr, ytr, xte, yte = digits_data()
    report = {}
    for kind in args.only.split(","):
        t0 = time.time()
        if kind in ACT_KW:
            report[kind] = train_act(kind, model, xtr, ytr, xte, yte, args.epochs, args.seed)
        elif kind == "spikezip":
            report[kind] = train_spikezip(model, xtr, ytr, xte, yte, args.epochs, args.seed)
        elif kind == "dualphase":
            from hwsnn.methods.dualphase import train_dualphase
            report[kind] = train_dualphase(model, xtr, ytr, xte, yte, STEPS, OUT / "dualphase.safetensors",
                                           seed=args.seed)
        elif kind == "calif":
            from hwsnn.methods.calif import train_calif
            report[kind] = train_calif(xtr, ytr, xte, yte, OUT / "calif.safetensors", seed=args.seed)
        else:
            raise SystemExit(f"unknown method {kind!r}")
        report[kind]["seconds"] = round(time.time() - t0, 1)
        print(kind, json.dumps(report[kind]), flush=True)


if __name__ == "__main__":
    main()
