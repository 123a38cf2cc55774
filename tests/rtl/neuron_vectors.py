"""Test vectors for the neuron datapath (hwsnn.rtl.NeuronUnit) and their expected values from the
golden rule itself
(hwsnn.sim._neurons.step_stbif / step_if / step_calif), saturated to the register widths the
way the RTL does (the golden simulator raises RangeError in those cases)."""

import numpy as np
import torch

from hwsnn.ir import IF, STBIF, CaLIF, int_range
from hwsnn.sim._neurons import STEP_RULES, init_state

__all__ = ["neuron_vectors", "neuron_expected", "unit_params"]


def unit_params(kind, v_bits, i_bits, theta_bits, s_bits, s_min=0, s_max=1, gate=True, leak_bits=8):
    return dict(kind=kind, v_bits=v_bits, i_bits=i_bits, theta_bits=theta_bits, s_bits=s_bits,
                s_min=s_min, s_max=s_max, gate=gate, leak_bits=leak_bits)


def _s_range(p):
    lo, hi = int_range(p["s_bits"])
    if p["kind"] == "stbif":
        return p["s_min"], p["s_max"]
    return (0 if p["kind"] == "if" else lo), (p["s_max"] if p["s_max"] > 0 else hi)


def neuron_vectors(p, n_random=1000, seed=0):
    """Edge vectors (every width at both ends, threshold boundaries, tracer at both bounds)
    plus `n_random` random ones. Returns {port: int64 array}."""
    rng = np.random.default_rng(seed)
    vlo, vhi = int_range(p["v_bits"])
    ilo, ihi = int_range(p["i_bits"])
    thi = int_range(p["theta_bits"])[1]
    slo, shi = _s_range(p)
    llo, lhi = int_range(p["leak_bits"])
    edge_v = sorted({vlo, vlo + 1, -1, 0, 1, vhi - 1, vhi})
    edge_i = sorted({ilo, -1, 0, 1, ihi})
    edge_t = sorted({1, 2, thi})
    edge_s = sorted({s for s in (slo, slo + 1, 0, shi - 1, shi) if slo <= s <= shi})
    grid = np.array(np.meshgrid(edge_v, edge_i, edge_t, edge_s, indexing="ij")).reshape(4, -1)
    cols = [grid]
    # threshold boundaries: V + I (- leak) in {theta - 1, theta, theta + 1, -theta, -1, 0}
    m = 600
    theta = rng.integers(1, thi + 1, m)
    target = np.stack([theta - 1, theta, theta + 1, -theta, -theta - 1, np.full(m, -1), np.zeros(m, int)])
    target = target[rng.integers(0, len(target), m), np.arange(m)]
    v = rng.integers(vlo, vhi + 1, m)
    i = np.clip(target - v, ilo, ihi)
    v = np.clip(target - i, vlo, vhi)
    s = rng.choice(edge_s + list(rng.integers(slo, shi + 1, 4)), m)
    cols.append(np.stack([v, i, theta, s]))
    cols.append(np.stack([rng.integers(vlo, vhi + 1, n_random), rng.integers(ilo, ihi + 1, n_random),
                          rng.integers(1, thi + 1, n_random), rng.integers(slo, shi + 1, n_random)]))
    allv = np.concatenate(cols, axis=1).astype(np.int64)
    out = {"v": allv[0], "i": allv[1], "theta": allv[2], "s": allv[3]}
    if p["kind"] == "calif":
        k = allv.shape[1]
        leak = rng.integers(llo, lhi + 1, k)
        leak[rng.random(k) < 0.5] = 0  # keep the boundary vectors on their boundary half the time
        leak[:len(edge_v)] = [llo, lhi, 0, 1, -1, llo, lhi][:len(edge_v)]
        out["leak"] = leak
    return out


def neuron_expected(p, vec):
    """Expected v_out, s_out, y, ovf: one golden step, then saturation to v_bits / s_bits."""
    k = len(vec["v"])
    theta = vec["theta"]
    kind = p["kind"]
    if kind == "stbif":
        node = STBIF(shape=(k,), theta=theta, s_min=p["s_min"], s_max=p["s_max"],
                     v_bits=p["v_bits"], s_bits=p["s_bits"])
    elif kind == "if":
        node = IF(shape=(k,), theta=theta, s_max=p["s_max"], v_bits=p["v_bits"], s_bits=p["s_bits"])
    else:
        node = CaLIF(shape=(k,), theta=theta, leak=vec["leak"], s_max=p["s_max"], gate=p["gate"],
                     v_bits=p["v_bits"], s_bits=p["s_bits"])
    st = init_state(node, 1)  # the simulator's own state, then V and S set to the vectors
    dt = st["V"].dtype  # float64: exact below 2^53
    st["V"] = torch.as_tensor(np.asarray(vec["v"])[None], dtype=dt).clone()
    st["S"] = torch.as_tensor(np.asarray(vec["s"])[None], dtype=dt).clone()
    I = torch.as_tensor(np.asarray(vec["i"])[None], dtype=dt)
    y = STEP_RULES[type(node)](node, st, I, 0, {})
    V, S = st["V"][0].numpy().astype(np.int64), st["S"][0].numpy().astype(np.int64)
    vlo, vhi = int_range(p["v_bits"])
    slo, shi = int_range(p["s_bits"])
    ovf = (V < vlo) | (V > vhi) | (S < slo) | (S > shi)
    return {"v_out": np.clip(V, vlo, vhi), "s_out": np.clip(S, slo, shi),
            "y": y[0].numpy().astype(np.int64), "ovf": ovf.astype(np.int64)}
