"""Per-step neuron rules, one function per IR neuron type.

State is kept in float32 where the IR proves every value stays below 2^24 (v_bits <= 24 and the
input bound below 2^24), else float64 (exact below 2^53). Each rule takes (node, st, I, t, ctx),
updates st["V"], st["S"] in place, returns y (or None for a Readout) and sets st["changed"]
(per sample: did V or S change this step). Order within a step: integrate, decide, reset.
"""

import numpy as np
import torch

from hwsnn.ir import CUBALIF, IF, ILIF, STBIF, CaLIF, Readout

from ._encode import release

__all__ = ["STEP_RULES", "init_state", "settle_calif"]

UV_MAX = 1 << 23   # Loihi's 24-bit u and v: u wraps beyond +-2^23, v saturates at 2^23 - 1
DECAY_SHIFT = 12   # du, dv are 12-bit fractions of 2^12
ACT_SHIFT = 6      # input and threshold are MSB-aligned by 6 bits (I * 2^6, vth * 2^6)


def _param(arr, shape, dtype):
    """A scalar parameter stays a Python number (faster kernels); others become tensors."""
    t = torch.as_tensor(arr)
    if t.numel() == 1:
        return float(t.reshape(()))
    return t.to(dtype).broadcast_to(shape)


def init_state(node, batch, dtype=torch.float64):
    shape = (batch, *node.shape)
    if isinstance(node, CUBALIF):
        return _init_cubalif(node, shape)
    v0 = torch.as_tensor(getattr(node, "v0", 0), dtype=dtype).broadcast_to(node.shape)
    st = {"V": v0.expand(shape).clone(), "S": torch.zeros(shape, dtype=dtype), "dtype": dtype,
          "theta": _param(getattr(node, "theta", 1), node.shape, dtype),
          "bias": torch.as_tensor(getattr(node, "bias", 0), dtype=torch.int64).broadcast_to(node.shape),
          "leak": _param(getattr(node, "leak", 0), node.shape, dtype)}
    st["has_bias"] = bool(st["bias"].any())
    return st


def _ge1(x):
    """1.0 where x >= 1, else 0.0, for integer-valued float x (in place on a temporary).
    The same as (x >= 1) but several times faster on CPU than making and converting a bool."""
    return x.clamp_(0, 1)


def _any_per_sample(x):
    return x.abs().flatten(1).amax(1) > 0


def _with_bias(node, st, I, t):
    if st["has_bias"] and t < node.bias_R:
        b = release(st["bias"], t, node.bias_R).to(st["dtype"])
        return b.expand(st["V"].shape) if I is None else I + b
    return I


def _fire(st, I, y):
    """Apply spikes y (+1, -1, 0): V -= y*theta; S += y. A ST-BIF/IF state changes iff it
    spiked (S moves) or its net input is nonzero (V moves). Returns None if nothing spiked."""
    spiked = _any_per_sample(y)
    st["changed"] = spiked if I is None else spiked | _any_per_sample(I)
    if not bool(spiked.any()):
        return None
    theta = st["theta"]
    if isinstance(theta, float):
        st["V"].sub_(y, alpha=theta)
    else:
        st["V"].sub_(y * theta)
    st["S"].add_(y)
    return y


def step_stbif(node, st, I, t, ctx):
    """Returns y, or None when no neuron of the batch spiked (downstream synapses skip)."""
    V, S, theta = st["V"], st["S"], st["theta"]
    I = _with_bias(node, st, I, t)
    if I is not None:
        V.add_(I)
    up = _ge1(V - (theta - 1)).mul_(_ge1(node.s_max - S))   # V' >= theta and S < s_max
    down = _ge1(-V).mul_(_ge1(S - node.s_min))              # V' < 0 and S > s_min
    return _fire(st, I, up.sub_(down))


def step_if(node, st, I, t, ctx):
    V, S, theta = st["V"], st["S"], st["theta"]
    I = _with_bias(node, st, I, t)
    if I is not None:
        V.add_(I)
    up = _ge1(V - (theta - 1))                               # V' >= theta
    if node.s_max > 0:
        up.mul_(_ge1(node.s_max - S))                        # and S < s_max
    return _fire(st, I, up)


def _generic_change(st, V0, S0):
    return torch.logical_or(st["V"] != V0, st["S"] != S0).flatten(1).any(1)


def _zero_if_none(I, st):
    return torch.zeros_like(st["V"]) if I is None else I


def step_ilif(node, st, I, t, ctx):
    I = _zero_if_none(I, st)
    a = ctx["start"]  # first accumulate step; generate runs a+T .. a+2T-1
    V0, S0 = st["V"], st["S"]
    y = torch.zeros_like(V0)
    if a <= t < a + node.T:
        V = 2 * V0 + I
        if t == a + node.T - 1:
            V = V + st["bias"].to(st["dtype"])
        st["V"] = V
    elif a + node.T <= t < a + 2 * node.T:
        V = 2 * V0
        y = (V >= st["theta"]).to(st["dtype"])
        st["V"] = V - y * st["theta"]
        st["S"] = 2 * S0 + y  # S holds the output code, MSB first
    st["changed"] = _generic_change(st, V0, S0)
    return y


def step_calif(node, st, I, t, ctx):
    I = _zero_if_none(I, st)
    V0, S0, theta = st["V"], st["S"], st["theta"]
    V = V0 + I - st["leak"]
    pos = V >= theta
    if node.s_max > 0:
        pos &= S0 < node.s_max
    neg = V <= -theta
    if node.gate:
        neg &= S0 > 0
    y = pos.to(st["dtype"]) - neg.to(st["dtype"])
    st["V"] = V - y * theta
    st["S"] = S0 + y
    st["changed"] = _generic_change(st, V0, S0)
    return y


def settle_calif(node, st):
    """One settle step (after the window): +1 while 2V >= theta, -1 while 2V < -theta."""
    V, S, theta = st["V"], st["S"], st["theta"]
    pos = 2 * V >= theta
    if node.s_max > 0:
        pos &= S < node.s_max
    neg = 2 * V < -theta
    if node.gate:
        neg &= S > 0
    y = pos.to(st["dtype"]) - neg.to(st["dtype"])
    st["V"] = V - y * theta
    st["S"] = S + y
    st["changed"] = (y != 0).flatten(1).any(1)
    return y


def step_readout(node, st, I, t, ctx):
    I = _zero_if_none(I, st)
    V0 = st["V"]
    if node.horner:
        a, T = ctx["start"], ctx["T"]
        if a <= t < a + T:
            st["V"] = 2 * V0 + I
        st["changed"] = (st["V"] != V0).flatten(1).any(1)
    else:
        V0.add_(I)
        st["changed"] = (I != 0).flatten(1).any(1)
    return None


def _init_cubalif(node, shape):
    """u, v and the spike count S in int64 (every Loihi intermediate fits: |u| < 2^31)."""
    z = torch.zeros(shape, dtype=torch.int64)
    bias = torch.as_tensor(np.array(node.bias_mant), dtype=torch.int64) << \
        torch.as_tensor(np.array(node.bias_exp), dtype=torch.int64)
    return {"V": z, "U": z.clone(), "S": z.clone(), "dtype": torch.int64,
            "bias": bias.broadcast_to(node.shape)}


def _decay(x, keep):
    """trunc0(x * keep / 2^12): Loihi's decay rounds the magnitude down (toward zero)."""
    a = x * keep
    return torch.sign(a) * (a.abs() >> DECAY_SHIFT)


def step_cubalif(node, st, I, t, ctx):
    """Loihi's CUBA LIF as Lava's PyLifModelBitAcc (docs/ir-format.md, "CUBALIF in detail")."""
    u0, v0, S0 = st["U"], st["V"], st["S"]
    x = _decay(u0, 4095 - node.du)             # Loihi adds 1 to du
    if I is not None:
        x = x + (I.to(torch.int64) << ACT_SHIFT)
    u = torch.where(x > UV_MAX, x - 2 * UV_MAX, torch.where(x <= -UV_MAX, x + 2 * UV_MAX, x))
    v = (_decay(v0, 4096 - node.dv) + u + st["bias"]).clamp_(-UV_MAX + 1, UV_MAX - 1)
    y = (v > (node.vth << ACT_SHIFT)).to(torch.int64)
    v = v * (1 - y)                            # reset to 0
    st["U"], st["V"], st["S"] = u, v, S0 + y
    st["changed"] = ((u != u0) | (v != v0) | (y != 0)).flatten(1).any(1)
    return y


STEP_RULES = {STBIF: step_stbif, IF: step_if, ILIF: step_ilif, CaLIF: step_calif,
              CUBALIF: step_cubalif, Readout: step_readout}
