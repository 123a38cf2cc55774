"""The synapse patterns torchvision's networks produce, as shared kernels in the RTL (issue 20):
pooling before a conv (stride != kernel, floor cut), depthwise and grouped convs (block-diagonal
kernels), a concatenation (split neuron parts feeding one conv), a large Dense; every kernel is
checked on probe vectors at lowering and the RTL equals golden at every step."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.mappings.rtl import lower, run
from hwsnn.mappings.rtl._images import unroll_sparse

from rtlsim import need_sim, values_compared

pytestmark = pytest.mark.rtl


def _stbif(rng, shape):
    theta = int(rng.integers(2, 5)) * 2
    return ir.STBIF(shape, theta=theta, v0=theta // 2, bias=rng.integers(-theta, theta + 1, (shape[0], 1, 1)),
                    bias_R=1, s_min=-1, s_max=4, v_bits=16, s_bits=5)


def pattern_net(seed, H=11):
    """in -> a (3x3 conv); b = conv3x3(SumPool(3, stride 2)(a)) (pool stride != kernel, floor
    cut; composed into one 7x7/4 kernel); c = depthwise 3x3/1 pad 1 (b); d = grouped (2 groups) 3x3/2 pad 1 (c); concat as two
    parts e1, e2 of one layer, both feeding f (each part's slice of the conv); flatten, dense."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-3, 4, shape)

    Hp = (H - 3) // 2 + 1 - 2      # 3
    Hd = (Hp + 2 - 3) // 2 + 1     # 2
    nodes = {
        "in": ir.Source((2, H, H), R=2, x_bits=5),
        "a.w": ir.Conv2d(w(4, 2, 3, 3), padding=(1, 1)), "a": _stbif(rng, (4, H, H)),
        "b.pool": ir.SumPool2d((3, 3), (2, 2)), "b.w": ir.Conv2d(w(4, 4, 3, 3)),
        "b": _stbif(rng, (4, Hp, Hp)),
        "c.w": ir.Conv2d(w(4, 1, 3, 3), padding=(1, 1), groups=4), "c": _stbif(rng, (4, Hp, Hp)),
        "d.w": ir.Conv2d(w(6, 2, 3, 3), stride=(2, 2), padding=(1, 1), groups=2), "d": _stbif(rng, (6, Hd, Hd)),
        "e1.w": ir.Conv2d(w(2, 6, 1, 1)), "e1": _stbif(rng, (2, Hd, Hd)),
        "e2.w": ir.Conv2d(w(3, 6, 1, 1)), "e2": _stbif(rng, (3, Hd, Hd)),
        "f.w1": ir.Conv2d(w(4, 2, 3, 3), padding=(1, 1)), "f.w2": ir.Conv2d(w(4, 3, 3, 3), padding=(1, 1)),
        "f": _stbif(rng, (4, Hd, Hd)),
        "flat": ir.Flatten(), "fc": ir.Dense(w(3, 4 * Hd * Hd)), "out": ir.Readout((3,)),
    }
    E = ir.Edge
    edges = [E("in", "a.w"), E("a.w", "a"), E("a", "b.pool"), E("b.pool", "b.w"), E("b.w", "b"),
             E("b", "c.w"), E("c.w", "c"), E("c", "d.w"), E("d.w", "d"), E("d", "e1.w"), E("e1.w", "e1"),
             E("d", "e2.w"), E("e2.w", "e2"), E("e1", "f.w1"), E("f.w1", "f"), E("e2", "f.w2"), E("f.w2", "f"),
             E("f", "flat"), E("flat", "fc"), E("fc", "out")]
    g = ir.Graph(nodes, edges, name=f"patterns-{seed}")
    ir.verify(g)
    return g


def test_patterns_lower_to_kernels_equal_to_the_unrolled_synapses():
    net = lower(pattern_net(0), lanes=2)
    kinds = {n: [t.kind for t in c.tables] for n, c in zip(net.nodes, net.cores)}
    # the concatenation's two parts e1, e2 are one core (mappings/rtl/_concat.py); f reads it as one table
    assert kinds == {"a": ["conv"], "b": ["conv"], "c": ["conv"], "d": ["conv"], "concat[e1..e2]": ["conv", "conv"],
                     "f": ["conv"], "out": ["dense"]}
    assert [p for p, _, _ in net.parts[net.nodes.index("concat[e1..e2]")]] == ["e1", "e2"]
    for n, core in zip(net.nodes, net.cores):
        want, got = unrolled(net, n, core)
        assert np.array_equal(got, want), n
        assert np.array_equal(core.column_abs_sums(), np.abs(want).sum(0)), n  # acc bound


def unrolled(net, core, cfg):
    """(the unrolled synapses into core `core` per source, what its tables imply per source):
    a concatenation's core (`net.parts`) holds several IR nodes side by side, and a source
    that is such a core is its parts' rows one after the other."""
    parts = {net.nodes[k]: [p for p, _, _ in ps] for k, ps in enumerate(net.parts)}
    dst, names = parts[core], list(dict.fromkeys(t.name for t in cfg.tables))
    want = [np.concatenate([np.concatenate([unroll_sparse(net.graph, d, s).toarray() for d in dst], axis=1)
                            for s in parts.get(name, [name])]) for name in names]
    implied, offs = cfg.implied_weights(), cfg.offsets()
    got = [sum(implied[o:o + t.n_rows] for t, o in zip(cfg.tables, offs) if t.name == name) for name in names]
    return np.concatenate(want), np.concatenate(got)


def test_overlapping_pool_before_a_padded_conv_is_dense_and_exact():
    """SumPool(2, stride 1) then a padded conv: the conv's zero padding covers pool windows that
    reach real pixels, which no composed kernel can express; the probe check sees it."""
    rng = np.random.default_rng(3)
    nodes = {"in": ir.Source((2, 5, 5), R=1, x_bits=4), "a.w": ir.Conv2d(rng.integers(-3, 4, (2, 2, 1, 1))),
             "a": _stbif(rng, (2, 5, 5)), "p": ir.SumPool2d((2, 2), (1, 1)),
             "b.w": ir.Conv2d(rng.integers(-3, 4, (3, 2, 3, 3)), padding=(1, 1)), "b": _stbif(rng, (3, 4, 4)),
             "flat": ir.Flatten(), "fc": ir.Dense(rng.integers(-3, 4, (2, 48))), "out": ir.Readout((2,))}
    E = ir.Edge
    g = ir.Graph(nodes, [E("in", "a.w"), E("a.w", "a"), E("a", "p"), E("p", "b.w"), E("b.w", "b"),
                         E("b", "flat"), E("flat", "fc"), E("fc", "out")], name="overlap")
    net = lower(g, lanes=1)
    b = net.cores[1]
    assert [t.kind for t in b.tables] == ["dense"] and "probe check" in b.meta["layout_reason"]
    assert np.array_equal(b.implied_weights(), unroll_sparse(net.graph, "b", "a").toarray())


@pytest.mark.parametrize("simulator,lanes,seed", [("verilator", 2, 0),
                                                  pytest.param("icarus", 3, 1, marks=pytest.mark.slow)])
def test_pattern_network_every_step(simulator, lanes, seed):
    need_sim(simulator)
    g = pattern_net(seed)
    x = np.random.default_rng(seed).integers(0, 16, (2, 2, 11, 11))
    steps = 14
    trace = run(g, x, steps, sim=simulator, lanes=lanes)
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values == values_compared(g, steps, len(x))
    for n in ("a", "b", "c", "d", "e1", "e2", "f"):
        assert np.abs(golden.y[n]).sum() > 0, f"layer {n} never spiked: a weak test"


def test_probe_check_catches_one_wrong_kernel_word():
    """The lowering check (kernel vs synapses on probe vectors) sees a single word off by one in
    a composed pool->conv kernel and in a block-diagonal depthwise kernel."""
    from hwsnn.mappings.rtl._kernels import probe_check
    from hwsnn.rtl._config import ConvLayout
    net = lower(pattern_net(2), lanes=2)
    for name in ("b", "c", "d"):
        core = net.cores[net.nodes.index(name)]
        (tab,) = core.tables
        lay = ConvLayout(*net.graph.nodes[name].shape)
        assert probe_check(net.graph, name, tab.name, [tab.conv], lay)
        nz = np.argwhere(tab.conv.K != 0)[0]
        tab.conv.K[tuple(nz)] += 1
        assert not probe_check(net.graph, name, tab.name, [tab.conv], lay), name
