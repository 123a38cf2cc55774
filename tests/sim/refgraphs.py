"""Small random IR graphs of every node type, for the scalar-reference property tests.

A graph is built in layers: layer 0 holds 1-2 Sources, each later layer 1-2 neurons, each fed
by 1-2 synapse chains from earlier nodes (a residual sum when more than one), then a Readout.
Families: "stbif" (STBIF and IF, analog/rate/bits sources), "ilif" (bits sources, ILIF,
horner or plain Readout), "calif" (CaLIF window + settle) and "mixed" (an ILIF layer on bits
sources, then STBIF and IF layers). Chains use Dense, Conv2d
(stride, padding, groups), SumPool2d, Scale and Flatten.
"""

import numpy as np

from hwsnn import ir

FAMILIES = ("stbif", "ilif", "calif", "mixed")


class _Builder:
    def __init__(self, seed, family, depth, delays, small_widths, exact):
        self.rng = np.random.default_rng(seed)
        self.family, self.depth, self.delays = family, depth, delays
        self.small_widths, self.exact = small_widths, exact  # exact: closed forms must hold
        self.nodes, self.edges, self.count = {}, [], 0
        self.T = int(self.rng.integers(1, 5))

    def ri(self, lo, hi, size=None):
        return self.rng.integers(lo, hi + 1, size)

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def delay(self):
        return int(self.rng.choice(self.delays))

    def per_neuron(self, shape, lo, hi):
        """A parameter as a scalar, per channel (C, 1, 1) or full array."""
        form = self.ri(0, 2)
        if form == 0 or not shape:
            return int(self.ri(lo, hi))
        if form == 1:
            return self.ri(lo, hi, shape[:1] + (1,) * (len(shape) - 1))
        return self.ri(lo, hi, shape)

    def v_bits(self, wide):
        return int(self.ri(7, 10)) if self.small_widths and self.ri(0, 3) == 0 else wide

    # --- synapse chains ----------------------------------------------------------------
    def add(self, node, src, delay=0):
        n = self.name(node.type.lower())
        self.nodes[n] = node
        self.edges.append(ir.Edge(src, n, delay))
        return n

    def conv_fits(self, cin, h, w, k, s, p):
        return (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1

    def main_chain(self, src, shape, d):
        """A random synapse chain leaving `src` (edge delay d); returns (last synapse, shape)."""
        if len(shape) == 1:
            n = self.add(ir.Dense(self.ri(-3, 3, (int(self.ri(1, 5)), shape[0]))), src, d)
            out = (self.nodes[n].W.shape[0],)
            if self.ri(0, 3) == 0:
                n = self.add(ir.Scale(self.per_neuron(out, -2, 2)), n)
            return n, out
        cin, h, w = shape
        k, s, p = int(self.ri(1, min(3, h + 1, w + 1))), int(self.ri(1, 2)), int(self.ri(0, 1))
        k = min(k, h + 2 * p, w + 2 * p)
        groups = int(self.rng.choice([g for g in (1, 2, 3) if cin % g == 0]))
        cout = groups * int(self.ri(1, 2))
        n = self.add(ir.Conv2d(self.ri(-3, 3, (cout, cin // groups, k, k)), stride=s, padding=p,
                               groups=groups), src, d)
        out = (cout, *self.conv_fits(cin, h, w, k, s, p))
        if min(out[1:]) >= 2 and self.ri(0, 2) == 0:
            pk, ps = int(self.ri(1, 2)), int(self.ri(1, 2))
            n = self.add(ir.SumPool2d(pk, ps), n)
            out = (cout, (out[1] - pk) // ps + 1, (out[2] - pk) // ps + 1)
        if self.ri(0, 3) == 0:
            n = self.add(ir.Flatten(), n)
            out = (int(np.prod(out)),)
        return n, out

    def chain_to(self, src, shape, target, d):
        """A synapse chain from `src` onto `target` shape, or None if none fits."""
        if len(target) == 1:
            if len(shape) == 3:
                src, d, shape = self.add(ir.Flatten(), src, d), 0, (int(np.prod(shape)),)
            return self.add(ir.Dense(self.ri(-3, 3, (target[0], shape[0]))), src, d)
        if len(shape) != 3:
            return None
        if shape == target and self.ri(0, 1):
            return self.add(ir.Scale(self.per_neuron(shape, -2, 2)), src, d)
        for k, s, p in [(1, 1, 0), (3, 1, 1), (2, 2, 0), (3, 2, 1), (1, 2, 0)]:
            if shape[1] + 2 * p >= k and self.conv_fits(*shape, k, s, p) == target[1:]:
                return self.add(ir.Conv2d(self.ri(-3, 3, (target[0], shape[0], k, k)), stride=s,
                                          padding=p), src, d)
        return None

    # --- nodes -------------------------------------------------------------------------
    def source(self):
        C = int(self.ri(1, 3))
        shape = (int(self.ri(2, 6)),) if self.ri(0, 1) else (C, int(self.ri(2, 5)), int(self.ri(2, 5)))
        fam = self.family
        first = not any(n.ROLE == "source" for n in self.nodes.values())
        enc = "bits" if fam == "ilif" or (fam == "mixed" and first) else str(self.rng.choice(
            ["analog", "rate"] if fam == "calif" else ["analog", "rate", "bits"]))
        if enc == "analog":
            R = int(self.ri(1, self.T if fam == "calif" and self.exact else 4))
            node = ir.Source(shape, encoding="analog", R=R, x_bits=6)
        elif enc == "rate":
            node = ir.Source(shape, encoding="rate", T=int(self.ri(1, self.T if fam == "calif" else 5)),
                             x_bits=8)
        else:
            node = ir.Source(shape, encoding="bits", T=self.T if fam in ("ilif", "mixed") else int(self.ri(1, 4)),
                             x_bits=7)
        n = self.name("in")
        self.nodes[n] = node
        return n

    def neuron(self, shape, fam):
        pn = self.per_neuron
        if fam in ("stbif", "mixed"):
            theta = pn(shape, 1, 12)
            tmax = int(np.max(theta))
            kw = dict(theta=theta, v0=pn(shape, -tmax, tmax), bias=pn(shape, -2 * tmax, 2 * tmax),
                      bias_R=int(self.ri(1, 4)), v_bits=self.v_bits(16))
            if self.exact or self.ri(0, 2):
                return ir.STBIF(shape, s_min=int(self.ri(-3, 0)), s_max=int(self.ri(0, 6)), s_bits=8, **kw)
            return ir.IF(shape, s_max=int(self.rng.choice([0, 1, 3, 6])), s_bits=16, **kw)
        if fam == "ilif":
            return ir.ILIF(shape, theta=pn(shape, 1, 40), T=self.T, bias=pn(shape, -10, 10),
                           v_bits=self.v_bits(32))
        return ir.CaLIF(shape, theta=pn(shape, 1, 12), leak=pn(shape, -2, 2), T=self.T,
                        s_max=int(self.rng.choice([0, 0, 1, 3, 5])), gate=bool(self.ri(0, 1)),
                        v_bits=self.v_bits(16), s_bits=16)

    def shape_of(self, n):
        return tuple(self.nodes[n].shape)

    def feed(self, srcs, make, d_of):
        """A node made by `make(shape)`, fed by chains from each of `srcs`; None if none fits."""
        first, out = self.main_chain(srcs[0], self.shape_of(srcs[0]), d_of(srcs[0]))
        last = [first]
        for s in srcs[1:]:
            c = self.chain_to(s, self.shape_of(s), out, d_of(s))
            if c is not None:
                last.append(c)
        n = self.name("n")
        self.nodes[n] = make(out)
        self.edges += [ir.Edge(c, n) for c in last]
        return n

    def build(self):
        layers = [[self.source() for _ in range(int(self.ri(1, 2)))]]
        for depth in range(self.depth):
            kind = "ilif" if self.family == "mixed" and depth == 0 else self.family
            d = self.delay()  # ilif: one delay per layer keeps every input in one window
            d_of = (lambda s, d=d: d) if kind == "ilif" else (lambda s: self.delay())
            pool = layers[-1] if kind == "ilif" else [n for layer in layers for n in layer]
            if kind == "ilif" and self.family == "mixed":  # only bits sources have a window
                pool = [n for n in pool if self.nodes[n].encoding == "bits"]
            layer = []
            for _ in range(int(self.ri(1, 2))):
                srcs = [str(self.rng.choice(pool if kind == "ilif" else layers[-1]))]
                srcs += [str(s) for s in self.rng.choice(pool, int(self.ri(0, 1)))]  # may repeat
                layer.append(self.feed(srcs, lambda shape: self.neuron(shape, kind), d_of))
            layers.append(layer)
        horner = self.family == "ilif" and bool(self.ri(0, 2))
        d = self.delay()
        srcs = list(dict.fromkeys(str(s) for s in self.rng.choice(layers[-1], int(self.ri(1, 2)))))
        readout = lambda shape: ir.Readout(shape, v_bits=self.v_bits(40), horner=horner)
        self.feed(srcs, readout, lambda s: d)
        graph = ir.Graph(self.nodes, self.edges, name=f"ref-{self.family}")
        ir.verify(graph)
        return graph


def random_graph(seed, family, depth=2, delays=(0, 1), small_widths=False, exact=False):
    """A random verified graph of `family`; `exact` keeps what the closed forms need (no IF, a
    CaLIF's input all inside its window), `small_widths` sometimes picks too-narrow registers."""
    return _Builder(seed, family, depth, delays, small_widths, exact).build()


def random_inputs(graph, batch, seed):
    """{source: (batch, *shape)} integer inputs valid for each Source's encoding."""
    rng = np.random.default_rng(seed)
    x = {}
    for n, node in graph.nodes.items():
        if node.ROLE != "source":
            continue
        size = (batch, *node.shape)
        if node.encoding == "analog":
            x[n] = rng.integers(-20, 32, size)
        elif node.encoding == "rate":
            x[n] = rng.integers(0, node.T + 1, size)
        else:
            x[n] = rng.integers(0, 2 ** node.T, size)
    return x


def run_steps(graph, rng_value):
    """A run length valid for `graph`: the CaLIF window, else `rng_value`."""
    Ts = {node.T for node in graph.nodes.values() if node.type == "CaLIF"}
    return Ts.pop() if Ts else rng_value
