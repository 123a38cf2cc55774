"""Range analysis for every neuron type: prove each membrane V and tracer S register fits.

Interval analysis on cumulative counts, valid for any delays and at every step. Up to any
step, a spiking node has emitted in total C, with C in
  Source analog [min(lo, 0), max(hi, 0)] (partial releases of q); rate [0, T];
  bits and ILIF: [0, 2^T - 1] (the Horner prefix an ILIF / horner Readout sees; it holds
  the plain count too); STBIF [s_min, s_max]; IF and CaLIF: derived below.
Synapses are linear, so a neuron's cumulative input Z = sum_j W_j C_j lies in [Z_lo, Z_hi].
Intervals are kept per channel where that is all a layer needs (synapse rules: `_intervals.py`;
a Conv2d is bounded per output channel from per-tap weight sums, with no convolution of maps;
Dense exactly per neuron).

The drive D = Z + released bias (- t*leak for Ca-LIF, t <= T) also lies in an interval. Each
neuron then satisfies two bounds, and its register is bounded by their intersection:
  identity: V = v0 + D - theta*S (V' before reset: S of the step before), S in [S_lo, S_hi];
  one spike per step: after an up spike V >= a_lo, after a down spike V <= a_hi, and in
  between V moves only with D, so V in [min(v0 + D_lo, a_lo + D_lo - D_hi),
  max(v0 + D_hi, a_hi + D_hi - D_lo)] (STBIF a = [0, theta-1]; IF has no down spike;
  Ca-LIF a = [-theta//2, (theta-1)//2] with its settle phase).
S of an IF / Ca-LIF without s_max, and of a Ca-LIF without gate, follows from the identity.
ILIF: accumulate A = Horner prefix of I (+ bias) in [Z_lo + min(b, 0), Z_hi + max(b, 0)];
generate V = 2V - y*theta (y = 1 only if 2V >= theta, leaving V >= 0) stays within
[2^T min(A_lo, 0), 2^T max(A_hi, 0)], the transient 2V included.
Readout (also horner): V = Z. Bounds are exact integers in float64 (below 2^52, else RangeError).
MaxPool2d: its input counts C (V) lie in its input's cumulative interval, its window maxima S
in [max of the window's lows, max of the window's highs] (a padded position counts 0); one
s_bits register holds both.
CUBALIF (Loihi's LIF): u and v are fixed 24-bit registers that wrap / saturate by rule, so the
bound that matters is per step: its input I (the sum of its synapses, each with its weight
exponent) must fit int24 at every step. Per-step intervals: a Source emits within
[min(lo, 0), max(hi, 0)] (analog) or [0, 1]; a neuron's spike in [-1, 1] ([0, 1] for CUBALIF,
IF, ILIF). I outside int24 is a RangeError naming the layer. Its spike count S lies in
[0, steps] with `steps` from the argument or the graph's meta "steps" (unbounded without).
"""

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from .. import ir
from ..errors import CompileError, RangeError
from ..ir._verify import out_shape
from ._intervals import check_limit, source_interval, synapse_interval

__all__ = ["analyze_ranges", "bounds", "register_bounds", "fit_widths"]


def _f(a):
    return np.asarray(a, dtype=np.float64)


def _one_spike(v0, dlo, dhi, a_lo, a_hi):
    """V bound from 'one spike per step' (module docstring); a_hi None: no down spikes."""
    lo = np.minimum(v0 + dlo, a_lo + dlo - dhi)
    hi = v0 + dhi if a_hi is None else np.maximum(v0 + dhi, a_hi + dhi - dlo)
    return lo, hi


def _neuron(name, node, zlo, zhi):
    """(V_lo, V_hi, S_lo, S_hi) arrays of a neuron or readout with cumulative input in [zlo, zhi]."""
    if isinstance(node, ir.Readout):
        return zlo, zhi, None, None
    th = _f(node.theta)
    if isinstance(node, ir.ILIF):
        b = _f(node.bias)
        alo, ahi = zlo + np.minimum(b, 0), zhi + np.maximum(b, 0)
        return (2.0 ** node.T) * np.minimum(alo, 0), (2.0 ** node.T) * np.maximum(ahi, 0), 0, 2 ** node.T - 1
    if isinstance(node, ir.CaLIF):
        leak, v0 = _f(node.leak), 0.0
        dlo, dhi = zlo - node.T * np.maximum(leak, 0), zhi - node.T * np.minimum(leak, 0)
        vlo, vhi = _one_spike(v0, dlo, dhi, -(th // 2), (th - 1) // 2)
        # floor / ceil of float quotients: outward, so a rounding error cannot tighten them
        slo = 0 if node.gate else np.floor((dlo - vhi) / th)
        shi = node.s_max if node.s_max > 0 else np.ceil((dhi - vlo) / th)
    else:
        b, v0 = _f(node.bias), _f(node.v0)
        dlo, dhi = zlo + np.minimum(b, 0), zhi + np.maximum(b, 0)
        if isinstance(node, ir.STBIF):
            vlo, vhi = _one_spike(v0, dlo, dhi, 0, th - 1)
            slo, shi = node.s_min, node.s_max
        elif isinstance(node, ir.IF):
            vlo, vhi = _one_spike(v0, dlo, dhi, 0, None)
            slo, shi = 0, node.s_max if node.s_max > 0 else np.ceil((v0 + dhi - vlo) / th)
        else:
            raise CompileError(f"node '{name}': no range rule for {node.type}")
    # the identity V = v0 + D - theta*S with S in [slo, shi]
    vlo = np.maximum(vlo, v0 + dlo - shi * th)
    vhi = np.minimum(vhi, v0 + dhi - slo * th)
    return vlo, vhi, slo, shi


def _pool_max(node, a):
    """Max over each window of `a` (broadcast to in_shape; positions outside count 0)."""
    C, H, W = node.in_shape
    _, Ho, Wo = node.shape
    (kh, kw), (sh, sw), (ph, pw) = node.kernel, node.stride, node.padding
    x = torch.as_tensor(np.broadcast_to(a, node.in_shape).copy(), dtype=torch.float64)
    right = max(0, (Wo - 1) * sw + kw - W - 2 * pw)  # ceil-mode overhang
    bottom = max(0, (Ho - 1) * sh + kh - H - 2 * ph)
    x = F.pad(x[None], (pw, pw + right, ph, ph + bottom))
    return F.max_pool2d(x, (kh, kw), (sh, sw))[0, :, :Ho, :Wo].numpy()


def _maxpool(node, lo, hi):
    """(C, S) intervals of a MaxPool2d whose input counts lie in [lo, hi]."""
    return (lo, hi), (_pool_max(node, lo), _pool_max(node, hi))


UV_LIMIT = (1 << 23) - 1   # a CUBALIF's v saturates at +-(2^23 - 1)


def _per_step(graph, input_range, shapes):
    """{node: (lo, hi)} of what each Source, synapse and neuron emits in one step."""
    qlo, qhi = input_range
    step = {}
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            analog = node.encoding == "analog"
            step[name] = (_f(min(qlo, 0) if analog else 0), _f(max(qhi, 0) if analog else 1))
        elif node.ROLE == "synapse":
            src = ins[0].src
            step[name] = synapse_interval(name, node, *step[src], shapes[src])
        elif node.ROLE == "neuron":
            one_signed = isinstance(node, (ir.CUBALIF, ir.IF, ir.ILIF))
            step[name] = (_f(0 if one_signed else -1), _f(1))
    return step


def _cubalif(name, node, step, ins, steps):
    """Register bounds of a CUBALIF; RangeError if its per-step input can leave int24."""
    ilo = int(np.floor(np.min(sum(step[e.src][0] for e in ins))))
    ihi = int(np.ceil(np.max(sum(step[e.src][1] for e in ins))))
    lo, hi = ir.int_range(24)
    if ilo < lo or ihi > hi:
        raise RangeError(f"layer '{name}': CUBALIF input I can reach [{ilo}, {ihi}] in one step "
                         f"(static bound), outside int24 [{lo}, {hi}]")
    S = (0, int(steps)) if steps is not None else None
    return {"V": (-UV_LIMIT, UV_LIMIT), "S": S, "I": (ilo, ihi)}


def bounds(graph, input_range, steps=None):
    """Interval analysis of `graph` (module docstring) for Source values in `input_range`.

    Returns (cum, regs): cum[node] = (lo, hi) of the cumulative output of every Source,
    synapse and neuron (float64 arrays broadcastable to its shape: scalar, per channel or
    full); regs[node] = {"V": (lo, hi), "S": (lo, hi) or None} as Python ints for every
    neuron and readout (the extremes over the layer); a CUBALIF's also "I", its per-step input.
    `steps` (default: the graph's meta "steps") bounds the spike count of CUBALIF nodes."""
    cum, regs, shapes = {}, {}, {}
    steps = graph.meta.get("steps") if steps is None else steps
    step = None
    for name in graph.topo_order():
        node, ins = graph.nodes[name], graph.inputs_of(name)
        if node.ROLE == "source":
            lo, hi = source_interval(node, input_range)
            cum[name], shapes[name] = (_f(lo), _f(hi)), node.shape
            continue
        if node.ROLE == "synapse":
            src = ins[0].src
            shapes[name] = out_shape(name, node, shapes[src])
            if np.all(np.isfinite(cum[src][1])):
                cum[name] = synapse_interval(name, node, *cum[src], shapes[src])
            else:  # CUBALIF spike counts without a step count: unbounded (needed per step only)
                cum[name] = (_f(-np.inf), _f(np.inf))
            continue
        if isinstance(node, ir.MaxPool2d):
            (clo, chi), cum[name] = _maxpool(node, *cum[ins[0].src])
            shapes[name] = node.shape
            check_limit(name, "max-pool count", *cum[name])
            regs[name] = {"V": (int(np.min(clo)), int(np.max(chi))),
                          "S": (int(np.min(cum[name][0])), int(np.max(cum[name][1])))}
            continue
        if not ins:
            raise CompileError(f"node '{name}': no synapse ends in this {node.type}")
        if isinstance(node, ir.CUBALIF):
            step = step or _per_step(graph, input_range, ir.verify(graph))
            regs[name], shapes[name] = _cubalif(name, node, step, ins, steps), node.shape
            n = np.inf if steps is None else float(steps)  # spikes so far: 0 or 1 per step
            cum[name] = (_f(0), _f(n))
            continue
        zlo = sum(cum[e.src][0] for e in ins)
        zhi = sum(cum[e.src][1] for e in ins)
        if not (np.all(np.isfinite(zlo)) and np.all(np.isfinite(zhi))):
            raise CompileError(f"node '{name}': its input counts CUBALIF spikes, unbounded "
                               f"without a step count (steps= or the graph's meta 'steps')")
        vlo, vhi, slo, shi = _neuron(name, node, zlo, zhi)
        check_limit(name, "membrane V", vlo, vhi)
        shapes[name] = node.shape
        s = None
        if slo is not None:
            cum[name] = (_f(slo), _f(shi))
            check_limit(name, "tracer S", *cum[name])
            s = (int(np.min(slo)), int(np.max(shi)))
        regs[name] = {"V": (int(np.floor(np.min(vlo))), int(np.ceil(np.max(vhi)))), "S": s}
    return cum, regs


def register_bounds(graph, input_range):
    """{node: (V_lo, V_hi)} (Python ints) for every neuron and readout of `graph`."""
    return {name: r["V"] for name, r in bounds(graph, input_range)[1].items()}


def _widths(node, reg):
    """(v_bits, s_bits or None, V bound) that hold the register bound and the node's arrays."""
    lo, hi = reg["V"]
    if isinstance(node, ir.CUBALIF):  # Loihi's fixed 24-bit u and v
        return 24, None if reg["S"] is None else ir.bits_for(*reg["S"]), (lo, hi)
    if isinstance(node, ir.MaxPool2d):  # one width for the input counts and the maxima
        lo, hi = min(lo, reg["S"][0]), max(hi, reg["S"][1])
        return None, ir.bits_for(lo, hi), (lo, hi)
    arrays = [a for a in node.arrays().values() if a.size]
    lo = min([lo] + [int(a.min()) for a in arrays])
    hi = max([hi] + [int(a.max()) for a in arrays])
    s_bits = None
    if reg["S"] is not None and hasattr(node, "s_bits"):
        s_bits = ir.bits_for(*reg["S"])
    return ir.bits_for(lo, hi), s_bits, (lo, hi)


def fit_widths(graph, input_range):
    """Copy of `graph` with every neuron's / readout's v_bits (and s_bits) set from the bounds."""
    _, regs = bounds(graph, input_range)
    nodes = dict(graph.nodes)
    for name, reg in regs.items():
        v_bits, s_bits, _ = _widths(nodes[name], reg)
        kw = {"v_bits": v_bits} if s_bits is None else {"v_bits": v_bits, "s_bits": s_bits}
        kw = {k: v for k, v in kw.items() if v is not None}  # a MaxPool2d has s_bits only
        nodes[name] = replace(nodes[name], **kw)
    return ir.Graph(nodes, list(graph.edges), graph.name, dict(graph.meta))


def analyze_ranges(st):
    """Pass: set v_bits / s_bits of every neuron and readout from the bounds, or check a fixed
    v_bits (RangeError naming the layer and its bound if it does not fit)."""
    g = st.graph
    _, regs = bounds(g, st.options.input_range)
    fixed = st.options.v_bits
    for name, reg in regs.items():
        node = g.nodes[name]
        need, s_bits, (alo, ahi) = _widths(node, reg)
        if isinstance(node, ir.MaxPool2d):
            g.nodes[name] = replace(node, s_bits=s_bits)
            continue
        if fixed is not None and name in st.layers:
            if need > fixed:
                rlo, rhi = ir.int_range(fixed)
                raise RangeError(f"layer '{name}': membrane V can reach [{alo}, {ahi}] (static "
                                 f"bound), which does not fit v_bits={fixed} [{rlo}, {rhi}]; "
                                 f"need v_bits >= {need}")
            need = fixed
        kw = {"v_bits": need} if s_bits is None else {"v_bits": need, "s_bits": s_bits}
        g.nodes[name] = replace(node, **kw)
        if name in st.layers:
            st.layers[name].update(v_bound=[alo, ahi], v_bits=need)
    return st
