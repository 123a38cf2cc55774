"""Peer comparison: SpikingJelly 2.0's SpikeZIP ST-BIF and classic converters vs hwsnn, one run.

    .venv/bin/python benchmarks/peer_spikingjelly.py [--steps 1,2,4,8,16,32,64]
        [--methods stbif,spikezip,qcfs] [--time-steps 16] [--batch1 60] [--threads 1,2]

Install the peer as `make bench` does (its torchvision/torchaudio pins would replace torch):
    .venv/bin/python -m pip -q install --no-deps spikingjelly==2.0.0
    .venv/bin/python -m pip -q install "loguru>=0.7,<1" requests

Four parts, all on the 360 digits test images, side by side:
1. SpikeZIP (SpikingJelly): the bundled hwsnn QANN rebuilt as a plain torch Sequential (the
   same BN-folded conv/linear weights; each Q-ReLU a quantizer module exposing `s`, `sym`,
   `pos_max`, `neg_min`, `level`, forward clip(floor(x/s + 1/2), 0, n) * s). Its forward is
   checked against hwsnn's QANN forward and printed. Then
   `ann2snn.ModuleConverter(SpikeZIPTFQANNRecipe(time_steps=T)).convert(...)` turns each
   quantizer into `neuron.STBIFNode` and Conv2d/Linear into SpikeZIPConv2d/SpikeZIPLinear
   (bias released as b/n over n steps). Input: the same per-step values as hwsnn's `stbif`
   method (pixels released over R = n steps, release(q, t, R) / 16). Output: sum over steps.
2. Classic (SpikingJelly): `ann2snn.Converter(RateCodingRecipe(loader, mode))` on the float
   model (Conv-BN fusion, IF neurons, soft reset, threshold from the max or the 99.9 %
   percentile of the activations, float input every step, output = mean over T).
3. hwsnn: `hwsnn.study.evaluate` (golden integer simulator) for each method.
   Accuracy at each T, and the first T from which on each SNN equals its QANN (at that T and
   every larger T of the grid): hwsnn, SpikeZIP: every sample's output equals its QANN's
   (hwsnn: integer readout == count semantics, for IF the QANN at L = T; SpikeZIP: every
   STBIFNode's accumulated level acc_q == the QANN's level); classic: its argmax equals the
   float ANN's on every sample (a rate-coded IF network has no exact equivalence to reach). Wall time per image (simulation only) at batch 360 and batch 1,
   with each thread count, best of 3, as ratios hwsnn / peer at T = --time-steps.
4. SpikingJelly's ST-BIF on hwsnn's own integer IR (the `stbif` graph): one STBIFNode per IR
   STBIF node (q_threshold = the integer theta, pos_max = s_max, neg_min = s_min; it starts at
   q = 1/2 = v0/theta), fed the IR's integer synapses in float32. Two feeds: (a) the IR's
   integer per-step currents (input and bias releases as in the IR: only SJ's floating-point
   integration differs) and (b) SJ's own SpikeZIPConv2d/SpikeZIPLinear carrying the IR's
   integer weights and biases (bias b/R every step). Reported: on how many samples y and S of
   every ST-BIF node and the readout equal the golden run at every step, and at the end.
"""

import argparse
import copy
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

REPEATS = 3


# --- 1. SpikeZIP from the bundled QANN -----------------------------------------------------

class Quantizer(nn.Module):
    """What SpikeZIPTFQANNRecipe converts: a quantizer with `s`, `sym`, `pos_max`, `neg_min`;
    forward clip(floor(x/s + 1/2), neg_min, pos_max) * s (hwsnn's Q-ReLU, round half up)."""

    def __init__(self, s, levels):
        super().__init__()
        self.register_buffer("s", torch.tensor(float(s)))
        self.sym, self.level = False, int(levels)   # level: SpikeZIP's bias release steps
        self.register_buffer("pos_max", torch.tensor(float(levels)))
        self.register_buffer("neg_min", torch.tensor(0.0))

    def forward(self, x):
        return torch.clamp(torch.floor(x / self.s + 0.5), self.neg_min, self.pos_max) * self.s


def sj_qann(qann):
    """torch Sequential with hwsnn's QANN's folded weights, scales and levels."""
    layers = []
    for op in qann.ops:
        mod = qann.layers[op.key] if op.key else None
        if op.kind in ("conv", "linear"):
            layers.append(copy.deepcopy(mod))
        elif op.kind == "qrelu":
            layers.append(Quantizer(mod.scale.detach(), mod.levels))
        elif op.kind == "avgpool":
            layers.append(nn.AvgPool2d(op.attrs["kernel"], op.attrs["stride"]))
        elif op.kind == "flatten":
            layers.append(nn.Flatten())
        elif op.kind not in ("input", "output"):
            raise SystemExit(f"op kind {op.kind!r} has no SpikeZIP counterpart here")
    return nn.Sequential(*layers).eval()


def qann_levels(seq, x):
    """[level tensor of every Quantizer] of a Sequential on float input x."""
    out = []
    with torch.no_grad():
        for m in seq:
            if isinstance(m, Quantizer):
                out.append(torch.clamp(torch.floor(x / m.s + 0.5), m.neg_min, m.pos_max))
            x = m(x)
    return out


def spikezip_snn(seq, T):
    from spikingjelly.activation_based.ann2snn import ModuleConverter
    from spikingjelly.activation_based.ann2snn.recipes import SpikeZIPTFQANNRecipe
    return ModuleConverter(SpikeZIPTFQANNRecipe(time_steps=T)).convert(seq).eval()


def run_spikezip(snn, q, T, R):
    """Per-step run: input release(q, t, R) / 16; returns (logits = sum of outputs, [acc_q])."""
    from spikingjelly.activation_based import functional, neuron
    from hwsnn.sim import release
    functional.reset_net(snn)
    qt = torch.as_tensor(q, dtype=torch.int64)
    out = 0
    with torch.no_grad():
        for t in range(T):
            out = out + snn(release(qt, t, R).float() / 16)
    nodes = [m for m in snn.modules() if isinstance(m, neuron.STBIFNode)]
    return out, [m.acc_q for m in nodes]


def spikezip_rows(seq, q, y, steps, levels):
    x = torch.as_tensor(q, dtype=torch.float32) / 16
    ref_levels = qann_levels(seq, x)
    with torch.no_grad():
        ref_pred = seq(x).argmax(1).numpy()
    rows = []
    for T in steps:
        snn = spikezip_snn(seq, T)
        logits, acc = run_spikezip(snn, q, T, levels)
        same = np.ones(len(q), dtype=bool)
        for a, r in zip(acc, ref_levels):
            same &= (a == r).flatten(1).all(1).numpy()
        pred = logits.argmax(1).numpy()
        rows.append({"method": "SJ SpikeZIP (STBIFNode)", "T": T, "accuracy": float((pred == y).mean()),
                     "equals_qann": float(same.mean()), "argmax_equals_qann": float((pred == ref_pred).mean())})
    return rows


# --- 2. the classic converter ---------------------------------------------------------------

def classic_snn(model, xtr, mode):
    from spikingjelly.activation_based.ann2snn import Converter, RateCodingRecipe
    calib = torch.utils.data.DataLoader(torch.as_tensor(xtr, dtype=torch.float32) / 16, batch_size=256)
    return Converter(RateCodingRecipe(calib, mode=mode)).convert(copy.deepcopy(model).eval()).eval()


def run_classic(snn, x, T):
    from spikingjelly.activation_based import functional
    functional.reset_net(snn)
    with torch.no_grad():
        return sum(snn(x) for _ in range(T)) / T


def classic_rows(model, xtr, q, y, steps, modes):
    x = torch.as_tensor(q, dtype=torch.float32) / 16
    with torch.no_grad():
        ref = model.eval()(x).argmax(1).numpy()
    rows = []
    for mode in modes:
        snn = classic_snn(model, xtr, mode)
        for T in steps:
            pred = run_classic(snn, x, T).argmax(1).numpy()
            rows.append({"method": f"SJ classic IF ({mode})", "T": T, "accuracy": float((pred == y).mean()),
                         "equals_qann": None, "argmax_equals_qann": float((pred == ref).mean())})
    return rows


# --- 3. wall time ---------------------------------------------------------------------------

def best_time(fn, repeats=REPEATS):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def timing(seq, model, xtr, graph, q, T, n1, threads):
    """{(executor, threads, batch): seconds per image}; batch 1 over the first n1 images."""
    from hwsnn.sim import Network, run
    net = Network(graph)
    levels = int(graph.nodes[graph.sources[0]].R)
    snn = spikezip_snn(seq, T)
    classic = classic_snn(model, xtr, "Max")
    x = torch.as_tensor(q, dtype=torch.float32) / 16
    execs = {
        "hwsnn golden (integer ST-BIF)": lambda a, b: run(net, q[a:b], T, record=False),
        "SJ SpikeZIP (float STBIFNode)": lambda a, b: run_spikezip(snn, q[a:b], T, levels),
        "SJ classic IF (Max)": lambda a, b: run_classic(classic, x[a:b], T),
    }
    out = {}
    for th in threads:
        torch.set_num_threads(th)
        for name, fn in execs.items():
            out[(name, th, len(q))] = best_time(lambda: fn(0, len(q))) / len(q)
            out[(name, th, 1)] = best_time(lambda: [fn(i, i + 1) for i in range(n1)], 1) / n1
    return out


# --- 4. SpikingJelly's ST-BIF on hwsnn's integer IR -----------------------------------------

def _synapse(node, x):
    t = node.type
    if t == "Conv2d":
        return F.conv2d(x, torch.as_tensor(node.W, dtype=torch.float32), None, node.stride, node.padding,
                        1, node.groups)
    if t == "Dense":
        return F.linear(x, torch.as_tensor(node.W, dtype=torch.float32))
    if t == "SumPool2d":
        return F.avg_pool2d(x, node.kernel, node.stride, divisor_override=1)
    if t == "Flatten":
        return x.flatten(1)
    if t == "Scale":
        return x * float(node.w)
    raise SystemExit(f"IR node type {t} has no float counterpart here")


class SJOnIR:
    """The IR run with SpikingJelly STBIFNodes in float32. feed "ir": the IR's integer input and
    bias releases; feed "sj": SJ's SpikeZIPConv2d/SpikeZIPLinear (integer W and bias, bias b/R
    per step for R steps) as the synapse that ends in each ST-BIF node."""

    def __init__(self, graph, feed):
        from spikingjelly.activation_based.ann2snn.recipes.spikezip_qann import (SpikeZIPConv2d,
                                                                                  SpikeZIPLinear)
        from spikingjelly.activation_based.neuron import STBIFNode
        self.g, self.feed, self.order = graph, feed, graph.topo_order()
        self.nodes, self.sj_syn = {}, {}
        for name in self.order:
            node = graph.nodes[name]
            if node.type == "STBIF":
                if np.ndim(node.theta) or not np.all(2 * np.asarray(node.v0) == np.asarray(node.theta)):
                    raise SystemExit(f"node {name}: STBIFNode needs one theta and v0 = theta/2")
                self.nodes[name] = STBIFNode(float(node.theta), level=node.s_max + 1, pos_max=node.s_max,
                                             neg_min=node.s_min)
                (edge,) = graph.inputs_of(name)
                syn = graph.nodes[edge.src]
                if feed == "sj":
                    self.sj_syn[edge.src] = self._sj_module(syn, node, SpikeZIPConv2d, SpikeZIPLinear)

    @staticmethod
    def _sj_module(syn, node, conv_cls, linear_cls):
        W = torch.as_tensor(syn.W, dtype=torch.float32)
        b = torch.as_tensor(np.array(np.broadcast_to(node.bias, node.shape)).reshape(node.shape[0], -1)[:, 0],
                            dtype=torch.float32)
        if syn.type == "Conv2d":
            base = nn.Conv2d(W.shape[1] * syn.groups, W.shape[0], W.shape[2:], syn.stride, syn.padding,
                             groups=syn.groups)
            mod = conv_cls
        else:
            base, mod = nn.Linear(W.shape[1], W.shape[0]), linear_cls
        with torch.no_grad():
            base.weight.copy_(W)
            base.bias.copy_(b)
        return mod(base, level=node.bias_R, bias_steps=node.bias_R)

    def run(self, q, steps):
        """{node: {"y", "S"}: (steps, batch, *shape) float arrays}, readout V per step."""
        from spikingjelly.activation_based import functional
        from hwsnn.sim import release
        for m in list(self.nodes.values()) + list(self.sj_syn.values()):
            functional.reset_net(m)
        qt = torch.as_tensor(q, dtype=torch.int64)
        rec = {n: {"y": [], "S": []} for n in self.nodes}
        readout = {n: [] for n in self.g.readouts}
        V = {n: 0 for n in self.g.readouts}
        with torch.no_grad():
            for t in range(steps):
                val = {}
                for name in self.order:
                    node = self.g.nodes[name]
                    ins = self.g.inputs_of(name)
                    if node.ROLE == "source":
                        val[name] = release(qt, t, node.R).float()
                    elif node.ROLE == "synapse":
                        x = val[ins[0].src]
                        val[name] = self.sj_syn[name](x) if name in self.sj_syn else _synapse(node, x)
                    elif name in self.nodes:
                        I = sum(val[e.src] for e in ins)
                        if self.feed == "ir":
                            b = torch.as_tensor(np.broadcast_to(node.bias, node.shape).astype(np.int64))
                            I = I + release(b, t, node.bias_R).float()
                        sj = self.nodes[name]
                        sj(I)
                        val[name] = sj.cur_output
                        rec[name]["y"].append(sj.cur_output.clone())
                        rec[name]["S"].append(sj.acc_q.clone())
                    else:                     # Readout: V = V + I (float32)
                        V[name] = V[name] + sum(val[e.src] for e in ins)
                        readout[name].append(V[name].clone())
        out = {n: {k: torch.stack(v).numpy() for k, v in r.items()} for n, r in rec.items()}
        return out, {n: torch.stack(v).numpy() for n, v in readout.items()}


def ir_agreement(graph, q, steps, feed):
    """Samples on which SJ's run equals golden at every step (y, S of every ST-BIF node, readout
    V), and at the last step only; the first differing (node, variable, step) of one sample."""
    from hwsnn.sim import run
    gold = run(graph, q, steps, record=True)
    sj, readout = SJOnIR(graph, feed).run(q, steps)
    every = np.ones(len(q), dtype=bool)
    final = np.ones(len(q), dtype=bool)
    first = None
    pairs = [(n, v, sj[n][v], getattr(gold, v)[n]) for n in sj for v in ("y", "S")]
    pairs += [(n, "V", readout[n], gold.V[n]) for n in readout]
    for n, v, a, b in pairs:
        eq = (a == b).reshape(steps, len(q), -1).all(2)             # (steps, batch)
        every &= eq.all(0)
        final &= eq[-1]
        if first is None and not eq.all():
            t, s = np.argwhere(~eq)[0]
            first = f"node '{n}' {v}, step {t}, sample {s}"
    pred_same = float((readout[graph.readouts[0]][-1].argmax(1) == gold.output.argmax(1)).mean())
    return {"feed": feed, "steps": steps, "samples": len(q), "every_step": int(every.sum()),
            "final": int(final.sum()), "argmax_same": pred_same, "first_difference": first,
            "ties": _ties_at_first_spike_difference(graph, gold, sj, ~every)}


def _ties_at_first_spike_difference(graph, gold, sj, bad):
    """Of the samples in `bad`, how many first differ (earliest step, first node in topological
    order) only where golden's V' = V + y*theta before the reset was exactly theta or 0: the
    integer ties that SJ's q = 1/2 + sum(x)/theta in float32 lands on either side of."""
    order = [n for n in graph.topo_order() if n in sj]
    ties = 0
    for b in np.flatnonzero(bad):
        diff = [(sj[n]["y"][:, b] != gold.y[n][:, b]).reshape(gold.steps, -1) for n in order]
        t = min((int(np.argmax(d.any(1))) for d in diff if d.any()), default=None)
        if t is None:
            continue                                  # y equal throughout: not a spike difference
        n, d = next((n, d[t]) for n, d in zip(order, diff) if d[t].any())
        theta = int(graph.nodes[n].theta)
        v = gold.V[n][t, b].reshape(-1)[d] + gold.y[n][t, b].reshape(-1)[d].astype(np.int64) * theta
        ties += bool(np.isin(v, (0, theta)).all())
    return f"{ties}/{int(bad.sum())}"


# --- report ---------------------------------------------------------------------------------

def first_equal(rows, key="equals_qann"):
    """The smallest T from which on (every larger T of the grid too) all samples are equal."""
    rows = sorted(rows, key=lambda r: r["T"])
    first = None
    for r in rows:
        first = (first or r["T"]) if r.get(key) == 1.0 else None
    return str(first) if first else f"never (T <= {rows[-1]['T']})"


def accuracy_table(rows, steps):
    methods = list(dict.fromkeys(r["method"] for r in rows))
    lines = ["| method | " + " | ".join(f"T={t}" for t in steps) + " | equals its QANN from T = |",
             "| --- |" + " --- |" * (len(steps) + 1)]
    for m in methods:
        mine = [r for r in rows if r["method"] == m and r.get("accuracy") is not None]
        acc = {r["T"]: r["accuracy"] for r in mine}
        key = "argmax_equals_qann" if m.startswith("SJ classic") else "equals_qann"
        first = first_equal(mine, key) + (" (argmax = float ANN)" if key != "equals_qann" else "")
        lines.append(f"| {m} | " + " | ".join("—" if t not in acc else f"{acc[t]:.3f}" for t in steps)
                     + f" | {first} |")
    return "\n".join(lines)


def timing_table(times, threads, batch):
    hw = "hwsnn golden (integer ST-BIF)"
    lines = ["| executor | threads | ms/image, batch %d | ms/image, batch 1 | hwsnn / this, batch %d "
             "| hwsnn / this, batch 1 |" % (batch, batch), "| --- | --- | --- | --- | --- | --- |"]
    for th in threads:
        for name in dict.fromkeys(k[0] for k in times):
            big, one = times[(name, th, batch)], times[(name, th, 1)]
            rb = times[(hw, th, batch)] / big
            r1 = times[(hw, th, 1)] / one
            lines.append(f"| {name} | {th} | {big * 1e3:.3f} | {one * 1e3:.3f} | {rb:.2f} | {r1:.2f} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="1,2,4,8,16,32,64")
    ap.add_argument("--methods", default="stbif,spikezip,qcfs")
    ap.add_argument("--time-steps", type=int, default=16, help="T of the wall-time comparison")
    ap.add_argument("--batch1", type=int, default=60, help="images timed one by one")
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]
    threads = [int(s) for s in args.threads.split(",")]
    torch.set_num_threads(threads[0])
    import spikingjelly

    from hwsnn.examples import digits_data, load_digits_model
    from hwsnn.methods import get
    from hwsnn.study import evaluate

    model, qann, _ = load_digits_model()
    xtr, _, q, y = digits_data()
    x = torch.as_tensor(q, dtype=torch.float32) / 16
    seq = sj_qann(qann)
    with torch.no_grad():
        a, b = seq(x), qann(x)
    print(f"SpikingJelly {spikingjelly.__version__ if hasattr(spikingjelly, '__version__') else '2.0.0'}, "
          f"torch {torch.__version__}, threads {threads}; digits test set, {len(q)} images")
    print(f"SpikeZIP QANN rebuilt from hwsnn's bundled QANN: logits equal hwsnn's QANN forward: "
          f"{bool(torch.equal(a, b))} (max |diff| {float((a - b).abs().max()):.3g}), argmax equal on "
          f"{float((a.argmax(1) == b.argmax(1)).float().mean()):.4f}, accuracy {float((a.argmax(1).numpy() == y).mean()):.4f}")

    stbif = get("stbif")
    rows = spikezip_rows(seq, q, y, steps, qann.levels)
    rows += classic_rows(model, xtr, q, y, steps, ["Max", "99.9%"])
    for name in args.methods.split(","):
        m = stbif if name == "stbif" else get(name)
        for T in steps:
            r = evaluate(m, T, q, y)
            rows.append({**r, "method": f"hwsnn {name}"})
    print("\naccuracy at T steps (hwsnn: golden integer simulator)\n")
    print(accuracy_table(rows, steps))

    times = timing(seq, model, xtr, stbif.graph, q, args.time_steps, args.batch1, threads)
    import os
    print(f"\nwall time per image at T={args.time_steps} (simulation only; batch 1: the first "
          f"{args.batch1} images one by one; best of {REPEATS} at batch {len(q)}; {os.cpu_count()} "
          f"CPUs, load average {os.getloadavg()[0]:.1f} at the end of the timing)\n")
    print(timing_table(times, threads, len(q)))

    print(f"\nSpikingJelly STBIFNode on hwsnn's integer IR (the stbif graph, {args.time_steps} steps, "
          f"float32): samples equal to golden\n")
    print("| feed | at every step (y, S, readout V) | at the last step | argmax same | first difference "
          "| first spike difference at an exact tie (V' = theta or 0) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for feed in ("ir", "sj"):
        r = ir_agreement(stbif.graph, q, args.time_steps, feed)
        print(f"| {feed} | {r['every_step']}/{r['samples']} | {r['final']}/{r['samples']} | "
              f"{r['argmax_same']:.4f} | {r['first_difference'] or '—'} | {r['ties']} |")


if __name__ == "__main__":
    main()
