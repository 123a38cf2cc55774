"""Train a small spiking network with snnTorch on sklearn's digits and export it to NIR.

    .venv/bin/python scripts/train_snntorch_digits.py [--epochs 80] [--hidden 128] [--seed 0]

snnTorch's own code, not hwsnn's: 64 inputs -> Linear(64, H, bias=False) -> Leaky(H) ->
Linear(H, 10, bias=False) -> Leaky(10); the class is the output layer's spike count (argmax,
first on ties). Leaky neurons reset to zero in the step they fire (`reset_mechanism="zero"`,
`reset_delay=False`: Loihi's LIF rule), one fixed beta per layer (Loihi's dv is one per layer)
and per-neuron learned thresholds, both as per-neuron tensors (NIR refuses scalar parameters).
Input: pixel q in 0..16 as T = 16 evenly spaced spikes, s_t = floor((t+1)q/16) - floor(tq/16)
(hwsnn's `rate` Source). Split as the digits CNN: first 1437
train, last 360 test. Writes hwsnn/data/snntorch_digits.{safetensors,nir,json}; the .nir comes
from snnTorch's `export_to_nir` (sample without batch axis) and nir.write.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent.parent / "hwsnn" / "data"
T = 16
N_TRAIN = 1437


def digits_flat():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.int64).reshape(len(d.images), -1)
    y = d.target.astype(np.int64)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def rate_spikes(q, steps=T):
    """(steps, N, 64) float 0/1: floor((t+1)q/steps) - floor(tq/steps) for q in 0..steps."""
    q = torch.as_tensor(q, dtype=torch.int64)
    t = torch.arange(steps + 1).view(-1, *([1] * q.dim()))
    cum = (t * q) // steps
    return (cum[1:] - cum[:-1]).float()


def make_net(hidden, beta=0.9):
    import snntorch as snn
    from snntorch import surrogate

    grad = surrogate.fast_sigmoid(slope=10)

    def leaky(n):
        return snn.Leaky(beta=torch.full((n,), beta), threshold=torch.ones(n), learn_beta=False,
                         learn_threshold=True, spike_grad=grad, init_hidden=True,
                         reset_mechanism="zero", reset_delay=False)

    return torch.nn.Sequential(torch.nn.Linear(64, hidden, bias=False), leaky(hidden),
                               torch.nn.Linear(hidden, 10, bias=False), leaky(10))


def spike_counts(net, spikes):
    """Output spike counts (N, 10) over the T input steps."""
    import snntorch.utils as su

    su.reset(net)
    return sum(net(spikes[t]) for t in range(spikes.shape[0]))


def accuracy(net, x, y):
    with torch.no_grad():
        counts = spike_counts(net, rate_spikes(x))
    return float((counts.argmax(1).numpy() == y).mean()), counts


def train(net, x, y, epochs, seed, lr=5e-3, batch=64):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    spikes, labels = rate_spikes(x), torch.as_tensor(y)
    for epoch in range(epochs):
        for idx in torch.randperm(len(y), generator=g).split(batch):
            opt.zero_grad()
            counts = spike_counts(net, spikes[:, idx])
            torch.nn.functional.cross_entropy(counts, labels[idx]).backward()
            opt.step()
            with torch.no_grad():  # a positive threshold (Loihi's vth > 0)
                for m in net:
                    if hasattr(m, "threshold"):
                        m.threshold.clamp_(min=0.05)
        sched.step()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(DATA / "snntorch_digits"))
    args = ap.parse_args()

    import nir
    from safetensors.torch import save_file
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    xtr, ytr, xte, yte = digits_flat()
    net = make_net(args.hidden)
    t0 = time.time()
    train(net, xtr, ytr, args.epochs, args.seed)
    net.eval()
    train_acc, _ = accuracy(net, xtr, ytr)
    test_acc, _ = accuracy(net, xte, yte)
    graph = export_to_nir(net, rate_spikes(xte[:1])[0, 0])   # one sample, no batch axis
    out = Path(args.out)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()},
              str(out.with_suffix(".safetensors")))
    nir.write(str(out.with_suffix(".nir")), graph)
    info = {"source": "scripts/train_snntorch_digits.py (snnTorch, export_to_nir)",
            "architecture": f"Linear(64,{args.hidden},bias=False)-Leaky-Linear({args.hidden},10,"
                            "bias=False)-Leaky; class = argmax of output spike counts",
            "neuron": "snn.Leaky(reset_mechanism='zero', reset_delay=False), beta 0.9 per "
                      "layer, per-neuron learned threshold",
            "input": "pixel q in 0..16 as T=16 rate spikes floor((t+1)q/16)-floor(tq/16)",
            "T": T, "dt": 1e-4, "input_range": [0, 16], "hidden": args.hidden,
            "split": "sklearn load_digits: first 1437 train, last 360 test",
            "epochs": args.epochs, "seed": args.seed, "train_seconds": round(time.time() - t0, 1),
            "float_train_accuracy": train_acc, "float_test_accuracy": test_acc,
            "snntorch": __import__("snntorch").__version__, "nir": nir.version}
    out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
