"""Dual-phase conversion (Phase I: QC-ANN fine-tuning; Phase II: calibration) for IF neurons.

Phase I: the float model becomes a QC-ANN with T levels (QCNoise: trainable threshold theta,
Quant-Noise p = 0.2 for T <= 2, 0.1 for T <= 4, else 0) fine-tuned with cross-entropy.
Phase II, layer by layer on N calibration samples, with the QC-ANN levels a = clip(floor(zT/theta
+ 1/2), 0, T) as targets and the float per-step IF network (per-step input T * release(q, t, T)
/ 16, threshold theta, soft reset) giving spike counts S:
  coarse (Eq. 16): v0 = theta/2 + theta * mean_i (a_i - S_i)     (per neuron, S run at v0 = theta/2)
  fine   (Eq. 17-19): Adam on the layer's W, b minimising mean (S/T - a/T)^2 (MSE instead of the
         paper's KL), BPTT through the T steps, rectangular surrogate dH/du = 1/alpha on
         |u - theta| < alpha/2 (alpha = theta); inputs are the calibrated previous layer's spikes.
         The forward pass is the exact IF run, so its loss is the true calibration loss: the
         weights with the lowest loss seen (the initial ones included) are kept.
Layer error (`layer_errors`): mean over samples and neurons of (S/T - a/T)^2 on the integer IR.
The integer IR: compile the calibrated QC-ANN (levels T, R = bias_R = T) and use IF nodes with
v0_int = round(v0 * theta_int / theta).
"""

import copy

import numpy as np
import torch
import torch.nn.functional as F

from ..convert import convert
from ..sim import release
from ._digits import RANGE, SCALE, compile_fit
from ..compile import to_if
from ..convert import swap_activations, with_levels

__all__ = ["qc_ann", "if_counts", "coarse_calibrate", "fine_calibrate", "calibrate",
           "lower_calibrated", "layer_errors", "train_dualphase", "load_dualphase"]


def noise_p(T):
    return 0.2 if T <= 2 else (0.1 if T <= 4 else 0.0)


def qc_ann(model, T, calib):
    """Phase-I QC-ANN of float `model` with T levels (thresholds from `calib`)."""
    from ..examples import DIGITS_INPUT_SHAPE
    q = convert(model, DIGITS_INPUT_SHAPE, levels=T, calib=calib, pool="avg")
    return swap_activations(q, "dualphase", p=noise_p(T))


def _steps_input(q, T):
    """(T, B, ...) float per-step inputs T * release(q, t, T) / 16 (their mean is q / 16)."""
    q = torch.as_tensor(np.asarray(q), dtype=torch.int64)
    return torch.stack([release(q, t, T).double() * T / 16 for t in range(T)])


def _linear(op, mod, x):
    if op.kind == "conv":
        return F.conv2d(x, mod.weight.double(), mod.bias.double(), mod.stride, mod.padding, 1, mod.groups)
    return F.linear(x, mod.weight.double(), mod.bias.double())


def _if_layer(I, lam, v0, surrogate=False):
    """Per-step IF over I (T, B, ...): returns spikes (T, B, ...) (values 0/1)."""
    V = v0.expand_as(I[0]).clone() if torch.is_tensor(v0) else torch.full_like(I[0], float(v0))
    out = []
    for t in range(I.shape[0]):
        V = V + I[t]
        if surrogate:
            h = ((V - lam).abs() < lam / 2).double() / lam
            s = (V >= lam).double().detach() + (h * (V - V.detach()))
        else:
            s = (V >= lam).double()
        V = V - lam * s
        out.append(s)
    return torch.stack(out)


def _lam(qann, op):
    return float(qann.layers[op.key].lam.detach())


def if_counts(qann, q, T, v0=None, upto=None):
    """Float per-step IF network of `qann` on integer pixels q for T steps.
    Returns ({layer: spike count S (B, ...)}, {layer: input spike train to it (T, B, ...) })."""
    v0 = v0 or {}
    env, counts, inputs = {}, {}, {}
    with torch.no_grad():
        for op in qann.ops:
            if op.kind == "input":
                env[op.name] = _steps_input(q, T)
            elif op.kind in ("conv", "linear"):
                x = env[op.inputs[0]]
                env[op.name] = torch.stack([_linear(op, qann.layers[op.key], x[t]) for t in range(T)])
                env[op.name + ".in"] = x
            elif op.kind == "avgpool":
                x = env[op.inputs[0]]
                env[op.name] = F.avg_pool2d(x.flatten(0, 1), op.attrs["kernel"], op.attrs["stride"], op.attrs.get("padding", 0)).unflatten(0, x.shape[:2])
            elif op.kind == "flatten":
                env[op.name] = env[op.inputs[0]].flatten(2)
            elif op.kind == "qrelu":
                lam = _lam(qann, op)
                s = _if_layer(env[op.inputs[0]], lam, v0.get(op.name, lam / 2))
                counts[op.name] = s.sum(0)
                inputs[op.name] = op.inputs[0]
                env[op.name] = s * lam
                if op.name == upto:
                    break
            elif op.kind == "output":
                env["output"] = env[op.inputs[0]]
    return counts, env


def _levels(qann, q):
    """{layer: QC-ANN level (B, ...)} of every activation on pixels q."""
    with torch.no_grad():
        env = copy.deepcopy(qann).double().eval()(torch.as_tensor(np.asarray(q), dtype=torch.float64) / 16,
                                                  capture=True)
    return {op.name: qann.layers[op.key].level(env[op.inputs[0]].float()).double() for op in qann.qrelus}


def coarse_calibrate(qann, target, q, T, v0):
    """Eq. 16 for the next uncalibrated layer: updates and returns `v0` (float per neuron)."""
    for op in qann.qrelus:
        if op.name in v0:
            continue
        counts, _ = if_counts(qann, q, T, v0, upto=op.name)
        lam = _lam(qann, op)
        v0[op.name] = lam / 2 + lam * (target[op.name] - counts[op.name]).mean(0)
        return v0
    return v0


def _pre_chain(qann, op):
    """The linear ops (in order) between the previous activation (or input) and activation `op`."""
    chain, cur = [], op.inputs[0]
    by_name = {o.name: o for o in qann.ops}
    while by_name[cur].kind in ("conv", "linear", "avgpool", "flatten"):
        chain.append(by_name[cur])
        cur = by_name[cur].inputs[0]
    return list(reversed(chain)), cur


def fine_calibrate(qann, target, q, T, v0, layer, iters=40, lr=5e-4):
    """Adam on the W, b of the conv/linear feeding `layer` (BPTT, rectangular surrogate)."""
    op = next(o for o in qann.qrelus if o.name == layer)
    chain, src = _pre_chain(qann, op)
    counts, env = if_counts(qann, q, T, v0, upto=layer)
    x_in = env[src].detach()
    lam = _lam(qann, op)
    params = [p for o in chain if o.kind in ("conv", "linear") for p in qann.layers[o.key].parameters()]
    opt = torch.optim.Adam(params, lr=lr * lam)
    tgt = target[layer] / T
    best = (float("inf"), None)
    for _ in range(iters + 1):
        opt.zero_grad()
        x = x_in
        for o in chain:
            if o.kind in ("conv", "linear"):
                m = qann.layers[o.key]
                x = torch.stack([_linear(o, m, x[t]) for t in range(T)])
            elif o.kind == "avgpool":
                x = F.avg_pool2d(x.flatten(0, 1), o.attrs["kernel"], o.attrs["stride"], o.attrs.get("padding", 0)).unflatten(0, x.shape[:2])
            else:
                x = x.flatten(2)
        s = _if_layer(x, lam, v0[layer].detach() if torch.is_tensor(v0[layer]) else v0[layer], surrogate=True)
        loss = ((s.mean(0) - tgt) ** 2).mean()   # forward is the exact IF run: the true loss
        if loss.item() < best[0]:
            best = (loss.item(), [p.detach().clone() for p in params])
        loss.backward()
        opt.step()
    with torch.no_grad():                          # keep the best weights seen (initial included)
        for p, b in zip(params, best[1]):
            p.copy_(b)
    return best[0]


def calibrate(qann, q, T, fine=True, iters=40):
    """Phase II on calibration pixels q: returns (calibrated QC-ANN copy, {layer: v0})."""
    ref = copy.deepcopy(qann).eval()
    target = _levels(ref, q)
    cal = copy.deepcopy(qann).eval()
    v0 = {}
    for op in cal.qrelus:
        coarse_calibrate(cal, target, q, T, v0)
        if fine:
            fine_calibrate(cal, target, q, T, v0, op.name, iters=iters)
    return cal, v0


def lower_calibrated(qann, v0, T):
    """Integer IR (IF nodes) of a QC-ANN with float initial potentials v0 ({layer: array})."""
    g = compile_fit(with_levels(qann, T), input_scale=SCALE, input_range=RANGE, R=T, bias_R=T)
    phi = {}
    for op in qann.qrelus:
        if v0 and v0.get(op.name) is not None:
            theta = float(g.meta["layers"][op.name]["theta"])
            v = torch.as_tensor(v0[op.name], dtype=torch.float64) * theta / _lam(qann, op)
            phi[op.name] = torch.floor(v + 0.5).to(torch.int64).numpy()
    return to_if(g, phi)


def layer_errors(ref_qann, graph, q, T):
    """{layer: mean (S/T - a/T)^2} between the IR's IF spike counts after T golden steps and the
    reference QC-ANN levels a on integer pixels q (the layer-wise rate error)."""
    from ..sim import run
    from ..compile import model_neurons
    target = _levels(ref_qann, q)
    tr = run(graph, q, T, record=False)
    out = {}
    for k, a in target.items():
        S = torch.as_tensor(tr.final[k]["S"]).double()[:, :model_neurons(graph, k)]
        out[k] = float((((S - a) / T) ** 2).mean())
    return out


def train_dualphase(model, xtr, ytr, xte, yte, steps, path, seed=0, epochs=8, n_calib=256,
                    iters=40, log=print):
    """Phase I and II for every T in `steps`; the file is rewritten after each T (resumable:
    T already in the file are kept). `iters`: fine-calibration iterations per layer."""
    import os
    from ._digits import load_state, save_state
    from ._digits import accuracy, digits_loader, train_qann
    tensors, per_T = {}, {}
    if os.path.isfile(path):
        tensors, meta = load_state(str(path))
        per_T = meta.get("per_T", {})
    calib = torch.as_tensor(xtr, dtype=torch.float32) / 16
    for T in steps:
        if f"T{T}" in per_T:
            continue
        torch.manual_seed(seed)
        qc = qc_ann(model, T, calib)
        train_qann(qc, digits_loader(xtr, ytr, seed=seed), epochs, lr=1e-3)
        cal, v0 = calibrate(qc, xtr[:n_calib], T, iters=iters)
        for k, v in cal.state_dict().items():
            tensors[f"T{T}.{k}"] = v
        for k, v in v0.items():
            tensors[f"T{T}.v0.{k}"] = torch.as_tensor(v).double()
        per_T[f"T{T}"] = {"levels": T, "qc_ann_accuracy": accuracy(qc, xte, yte),
                          "calibrated_accuracy": accuracy(cal, xte, yte)}
        save_state(path, tensors, {"method": "dualphase", "activation": "dualphase", "kwargs": {},
                                   "per_T": per_T, "seed": seed, "epochs": epochs, "n_calib": n_calib,
                                   "iters": iters})
        if log:
            log(f"dualphase T={T}: {per_T[f'T{T}']}", flush=True)
    return per_T


def load_dualphase():
    """{T: (calibrated QC-ANN, {layer: v0})} from bundled dualphase.safetensors."""
    from ._digits import load_state
    from ._digits import qann_from_state
    tensors, meta = load_state("dualphase.safetensors")
    out = {}
    for key in meta["per_T"]:
        T = int(key[1:])
        pre = f"{key}.v0."
        v0 = {k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)}
        rest = {k: v for k, v in tensors.items() if not k.startswith(pre)}
        out[T] = (qann_from_state(rest, meta, prefix=f"{key}."), v0)
    return out
