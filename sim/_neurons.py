"""Per-step neuron rules, one function per IR neuron type, on float64 state (exact < 2^53).

Each rule takes (node, state, I, t, ctx) and returns y; it updates state["V"], state["S"]
in place. Order within a step: integrate, decide, reset (DESIGN.md).
"""

import torch

from hwsnn.ir import IF, ILIF, STBIF, CaLIF, Readout

from ._encode import release

__all__ = ["STEP_RULES", "init_state"]


def _t(arr, shape, dtype=torch.float64):
    return torch.as_tensor(arr, dtype=dtype).broadcast_to(shape)


def init_state(node, batch):
    shape = (batch, *node.shape)
    v0 = getattr(node, "v0", 0)
    V = _t(v0, node.shape).expand(shape).clone()
    return {"V": V, "S": torch.zeros(shape, dtype=torch.float64),
            "theta": _t(getattr(node, "theta", 1), node.shape),
            "bias": _t(getattr(node, "bias", 0), node.shape, torch.int64)}


def _bias_step(node, state, t):
    if t >= node.bias_R:
        return 0
    return release(state["bias"], t, node.bias_R).to(torch.float64)


def step_stbif(node, st, I, t, ctx):
    V = st["V"] + I + _bias_step(node, st, t)
    S, theta = st["S"], st["theta"]
    y = ((V >= theta) & (S < node.s_max)).double() - ((V < 0) & (S > node.s_min)).double()
    st["V"] = V - y * theta
    st["S"] = S + y
    return y


def step_if(node, st, I, t, ctx):
    V = st["V"] + I + _bias_step(node, st, t)
    fire = V >= st["theta"]
    if node.s_max > 0:
        fire &= st["S"] < node.s_max
    y = fire.double()
    st["V"] = V - y * st["theta"]
    st["S"] = st["S"] + y
    return y


def step_ilif(node, st, I, t, ctx):
    a = ctx["start"]  # first accumulate step; generate runs a+T .. a+2T-1
    V = st["V"]
    if a <= t < a + node.T:
        V = 2 * V + I
        if t == a + node.T - 1:
            V = V + st["bias"].double()
        st["V"] = V
        return torch.zeros_like(V)
    if a + node.T <= t < a + 2 * node.T:
        V = 2 * V
        y = (V >= st["theta"]).double()
        st["V"] = V - y * st["theta"]
        st["S"] = 2 * st["S"] + y  # S holds the output code, MSB first
        return y
    return torch.zeros_like(V)


def step_calif(node, st, I, t, ctx):
    V = st["V"] + I - st.setdefault("leak", _t(node.leak, node.shape))
    S, theta = st["S"], st["theta"]
    pos = V >= theta
    if node.s_max > 0:
        pos &= S < node.s_max
    neg = V <= -theta
    if node.gate:
        neg &= S > 0
    y = pos.double() - neg.double()
    st["V"] = V - y * theta
    st["S"] = S + y
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
    y = pos.double() - neg.double()
    st["V"] = V - y * theta
    st["S"] = S + y
    return y


def step_readout(node, st, I, t, ctx):
    if node.horner:
        a, T = ctx["start"], ctx["T"]
        if a <= t < a + T:
            st["V"] = 2 * st["V"] + I
    else:
        st["V"] = st["V"] + I
    return None


STEP_RULES = {STBIF: step_stbif, IF: step_if, ILIF: step_ilif, CaLIF: step_calif, Readout: step_readout}
