"""The accuracy-vs-latency study: every method on the digits test set, golden simulator.

For each method and step budget T: accuracy of the readout's argmax after the run, steps run
(Ca-LIF: window + settle phase), mean steps to equilibrium t_eq (the step after which no state
changed; for budgets that end before equilibrium it is <= steps), share of settled samples,
spikes and SOPs per image (SOPs = sum over layers of |spikes| x fan-out, hwsnn.energy).
For IF methods also the residual-potential error: `accuracy_ideal` (the IF nodes' closed-form
count, i.e. the QANN at L = T) and `count_mismatch` (share of hidden neurons whose spike count
after T steps differs from that closed form).
"""

import json
import os
import time

import numpy as np
import torch

from ..sim import Network, count, run
from ._registry import get

__all__ = ["sweep", "references", "table", "plot"]


def _sops(trace, q):
    try:
        from ..energy import count_events
    except ImportError:  # hwsnn.energy is optional here
        return None
    ev = count_events(trace, q)
    tot = ev.total("sops")
    return None if tot is None else float(np.mean(tot))


def evaluate(method, T, x, y, batch=360):
    """One row: the method at budget T on pixels x (N, 1, 8, 8), labels y."""
    low = method.lower(T)
    if low is None:
        return {"method": method.name, "T": T, "accuracy": None}
    net = Network(low.graph)
    q = low.encode(x)
    right, steps, teq, settled, spikes, sops, wall = 0, 0, [], [], 0.0, 0.0, 0.0
    for i in range(0, len(x), batch):
        qb = q[i:i + batch]
        t0 = time.perf_counter()
        tr = run(net, qb, low.steps, record=False)
        wall += time.perf_counter() - t0            # simulation only (not the event counting)
        right += int((tr.output.argmax(1) == y[i:i + batch]).sum())
        steps = tr.steps
        teq.append(tr.t_eq)
        settled.append(tr.settled)
        spikes += sum(float(s.sum()) for s in tr.spikes.values())
        s = _sops(tr, qb)
        sops = None if s is None or sops is None else sops + s * len(qb)
    n = len(x)
    extra = {}
    if method.neuron == "IF":   # the residual-potential error: IF run vs its ideal count (the QANN)
        ideal = count(net, q)
        tr = run(net, q, low.steps, record=False)
        layers = [k for k in ideal["S"] if k in low.graph.meta.get("layers", {})]
        diff = sum(int((tr.final[k]["S"] != ideal["S"][k]).sum()) for k in layers)
        size = sum(ideal["S"][k].size for k in layers)
        extra = {"accuracy_ideal": float((ideal["output"].argmax(1) == y).mean()),
                 "count_mismatch": diff / size}
    return {"method": method.name, "neuron": method.neuron, "T": T, "accuracy": right / n,
            "steps": int(steps), "t_eq_mean": float(np.mean(np.concatenate(teq))),
            "t_eq_max": int(np.max(np.concatenate(teq))), "settled": float(np.mean(np.concatenate(settled))),
            "spikes": spikes / n, "sops": None if sops is None else sops / n,
            "seconds_per_image": wall / n, **extra, **{k: v for k, v in low.info.items()}}


def references():
    """Float model and bundled QANN accuracies on the digits test set."""
    from ..examples import digits_data, load_digits_model
    from ._train import accuracy
    model, qann, _ = load_digits_model()
    _, _, x, y = digits_data()
    return {"float": accuracy(model, x, y), "qann": accuracy(qann, x, y)}


def sweep(methods, steps, n_test=None, progress=None):
    """Rows of `evaluate` for every method name in `methods` and budget in `steps`."""
    from ..examples import digits_data
    torch.set_num_threads(min(2, torch.get_num_threads()))
    _, _, x, y = digits_data()
    if n_test is not None:
        x, y = x[:n_test], y[:n_test]
    rows = []
    for name in methods:
        m = get(name)
        for T in steps:
            rows.append(evaluate(m, T, x, y))
            if progress:
                progress(rows[-1])
    return rows


def _fmt(v):
    return "—" if v is None else f"{v:.3f}"


def table(rows, refs=None):
    """Markdown table: accuracy per method (rows) per T (columns)."""
    steps = sorted({r["T"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    acc = {(r["method"], r["T"]): r["accuracy"] for r in rows}
    lines = ["| method | " + " | ".join(f"T={t}" for t in steps) + " |",
             "| --- | " + " | ".join("---" for _ in steps) + " |"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_fmt(acc.get((m, t))) for t in steps) + " |")
    calif = [r for r in rows if r["method"] == "calif" and r["accuracy"] is not None]
    if calif:
        lines.append("")
        lines.append("calif: window of T steps, then the settle phase: "
                     + ", ".join(f"T={r['T']}: {r['steps']} steps" for r in calif))
    if refs:
        lines.append("")
        lines.append(f"float model: {refs['float']:.3f}, bundled QANN (8 levels): {refs['qann']:.3f}")
    return "\n".join(lines)


def plot(rows, path, refs=None):
    """Accuracy vs the steps each sample actually ran (= T, except ILIF (L+1)*b <= T and Ca-LIF
    window T + settle phase), one curve per method, float and QANN as horizontal lines
    (matplotlib Agg, written to a temporary file then renamed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["steps"], r["accuracy"]) for r in rows if r["method"] == m and r["accuracy"] is not None)
        if pts:
            label = f"{m} (window T + settle phase)" if m == "calif" else m
            ax.plot(*zip(*pts), marker="o", label=label)
    if refs:
        ax.axhline(refs["float"], color="k", ls="--", lw=1, label=f"float {refs['float']:.3f}")
        ax.axhline(refs["qann"], color="gray", ls=":", lw=1, label=f"QANN {refs['qann']:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps run per sample")
    ax.set_ylabel("digits test accuracy (360 images)")
    ax.set_ylim(0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{os.getpid()}{ext or '.png'}"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def to_json(rows, refs):
    return json.dumps({"references": refs, "rows": rows}, indent=1)
