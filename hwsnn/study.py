"""The accuracy-vs-latency study: every method on the digits test set, golden simulator.

`evaluate(method, T, x, y)` runs one configuration (a method at step budget T) and returns one
row; `sweep` loops over methods and budgets. A row holds:
  accuracy         readout argmax after the run
  steps            steps the batched run took (Ca-LIF: window + the batch's settle phase)
  steps_mean/_max  steps each sample really runs: T for ST-BIF and IF (read after T steps),
                   (hidden layers + 1) * b for iLIF, and for Ca-LIF the window T plus the
                   sample's own settle phase (one absorb step per stateful layer, then one step
                   per settle step in which one of its neurons still fires)
  t_eq_mean/_max   steps after which no state changed; settled: share with nothing in flight
                   (None for Ca-LIF: its t_eq counts the batch's settle schedule, not the
                   sample's; a Ca-LIF sample's run ends when its settle phase does)
  equals_qann      share of samples whose readout equals the count semantics (hwsnn.sim.count:
                   the integer QANN for ST-BIF/iLIF/Ca-LIF, the IF closed form = QANN at L = T)
  spikes, sops     per image (SOPs = sum over layers of |spikes| x fan-out, hwsnn.energy)
For IF methods also `accuracy_ideal` (the closed form's accuracy) and `count_mismatch` (share
of hidden neurons whose spike count after T steps differs from that closed form).
`base_models` names each method's base model with its float and QANN accuracies.
"""

import copy
import json
import os
import time

import numpy as np
import torch

from .sim import Network, count, run
from .methods import get

__all__ = ["evaluate", "sweep", "references", "base_models", "table", "details_table", "plot",
           "to_json"]

CALIF_RECORD_BATCH = 30   # per-step records of a Ca-LIF run (hundreds of steps) in small batches


def _sops(trace, q):
    from .energy import count_events
    tot = count_events(trace, q).total("sops")
    return None if tot is None else float(tot.sum())


def _calif_sample_steps(net, trace, window):
    """(batch,) steps each sample runs alone: window + one absorb step per stateful layer + the
    settle steps in which one of its neurons fired (a neuron fires its settle spikes in
    consecutive steps, so a sample's settle loop for a layer ends at its last spike)."""
    fired = np.zeros((trace.steps - window, trace.batch), dtype=bool)
    for n in net.graph.neurons:
        y = trace.y[n][window:].reshape(trace.steps - window, trace.batch, -1)
        fired |= (y != 0).any(axis=2)
    stateful = sum(net.graph.nodes[n].ROLE in ("neuron", "readout") for n in net.order)
    return window + stateful + fired.sum(axis=0)


def _run_rows(net, q, steps, calif, batch):
    """Golden runs of q in batches: yields (trace, q_batch, per-sample steps)."""
    size = min(batch, CALIF_RECORD_BATCH) if calif else batch
    for i in range(0, len(q), size):
        qb = q[i:i + size]
        tr = run(net, qb, steps, record=calif)
        per = _calif_sample_steps(net, tr, steps) if calif else np.full(len(qb), tr.steps)
        yield tr, qb, per


def evaluate(method, T, x, y, batch=360):
    """One row: `method` (a registry object) at budget T on pixels x (N, 1, 8, 8), labels y."""
    low = method.lower(T)
    if low is None:
        return {"method": method.name, "neuron": method.neuron, "T": T, "accuracy": None}
    net = Network(low.graph)
    q = low.encode(x)
    ideal = count(net, q)
    right, equal, spikes, sops, wall, steps = 0, 0, 0.0, 0.0, 0.0, 0
    per, teq, settled, finals = [], [], [], []
    t0 = time.perf_counter()
    for tr, qb, sample_steps in _run_rows(net, q, low.steps, bool(net.calif_T), batch):
        wall += time.perf_counter() - t0
        i = sum(len(p) for p in per)
        right += int((tr.output.argmax(1) == y[i:i + len(qb)]).sum())
        equal += int(np.all((tr.output == ideal["output"][i:i + len(qb)]).reshape(len(qb), -1), 1).sum())
        steps = max(steps, tr.steps)
        per.append(sample_steps)
        teq.append(tr.t_eq)
        settled.append(tr.settled)
        finals.append(tr.final)
        spikes += sum(float(s.sum()) for s in tr.spikes.values())
        sops += _sops(tr, qb)
        t0 = time.perf_counter()            # simulation only: the event counting is not timed
    n, per, teq = len(x), np.concatenate(per), np.concatenate(teq)
    extra = {}
    if method.neuron == "IF":   # the residual-potential error: IF run vs its ideal count (the QANN)
        layers = [k for k in ideal["S"] if k in low.graph.meta.get("layers", {})]
        diff = sum(int((np.concatenate([f[k]["S"] for f in finals]) != ideal["S"][k]).sum())
                   for k in layers)
        size = sum(ideal["S"][k].size for k in layers)
        extra = {"accuracy_ideal": float((ideal["output"].argmax(1) == y).mean()),
                 "count_mismatch": diff / size}
    return {"method": method.name, "neuron": method.neuron, "T": T, "accuracy": right / n,
            "steps": int(steps), "steps_mean": float(per.mean()), "steps_max": int(per.max()),
            "t_eq_mean": None if net.calif_T else float(teq.mean()),
            "t_eq_max": None if net.calif_T else int(teq.max()),
            "settled": float(np.mean(np.concatenate(settled))), "equals_qann": equal / n,
            "spikes": spikes / n, "sops": sops / n, "seconds_per_image": wall / n,
            **extra, **dict(low.info)}


def references():
    """Float model and bundled QANN accuracies on the digits test set."""
    from .examples import digits_data, load_digits_model
    from .methods._digits import accuracy
    model, qann, _ = load_digits_model()
    _, _, x, y = digits_data()
    return {"float": accuracy(model, x, y), "qann": accuracy(qann, x, y)}


def _relu_float(qann):
    """The QANN's own float network: the same weights with every activation a plain ReLU."""
    f = copy.deepcopy(qann)
    for op in f.qrelus:
        f.layers[op.key] = torch.nn.ReLU()
    return f.eval()


def base_models(names):
    """{method: {"base": what it was made from, "float": accuracy, "qann": accuracy}} on the
    digits test set (accuracies of torch forwards; "own float" = the QANN's weights with ReLU)."""
    from .examples import digits_data
    from .methods._digits import load_state
    from .methods._digits import accuracy, load_method_qann
    _, _, x, y = digits_data()
    refs = references()
    bundled = ("bundled digits CNN (float) -> bundled QANN (LSQ Q-ReLU, 8 levels)",
               refs["float"], refs["qann"])
    out = {}
    for name in names:
        if name in ("stbif", "ilif"):
            base, fl, qa = bundled
            if name == "ilif":
                base = "the bundled QANN re-levelled to 2^b - 1 levels (not retrained)"
        elif name == "spikezip":
            q = load_method_qann("spikezip")
            base, fl, qa = ("retrained: PET (paths n = 8/4/2, distilled from the bundled float "
                            "CNN), major path exported; float = its own weights with ReLU",
                            accuracy(_relu_float(q), x, y), accuracy(q, x, y))
        elif name in ("qcfs", "sliprelu"):
            q = load_method_qann(name)
            base, fl, qa = (f"{name} QANN (8 levels) fine-tuned from the bundled float CNN, "
                            f"re-levelled to L = T", refs["float"], accuracy(q, x, y))
        elif name == "dualphase":
            per_T = load_state("dualphase.safetensors")[1]["per_T"]
            accs = [v["calibrated_accuracy"] for v in per_T.values()]
            base, fl, qa = ("one Phase-I QC-ANN per T from the bundled float CNN, Phase-II "
                            f"calibrated; QANN = range over T = {min(accs):.3f}-{max(accs):.3f}",
                            refs["float"], min(accs))
        elif name == "calif":
            meta = load_state("calif.safetensors")[1]
            base, fl, qa = ("retrained: its own float CNN (average pooling), then torch.ao QAT "
                            "int8 (x86 qconfig); QANN = the int8 model in torch",
                            meta["float_accuracy"], meta["int8_accuracy"])
        else:
            continue
        out[name] = {"base": base, "float": float(fl), "qann": float(qa)}
    return out


def sweep(methods, steps, n_test=None, progress=None):
    """Rows of `evaluate` for every method name in `methods` and budget in `steps`."""
    from .examples import digits_data
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


def _fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}f}"


def _cell(r):
    if r is None or r["accuracy"] is None:
        return "—"
    if r["steps_max"] == r["T"] and r["steps_mean"] == r["T"]:
        return f"{r['accuracy']:.3f}"
    return f"{r['accuracy']:.3f} @ {r['steps_mean']:.0f}/{r['steps_max']}"


def table(rows, refs=None, bases=None):
    """Markdown table: accuracy per method (rows) per budget T (columns); where the steps a
    sample really runs differ from T, the cell adds `@ mean/max` steps run per sample."""
    steps = sorted({r["T"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    by = {(r["method"], r["T"]): r for r in rows}
    lines = ["| method | " + " | ".join(f"T={t}" for t in steps) + " |",
             "| --- | " + " | ".join("---" for _ in steps) + " |"]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_cell(by.get((m, t))) for t in steps) + " |")
    lines += ["", "cell: accuracy; `@ m/M`: mean / max steps a sample really runs, where not T"]
    if bases:
        lines += ["", "| method | base model | float | QANN |", "| --- | --- | --- | --- |"]
        lines += [f"| {m} | {b['base']} | {b['float']:.3f} | {b['qann']:.3f} |"
                  for m, b in bases.items() if m in methods]
    elif refs:
        lines += ["", f"float model: {refs['float']:.3f}, bundled QANN (8 levels): {refs['qann']:.3f}"]
    return "\n".join(lines)


def details_table(rows):
    """Markdown table, one line per row: steps run per sample, equilibrium, equality with the
    count semantics, IF residual error (ideal accuracy, count mismatch), spikes, SOPs."""
    lines = ["| method | T | steps run mean | max | t_eq mean | settled | equals QANN | IF ideal acc. "
             "| IF count mismatch | spikes/img | SOPs/img |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if r["accuracy"] is None:
            continue
        ideal = _fmt(r.get("accuracy_ideal"))
        mis = "—" if r.get("count_mismatch") is None else f"{r['count_mismatch']:.4f}"
        lines.append(f"| {r['method']} | {r['T']} | {r['steps_mean']:.1f} | {r['steps_max']} | "
                     f"{_fmt(r['t_eq_mean'], 1)} | {r['settled']:.2f} | {r['equals_qann']:.3f} | {ideal} | "
                     f"{mis} | {r['spikes']:.0f} | {r['sops']:.0f} |")
    return "\n".join(lines)


def plot(rows, path, refs=None):
    """Accuracy vs the mean steps a sample really runs (bars to the max), one curve per method,
    float and QANN as horizontal lines (matplotlib Agg, temporary file then renamed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for m in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["steps_mean"], r["steps_max"], r["accuracy"]) for r in rows
                     if r["method"] == m and r["accuracy"] is not None)
        if not pts:
            continue
        mean, top, acc = (np.array(v, dtype=float) for v in zip(*pts))
        label = f"{m} (window T + settle phase)" if m == "calif" else m
        ax.errorbar(mean, acc, xerr=[np.zeros_like(mean), top - mean], marker="o", ms=4,
                    capsize=2, label=label)
    if refs:
        ax.axhline(refs["float"], color="k", ls="--", lw=1, label=f"float {refs['float']:.3f}")
        ax.axhline(refs["qann"], color="gray", ls=":", lw=1, label=f"QANN {refs['qann']:.3f}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps a sample really runs (mean; bar to the max)")
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


def to_json(rows, refs, bases=None):
    return json.dumps({"references": refs, "base_models": bases or {}, "rows": rows}, indent=1)
