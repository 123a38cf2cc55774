"""NIR graph -> hwsnn integer IR with CUBALIF neurons (Loihi's fixed point), plus the per-layer
quantization report.

Euler steps of NIR's equations with step `dt` (docs/nir.md): LIF v' = (1 - dt/tau) v + (dt/tau)
(v_leak + r I); IF v' = v + dt r I; CubaLIF adds I' = (1 - dt/tau_syn) I + (dt/tau_syn) w_in S.
Each neuron layer becomes one CUBALIF node (LIF and IF: du = 4095, no current state), each
weighted NIR node a Dense/Conv2d with Loihi's weight exponent, every edge out of a spiking node
delay 1 (Lava's Dense/Conv). The Output counts the spikes of the last layer in a Readout; an LI
readout without leak is that Readout itself.
"""

import numpy as np

from .. import ir
from ..errors import NIRError
from ._graph import parse_graph
from ._h5 import read_file
from ._quant import choose_exponent, decay12, fill_scale, quantize_weights, split_bias

__all__ = ["import_nir", "import_graph"]

_WEIGHTED = ("Affine", "Linear", "Conv2d")


def _fail(name, msg):
    raise NIRError(f"NIR node {name!r}: {msg}")


def _uniform(name, node, key):
    v = np.asarray(node[key], dtype=np.float64).reshape(-1)
    if v.size and not np.all(v == v[0]):
        _fail(name, f"{node['type']}.{key} must be one value per layer (Loihi's du, dv are per "
                    f"layer), not values from {v.min():.6g} to {v.max():.6g}")
    return float(v[0])


def _neuron_law(name, node, dt):
    """(du, dv, delta_s, delta_m, gain, leak_bias): the layer's decays and the float factor from
    synaptic sum to v (or to the current), per the Euler step."""
    kind = node["type"]
    if np.any(node["v_reset"] != 0):
        _fail(name, f"{kind}.v_reset must be 0 (Loihi resets v to 0), not "
                    f"{np.asarray(node['v_reset']).reshape(-1)[:4].tolist()}")
    if dt is None:
        _fail(name, f"{kind} needs the time step: give --dt (snnTorch exports use 1e-4)")
    r = _uniform(name, node, "r")
    if kind == "IF":
        return 4095, 0, 1.0, 0.0, dt * r, np.zeros(node["r"].shape)
    tau = _uniform(name, node, "tau_mem" if kind in ("CubaLIF", "CubaLI") else "tau")
    if tau <= 0:
        _fail(name, f"{kind} tau must be positive, not {tau:.6g}")
    dm = dt / tau
    dv = decay12(name, "tau", dm)
    leak = dm * np.asarray(node["v_leak"], dtype=np.float64)
    if kind in ("LIF", "LI"):
        return 4095, dv, 1.0, dm, dm * r, leak
    tau_s = _uniform(name, node, "tau_syn")
    w_in = _uniform(name, node, "w_in")
    if tau_s <= 0:
        _fail(name, f"{kind} tau_syn must be positive, not {tau_s:.6g}")
    ds = dt / tau_s
    return decay12(name, "tau_syn", ds, offset=1), dv, ds, dm, dm * r * ds * w_in, leak


def _pool_pair(node, key):
    v = np.asarray(node[key]).reshape(-1).tolist()
    return tuple(v * 2 if len(v) == 1 else v)


def _gain(g, n):
    """Float factor of a weightless synapse: 1/k^2 of AvgPool2d, a uniform Scale, else 1."""
    if g.kind(n) == "AvgPool2d":
        kh, kw = _pool_pair(g.nodes[n], "kernel_size")
        return 1.0 / (kh * kw)
    if g.kind(n) == "Scale":
        return _uniform(n, g.nodes[n], "scale")
    return 1.0


def _split(g, chain):
    """(weighted node or None, pre ops, post ops) of a path [spiking src, syn, ..., syn]."""
    weighted = [n for n in chain[1:] if g.kind(n) in _WEIGHTED]
    if len(weighted) > 1:
        _fail(weighted[1], f"two weighted nodes {weighted} between spiking nodes: hwsnn takes one "
                           f"(fold them before export)")
    if not weighted:
        return None, [], chain[1:]
    i = chain.index(weighted[0])
    return weighted[0], chain[1:i], chain[i + 1:]


def _ir_synapse(g, n, W=None, e=0, stride=None, w_bits=9):
    kind, node = g.kind(n), g.nodes[n]
    if kind in ("Affine", "Linear"):
        return ir.Dense(W, w_bits=w_bits, w_exp=e)
    if kind == "Conv2d":
        groups = int(np.asarray(node["groups"]).reshape(-1)[0])
        return ir.Conv2d(W, stride=stride or _pool_pair(node, "stride"),
                         padding=_pool_pair(node, "padding"), groups=groups, w_bits=w_bits, w_exp=e)
    if kind in ("SumPool2d", "AvgPool2d"):
        return ir.SumPool2d(_pool_pair(node, "kernel_size"), _pool_pair(node, "stride"))
    if kind == "Flatten":
        return ir.Flatten()
    raise NIRError(f"NIR node {n!r}: {kind} has no IR synapse")


def _per_channel(name, f, channels):
    """The neuron factor f (neuron shape) as one value per output channel of the weighted node."""
    fc = f.reshape(channels, -1)
    if not np.all(fc == fc[:, :1]):
        _fail(name, "v_threshold must be one value per channel after a convolution")
    return fc[:, 0]


def _fold_pools(g, w, pools):
    """(W, stride) of Conv2d `w` followed by sum pools: one convolution whose kernel sums the
    shifted kernels (size K + (k - 1) * stride, stride times the pool's); same output, exactly."""
    W = g.nodes[w]["weight"]
    stride = _pool_pair(g.nodes[w], "stride")
    for n in pools:
        (kh, kw), (ph, pw) = _pool_pair(g.nodes[n], "kernel_size"), _pool_pair(g.nodes[n], "stride")
        out = np.zeros((*W.shape[:2], W.shape[2] + (kh - 1) * stride[0],
                        W.shape[3] + (kw - 1) * stride[1]))
        for a in range(kh):
            for b in range(kw):
                i, j = a * stride[0], b * stride[1]
                out[:, :, i:i + W.shape[2], j:j + W.shape[3]] += W
        W, stride = out, (stride[0] * ph, stride[1] * pw)
    return W, stride


def _parts(g, name, shape, G, f, bounds, neuron=True):
    """One dict per synapse path into `name`: weighted node, float effective weights (gains and
    the neuron factor f folded in), the bias it carries (v units per step), its input bound.
    Pooling between a Conv2d and the neuron folds into the convolution (Loihi's neuron takes
    Dense/Conv synapses only)."""
    parts = []
    for chain in g.chains(name):
        w, pre, post = _split(g, chain)
        folded, W, stride = [], None, None
        if neuron and w and g.kind(w) == "Conv2d" and post and \
                all(g.kind(n) in ("SumPool2d", "AvgPool2d") for n in post):
            folded = post
            W, stride = _fold_pools(g, w, folded)
            post = []
        if neuron and (w is None or post):
            last = chain[-1] if post or w is None else w
            _fail(last, f"{g.kind(last)} ends in neuron {name!r}: Loihi's neuron takes only "
                        f"Dense/Conv2d synapses (put pooling, flatten and scale before the "
                        f"weighted node)")
        post_gain = float(np.prod([_gain(g, n) for n in post + folded]))
        gain = float(np.prod([_gain(g, n) for n in pre])) * post_gain
        part = {"chain": [n for n in chain if n not in folded], "w": w, "stride": stride,
                "in_bound": bounds[chain[0]], "bias": np.zeros(shape),
                "mult": int(np.prod([np.prod(_pool_pair(g.nodes[n], "kernel_size"))
                                     for n in pre + post if "Pool" in g.kind(n)]))}
        if w is None:
            part["gain"] = gain
        else:
            W = g.nodes[w]["weight"] if W is None else W
            fc = _per_channel(name, f, W.shape[0]).reshape(-1, *[1] * (W.ndim - 1))
            part["W"] = W * (gain * G) * fc
            b = g.nodes[w].get("bias")
            if b is not None and np.any(b != 0) and not neuron:
                _fail(name, "a bias into the Output cannot be carried by hwsnn's Readout "
                            "(V = V + I)")
            if b is not None and np.any(b != 0):
                copies = np.prod([np.prod(_pool_pair(g.nodes[n], "kernel_size")) for n in folded])
                m = b if g.kind(w) == "Affine" else \
                    np.broadcast_to((b * copies)[:, None, None], (b.size, *shape[1:]))
                part["bias"] = m.reshape(shape) * post_gain * G * f
        parts.append(part)
    return parts


def _quantize(name, parts, theta, du, bias_v, w_bits):
    """(e, k, vth, c) of the layer; each part gets its integer weights ("Wq")."""
    weights = [p["W"] for p in parts if p["w"]]
    c = fill_scale(weights, w_bits)
    c = c if np.isfinite(c) else 1.0   # all weights zero
    bound = 0.0   # the exact largest |sum W s| at exponent 0, from the integer weights
    for p in parts:
        p["Wq"] = quantize_weights(p["W"], c, w_bits)
        rows = np.abs(p["Wq"]).reshape(p["Wq"].shape[0], -1).sum(1)
        bound += float(rows.max(initial=0)) * p["in_bound"] * p["mult"]
    e, k, vth = choose_exponent(name, c, theta, bound / c, du, float(np.abs(bias_v).max(initial=0)))
    return e, k, vth, c


def _report_row(name, kind, parts, e, k, c, vth, theta, du, dv, ds, dm, bias_v, mant, exp):
    err = np.concatenate([np.abs(p["Wq"] / c - p["W"]).reshape(-1) for p in parts]) / theta
    bias_err = np.abs(mant * 2.0 ** exp / (64 * k) - bias_v) / theta
    return {"layer": name, "kind": kind, "du": du, "dv": dv, "vth": vth, "w_exp": e,
            "scale_k": float(k),
            "max_abs_w_int": max(int(np.abs(p["Wq"]).max(initial=0)) for p in parts),
            "w_err_max": float(err.max()), "w_err_mean": float(err.mean()),
            "vth_err": float(abs(vth / k - theta) / theta), "dv_err": abs(dv / 4096 - dm),
            "du_err": 0.0 if du == 4095 else abs((du + 1) / 4096 - ds),
            "bias_err_max": float(bias_err.max(initial=0))}


class _Builder:
    """Collects IR nodes and edges (delay 1 out of spiking nodes) in NIR's order."""

    def __init__(self, g):
        self.g, self.nodes, self.edges = g, {}, []

    def spiking(self, n):
        return n in self.nodes and self.nodes[n].ROLE in ("source", "neuron")

    def path(self, name, p, first=None):
        """IR synapses of part p into `name` (weights on its weighted node), edges wired."""
        chain = [n for n in p["chain"] if self.g.kind(n) != "Scale"]   # folded into the weights
        names = ([first] if first else []) + chain[1:]
        for n in chain[1:]:
            self.nodes[n] = _ir_synapse(self.g, n, p.get("Wq"), p.get("e", 0), p.get("stride")) \
                if n == p["w"] else _ir_synapse(self.g, n)
        for a, b in zip([chain[0]] + names, names + [name]):
            self.edges.append(ir.Edge(a, b, 1 if self.spiking(a) else 0))


def _neuron(b, name, dt, w_bits, bounds, report):
    g, node = b.g, b.g.nodes[name]
    kind, shape = node["type"], g.shapes[name]
    du, dv, ds, dm, G, leak = _neuron_law(name, node, dt)
    theta = np.broadcast_to(node["v_threshold"], shape).astype(np.float64)
    if np.any(theta <= 0):
        _fail(name, f"{kind}.v_threshold must be positive, not {theta.min():.6g}")
    theta_ref = float(theta.max())
    f = theta_ref / theta
    parts = _parts(g, name, shape, G, f, bounds)
    bias_v = sum(p["bias"] for p in parts) + np.broadcast_to(leak, shape) * f
    if kind == "CubaLIF" and any(np.any(p["bias"]) for p in parts):
        _fail(name, "an Affine/Conv2d bias feeds the CubaLIF current, but Loihi adds bias to v: "
                    "export the network without synapse biases")
    e, k, vth, c = _quantize(name, parts, theta_ref, du, bias_v, w_bits)
    mant, exp = split_bias(name, 64 * k * bias_v)
    for p in parts:
        p["e"] = e
        b.path(name, p)
    b.nodes[name] = ir.CUBALIF(shape, vth=vth, du=du, dv=dv, bias_mant=mant, bias_exp=exp)
    report.append(_report_row(name, kind, parts, e, k, c, vth, theta_ref, du, dv, ds, dm, bias_v,
                              mant, exp))


def _readout(b, out, w_bits, bounds, report):
    """The Output: spike counts of a neuron (Scale 1 -> Readout), or a weighted path (through an
    LI without leak, checked by import_graph) integrated by the Readout, named after the Output."""
    g = b.g
    src = g.preds[out][0]
    if g.kind(src) in ("LIF", "CubaLIF", "IF"):
        b.nodes[f"{out}.spikes"] = ir.Scale(1, w_bits=2)
        b.edges += [ir.Edge(src, f"{out}.spikes", 1), ir.Edge(f"{out}.spikes", out, 0)]
        b.nodes[out] = ir.Readout(g.shapes[out])
        return
    into = src if g.kind(src) in ("LI", "CubaLI") else out
    parts = _parts(g, into, g.shapes[into], 1.0, np.ones(g.shapes[into]), bounds, neuron=False)
    if any(np.any(p["bias"]) for p in parts):
        _fail(out, "a bias into the Output cannot be carried by hwsnn's Readout (V = V + I)")
    weights = [p["W"] for p in parts if p["w"]]
    c = fill_scale(weights, w_bits) if weights else 1.0
    c = c if np.isfinite(c) else 1.0
    for j, p in enumerate(parts):
        if p["w"]:
            p["Wq"], p["e"] = quantize_weights(p["W"], c, w_bits), 0
            b.path(out, p)
        else:
            if p["gain"] != 1:
                _fail(out, f"a Scale of {p['gain']:.6g} without weights into the Output cannot be "
                           f"carried by hwsnn's Readout")
            gain = f"{out}.in{j}"
            b.nodes[gain] = ir.Scale(1, w_bits=2)
            b.path(out, p, first=gain)
    b.nodes[out] = ir.Readout(g.shapes[out])
    report.append({"layer": out, "kind": "Readout", "scale_k": float(c)})


def import_graph(raw, dt=None, w_bits=8, encoding="rate", T=16, input_range=None, name=None):
    """(ir.Graph, report rows) from the reader's dict."""
    if not 1 <= w_bits <= 8:
        raise NIRError(f"--w-bits must be in 1..8 (Loihi's weight bits), not {w_bits}")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise NIRError(f"--dt must be a positive number of seconds, not {dt!r}")
    if encoding != "analog" and not 1 <= T <= 1 << 16:
        raise NIRError(f"--T must be in 1..65536 steps for {encoding} input, not {T}")
    g = parse_graph(raw)
    for n in g.order:
        if g.kind(n) in ("LI", "CubaLI"):
            node = g.nodes[n]
            leaky = g.kind(n) == "CubaLI" or dt is None or \
                decay12(n, "tau", dt / _uniform(n, node, "tau")) != 0 or np.any(node["v_leak"])
            if leaky:
                _fail(n, f"{g.kind(n)} readouts import only as a plain integrator (dt/tau below "
                         f"1/8192, v_leak 0, --dt given): hwsnn's Readout integrates V = V + I")
    b = _Builder(g)
    src = next(n for n in g.order if g.kind(n) == "Input")
    lo, hi = input_range or ((0, T) if encoding in ("rate",) else (0, 2 ** T - 1))
    shape = g.shapes[src]
    b.nodes[src] = ir.Source(shape, encoding=encoding, R=1, T=T if encoding != "analog" else 0,
                             x_bits=ir.bits_for(lo, hi))
    bounds = {src: 1 if encoding in ("rate", "bits") else max(abs(lo), abs(hi))}
    report = []
    for n in g.order:
        kind = g.kind(n)
        if kind in ("LIF", "CubaLIF", "IF"):
            _neuron(b, n, dt, w_bits, bounds, report)
            bounds[n] = 1
        elif kind == "Output":
            _readout(b, n, w_bits, bounds, report)
    steps = _depth(b) + (T if encoding != "analog" else 1)
    meta = {"source": "nir", "dt": dt, "w_bits": w_bits, "steps": steps,
            "input_range": [int(lo), int(hi)], "nir_version": raw.get("version")}
    graph = ir.Graph(b.nodes, b.edges, name or "nir", meta)
    ir.verify(graph)
    return graph, report


def _depth(b):
    """Largest number of delay-1 edges on a path from the Source to a Readout."""
    graph = ir.Graph(b.nodes, b.edges)
    depth = {}
    for n in graph.topo_order():
        ins = graph.inputs_of(n)
        depth[n] = max((depth[e.src] + e.delay for e in ins), default=0)
    return max(depth[n] for n in graph.readouts)


def import_nir(path, **options):
    """(ir.Graph, report rows) of the NIR file at `path` (bounded read, then import_graph)."""
    return import_graph(read_file(path), **options)
