"""The one range analysis (hwsnn.compile._ranges, _intervals): sound for every neuron type, cheap.

Soundness: random networks of every neuron type are given the widths the analysis proves
(`fit_widths`) and run on the golden simulator, which raises RangeError as soon as a membrane
leaves its declared register; every V and S reached stays inside the static bound.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwsnn import ir, sim
from hwsnn.compile import bounds, fit_widths, register_bounds
from hwsnn.errors import RangeError

QLO, QHI = -9, 12  # analog input range of the random networks

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class _Net:
    """A random graph: sources, 1-3 neuron layers (chain + optional residual from the layer
    before), a Readout. family: "stbif" (STBIF / IF), "ilif" (bits source, horner or plain
    readout), "calif" (window T + settle)."""

    def __init__(self, seed, family):
        self.rng = np.random.default_rng(seed)
        self.family, self.nodes, self.edges, self.n = family, {}, [], 0
        self.T = int(self.ri(1, 4))

    def ri(self, lo, hi, size=None):
        return self.rng.integers(lo, hi + 1, size)

    def param(self, shape, lo, hi):
        """Scalar, per channel or per neuron."""
        form = int(self.ri(0, 2))
        if form == 0:
            return int(self.ri(lo, hi))
        return self.ri(lo, hi, shape[:1] + (1,) * (len(shape) - 1) if form == 1 else shape)

    def add(self, node, src, delay=0):
        self.n += 1
        name = f"{node.type.lower()}{self.n}"
        self.nodes[name] = node
        self.edges.append(ir.Edge(src, name, delay))
        return name

    def delay(self):
        return 0 if self.family == "ilif" else int(self.ri(0, 1))

    def chain(self, src, shape, d):
        """A random synapse chain from `src`; returns (last node, output shape)."""
        if len(shape) == 1:
            n = self.add(ir.Dense(self.ri(-4, 4, (int(self.ri(1, 5)), shape[0]))), src, d)
            out = (self.nodes[n].W.shape[0],)
            if self.ri(0, 2) == 0:
                n = self.add(ir.Scale(self.param(out, -2, 2)), n)
            return n, out
        c, h, w = shape
        k, s, p = int(self.ri(1, min(3, h, w))), int(self.ri(1, 2)), int(self.ri(0, 1))
        groups = int(self.rng.choice([g for g in (1, 2) if c % g == 0]))
        cout = groups * int(self.ri(1, 2))
        n = self.add(ir.Conv2d(self.ri(-3, 3, (cout, c // groups, k, k)), stride=s, padding=p,
                               groups=groups), src, d)
        out = (cout, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        if min(out[1:]) >= 2 and self.ri(0, 1):
            n = self.add(ir.SumPool2d(2, int(self.ri(1, 2))), n)
            out = (cout, (out[1] - 2) // self.nodes[n].stride[0] + 1, (out[2] - 2) // self.nodes[n].stride[1] + 1)
        if self.ri(0, 3) == 0:
            n, out = self.add(ir.Flatten(), n), (int(np.prod(out)),)
        return n, out

    def neuron(self, shape):
        p = self.param
        if self.family == "stbif":
            theta = p(shape, 1, 10)
            tmax = int(np.max(theta))
            kw = dict(theta=theta, v0=p(shape, -tmax, tmax), bias=p(shape, -2 * tmax, 2 * tmax),
                      bias_R=int(self.ri(1, 3)))
            if self.ri(0, 1):
                return ir.STBIF(shape, s_min=int(self.ri(-3, 0)), s_max=int(self.ri(0, 6)), **kw)
            return ir.IF(shape, s_max=int(self.rng.choice([0, 1, 4])), **kw)
        if self.family == "ilif":
            return ir.ILIF(shape, theta=p(shape, 1, 40), T=self.T, bias=p(shape, -10, 10))
        return ir.CaLIF(shape, theta=p(shape, 1, 10), leak=p(shape, -2, 2), T=self.T,
                        s_max=int(self.rng.choice([0, 1, 4])), gate=bool(self.ri(0, 1)))

    def source(self):
        shape = (int(self.ri(2, 6)),) if self.ri(0, 1) else (int(self.ri(1, 2)), int(self.ri(3, 5)), int(self.ri(3, 5)))
        if self.family == "ilif":
            node = ir.Source(shape, encoding="bits", T=self.T, x_bits=7)
        elif self.ri(0, 2) or self.family == "calif":
            R = int(self.ri(1, self.T if self.family == "calif" else 3))
            node = ir.Source(shape, encoding="analog", R=R, x_bits=6)
        else:
            node = ir.Source(shape, encoding="rate", T=int(self.ri(1, 4)), x_bits=6)
        self.nodes["in"] = node
        return "in", shape

    def build(self):
        prev, shape = self.source()
        before = None
        for _ in range(int(self.ri(1, 3))):
            d = self.delay()
            last, out = self.chain(prev, shape, d)
            ins = [last]
            if before is not None and before[1] == out and self.family != "ilif":
                ins.append(self.add(ir.Scale(self.param(out, -2, 2)), before[0], self.delay()))
            self.n += 1
            name = f"n{self.n}"
            self.nodes[name] = self.neuron(out)
            self.edges += [ir.Edge(i, name) for i in ins]
            before, prev, shape = (prev, shape), name, out
        last, out = self.chain(prev, shape, self.delay())
        horner = self.family == "ilif" and bool(self.ri(0, 1))
        self.nodes["out"] = ir.Readout(out, horner=horner)
        self.edges.append(ir.Edge(last, "out"))
        g = ir.Graph(self.nodes, self.edges, name=f"ranges-{self.family}")
        ir.verify(g)
        return g


def _inputs(graph, rng, batch=24):
    """Random inputs with many samples at the extremes (where the bounds are approached)."""
    src = graph.nodes["in"]
    lo, hi = {"analog": (QLO, QHI), "rate": (0, src.T), "bits": (0, 2 ** src.T - 1)}[src.encoding]
    size = (batch, *src.shape)
    pick = rng.integers(0, 3, size)
    return np.where(pick == 0, lo, np.where(pick == 1, hi, rng.integers(lo, hi + 1, size)))


def _steps(graph):
    if any(isinstance(n, ir.CaLIF) for n in graph.nodes.values()):
        return next(n.T for n in graph.nodes.values() if isinstance(n, ir.CaLIF))
    if any(isinstance(n, ir.ILIF) for n in graph.nodes.values()):
        return 2 * 3 * graph.nodes["in"].T + 2
    return 30


@SETTINGS
@given(seed=st.integers(0, 2 ** 31 - 1), family=st.sampled_from(["stbif", "ilif", "calif"]))
def test_random_networks_stay_inside_the_proven_widths(seed, family):
    g = fit_widths(_Net(seed, family).build(), (QLO, QHI))
    _, regs = bounds(g, (QLO, QHI))
    rng = np.random.default_rng(seed)
    for _ in range(2):
        tr = sim.run(g, _inputs(g, rng), _steps(g))  # RangeError if a register overflows
        for name, reg in regs.items():
            lo, hi = reg["V"]
            assert lo <= tr.V[name].min() and tr.V[name].max() <= hi, (name, reg, tr.V[name].min(), tr.V[name].max())
            assert ir.fits([lo, hi], g.nodes[name].v_bits)
            if reg["S"] is not None:
                slo, shi = reg["S"]
                assert slo <= tr.S[name].min() and tr.S[name].max() <= shi, (name, reg)


def test_narrower_than_proven_overflows_for_some_input():
    """Not vacuous: one bit less than the proven width on a single STBIF layer is reached by an
    adversarial input (every input with a positive weight at its maximum)."""
    W = np.array([[3, -2, 4], [1, 1, -1]])
    nodes = {"in": ir.Source((3,), x_bits=6), "w": ir.Dense(W),
             "n": ir.STBIF((2,), theta=np.array(4), v0=np.array(2), s_max=3),
             "r": ir.Dense(np.ones((1, 2), dtype=np.int64)), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")]
    g = fit_widths(ir.Graph(nodes, edges), (0, 12))
    lo, hi = register_bounds(g, (0, 12))["n"]
    # V' = v0 + Z - S*theta: largest at step 0 with Z = 12 * (3 + 4) = 84, S = 0
    assert hi == 2 + 84
    x = np.array([[12, 0, 12]])
    tr = sim.run(g, x, 10)
    assert tr.V["n"][0, 0, 0] == 86 - 4  # V' = 86 at step 0, one spike takes theta
    assert g.nodes["n"].v_bits == ir.bits_for(lo, hi) == ir.bits_for(lo, 82)
    narrow = ir.Graph({**g.nodes, "n": ir.STBIF((2,), theta=np.array(4), v0=np.array(2), s_max=3,
                                                v_bits=g.nodes["n"].v_bits - 1)}, edges)
    with pytest.raises(RangeError, match=r"^node 'n': membrane V reached"):
        sim.run(narrow, x, 10)


def test_conv_bound_is_per_channel_sum_of_kernel_parts():
    """Conv2d: the bound of output channel o is sum over (c, ky, kx) of max(W lo_c, W hi_c),
    with 0 for padding; an interior neuron attains it, so the per-channel rule loses nothing
    against a per-neuron one here."""
    rng = np.random.default_rng(1)
    W = rng.integers(-3, 4, (2, 2, 3, 3))
    nodes = {"in": ir.Source((2, 5, 5), x_bits=6), "c": ir.Conv2d(W, padding=1),
             "n": ir.STBIF((2, 5, 5), theta=np.array(6), v0=np.array(3), s_max=4),
             "f": ir.Flatten(), "d": ir.Dense(rng.integers(-2, 3, (3, 50))), "out": ir.Readout((3,))}
    edges = [ir.Edge("in", "c"), ir.Edge("c", "n"), ir.Edge("n", "f"), ir.Edge("f", "d"), ir.Edge("d", "out")]
    g = ir.Graph(nodes, edges)
    cum, regs = bounds(g, (0, 10))
    want_hi = 10 * W.clip(min=0).sum(axis=(1, 2, 3))
    want_lo = 10 * W.clip(max=0).sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(cum["c"][1].reshape(-1), want_hi)
    np.testing.assert_array_equal(cum["c"][0].reshape(-1), want_lo)
    assert regs["n"]["V"][1] == 3 + int(want_hi.max())
    # the readout reads S in [0, 4] of all 50 neurons exactly (Dense is per neuron)
    D = nodes["d"].W
    assert regs["out"]["V"] == (4 * int(D.clip(max=0).sum(1).min()), 4 * int(D.clip(min=0).sum(1).max()))


def test_unbounded_if_and_ungated_calif_get_derived_tracer_bounds():
    """IF with s_max = 0 and Ca-LIF without gate: S bounds follow from V = v0 + D - theta*S."""
    for neuron in (ir.IF((2,), theta=np.array(3), v0=np.array(1), s_max=0),
                   ir.CaLIF((2,), theta=np.array(3), leak=np.array(1), T=4, gate=False)):
        nodes = {"in": ir.Source((2,), x_bits=6), "w": ir.Dense(np.array([[2, -1], [-3, 1]])),
                 "n": neuron, "r": ir.Dense(np.eye(2, dtype=np.int64)), "out": ir.Readout((2,))}
        edges = [ir.Edge("in", "w"), ir.Edge("w", "n"), ir.Edge("n", "r"), ir.Edge("r", "out")]
        _, regs = bounds(ir.Graph(nodes, edges), (-5, 5))
        slo, shi = regs["n"]["S"]
        assert slo <= 0 < shi and max(-slo, shi) < 100


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), same=st.booleans())
def test_conv_rule_equals_the_per_neuron_extremes(seed, same):
    """The per-tap rule gives, per output channel, exactly the min / max over positions of the
    per-neuron interval bound (computed here by convolving the lo / hi maps, the rule the
    compiler used before), for any stride, padding, groups and per-channel intervals."""
    import torch
    import torch.nn.functional as F

    from hwsnn.compile._intervals import _conv
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 3))
    cg, c_out = int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k, s, p = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
    h, w = int(rng.integers(max(1, k - 2 * p), 6)), int(rng.integers(max(1, k - 2 * p), 6))
    W = rng.integers(-3, 4, (c_out, cg, k, k))
    node = ir.Conv2d(W, stride=s, padding=p, groups=groups)
    c_in = cg * groups
    lo = rng.integers(-4, 3, c_in)
    hi = lo + rng.integers(0, 5, c_in)
    if same:  # one interval for every channel (the rule's fast path)
        lo, hi = np.full(c_in, lo[0]), np.full(c_in, hi[0])
    got_lo, got_hi = _conv("c", node, lo.reshape(-1, 1, 1).astype(float), hi.reshape(-1, 1, 1).astype(float),
                           (c_in, h, w))
    t = lambda a: torch.as_tensor(np.broadcast_to(a.reshape(-1, 1, 1), (c_in, h, w)), dtype=torch.float64)[None]
    wt = torch.as_tensor(W, dtype=torch.float64)
    conv = lambda x, k_: F.conv2d(x, k_, None, s, p, 1, groups)[0]
    ref_lo = conv(t(lo), wt.clamp(min=0)) + conv(t(hi), wt.clamp(max=0))
    ref_hi = conv(t(hi), wt.clamp(min=0)) + conv(t(lo), wt.clamp(max=0))
    np.testing.assert_array_equal(got_lo.reshape(-1), ref_lo.amin(dim=(1, 2)).numpy())
    np.testing.assert_array_equal(got_hi.reshape(-1), ref_hi.amax(dim=(1, 2)).numpy())
