"""Residual networks in hardware: cores that sum synapses from several spiking layers (identity
Scale shortcut, 1x1 and stride-2 conv shortcuts), shared-kernel tables for stride-2 and 1x1
convolutions, against the golden simulator at every step."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.mappings.rtl import lower, run

from rtlsim import need_sim, values_compared

pytestmark = pytest.mark.rtl


def residual_net(seed, C=(2, 3, 4), H=6):
    """in -> a -> b; c = conv(b) + Scale(a) (identity shortcut); d = conv3x3/2(c) + conv1x1/2(a)
    + conv1x1/2(c) (two tables from one source); pool, flatten, dense -> readout."""
    rng = np.random.default_rng(seed)
    c0, c1, c2 = C

    def stbif(shape):
        theta = int(rng.integers(2, 5)) * 2
        return ir.STBIF(shape, theta=theta, v0=theta // 2, bias=rng.integers(-theta, theta + 1, (shape[0], 1, 1)),
                        bias_R=int(rng.integers(1, 3)), s_min=-1, s_max=4, v_bits=16, s_bits=5)

    def conv(cout, cin, k, stride=1, pad=None):
        pad = k // 2 if pad is None else pad
        return ir.Conv2d(rng.integers(-3, 4, (cout, cin, k, k)), stride=(stride, stride), padding=(pad, pad))

    Ho = (H + 2 - 3) // 2 + 1
    nodes = {
        "in": ir.Source((c0, H, H), R=2, x_bits=5),
        "a.w": conv(c1, c0, 3), "a": stbif((c1, H, H)),
        "b.w": conv(c1, c1, 3), "b": stbif((c1, H, H)),
        "c.w": conv(c1, c1, 3), "c.skip": ir.Scale(np.array([1, 2, 1])[:c1].reshape(-1, 1, 1)), "c": stbif((c1, H, H)),
        "d.w": conv(c2, c1, 3, 2), "d.sa": conv(c2, c1, 1, 2, 0), "d.sc": conv(c2, c1, 1, 2, 0),
        "d": stbif((c2, Ho, Ho)),
        "pool": ir.SumPool2d(3, 3), "flat": ir.Flatten(),
        "fc": ir.Dense(rng.integers(-3, 4, (4, c2 * (Ho // 3) ** 2))), "out": ir.Readout((4,)),
    }
    E = ir.Edge
    edges = [E("in", "a.w"), E("a.w", "a"), E("a", "b.w"), E("b.w", "b"), E("b", "c.w"), E("c.w", "c"),
             E("a", "c.skip"), E("c.skip", "c"), E("c", "d.w"), E("d.w", "d"), E("a", "d.sa"), E("d.sa", "d"),
             E("c", "d.sc"), E("d.sc", "d"), E("d", "pool"), E("pool", "flat"), E("flat", "fc"), E("fc", "out")]
    g = ir.Graph(nodes, edges, name=f"residual-{seed}")
    ir.verify(g)
    return g


def test_residual_cores_take_several_sources_with_kernel_tables():
    net = lower(residual_net(0), lanes=2)
    assert net.nodes == ["a", "b", "c", "d", "out"]
    kinds = {n: [(t.name, t.kind) for t in c.tables] for n, c in zip(net.nodes, net.cores)}
    assert kinds["c"] == [("a", "conv"), ("b", "conv")]      # identity Scale = diagonal 1x1 kernel
    assert kinds["d"] == [("a", "conv"), ("c", "conv"), ("c", "conv")]  # 1x1/2, 3x3/2 and 1x1/2
    assert kinds["out"] == [("d", "dense")]
    d = net.cores[3]
    assert sorted(t.conv.stride for t in d.tables) == [(2, 2)] * 3
    # the kernel tables compute exactly the unrolled synapses of every path
    from hwsnn.mappings.rtl._images import unroll_sparse
    got = d.implied_weights()
    off = d.offsets()
    want_a = unroll_sparse(net.graph, "d", "a").toarray()
    want_c = unroll_sparse(net.graph, "d", "c").toarray()
    assert np.array_equal(got[off[0]:off[1]], want_a)
    assert np.array_equal(got[off[1]:off[2]] + got[off[2]:], want_c)


def _check(graph, x, steps, simulator, lanes, fast=True):
    trace = run(graph, x, steps, sim=simulator, lanes=lanes, fast=fast)
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    # every golden value at every step (and, on the fast path, the V/S memories read back)
    assert cmp.compared_values == values_compared(graph, steps, len(x), read_back=fast)
    assert {f"{n}.{v}" for n, v, _ in golden.variables()} <= set(cmp.per_variable)
    for n in ("a", "b", "c", "d"):
        assert np.abs(golden.y[n]).sum() > 0, f"layer {n} never spiked: a weak test"
    assert (golden.y["c"] < 0).any() or (golden.y["d"] < 0).any()
    return trace


@pytest.mark.parametrize("simulator,lanes,seed", [("icarus", 1, 0), ("icarus", 3, 1), ("verilator", 2, 2)])
def test_residual_network_every_step(simulator, lanes, seed):
    need_sim(simulator)
    g = residual_net(seed)
    x = np.random.default_rng(seed).integers(0, 16, (3, 2, 6, 6))
    _check(g, x, 14, simulator, lanes)


def test_per_cycle_bench_runs_multi_source_cores_on_icarus():
    """The per-cycle bench once hung here: a core's kernel shape per table was an Array of
    constants, which Icarus left X until the table index changed (now a Mux chain)."""
    need_sim("icarus")
    g = residual_net(1)
    x = np.random.default_rng(1).integers(0, 16, (2, 2, 6, 6))
    _check(g, x, 10, "icarus", 2, fast=False)


def test_corrupted_kernel_word_is_caught():
    """A wrong word in a stride-2 kernel table must show up as a divergence."""
    need_sim("icarus")
    from hwsnn.mappings.rtl import run_lowered
    g = residual_net(4)
    x = np.random.default_rng(4).integers(0, 16, (2, 2, 6, 6))
    net = lower(g, lanes=2)
    tab = net.cores[3].tables[1]
    assert tab.conv is not None and tab.conv.stride == (2, 2)
    tab.conv.K[0, 0, 1, 1] += 1
    trace = run_lowered(net, x, 10, "icarus")
    cmp = backends.compare(sim.run(trace.graph, x, 10), trace, "rtl")
    assert cmp.mismatches > 0 and cmp.first.node == "d"


@pytest.mark.slow
@pytest.mark.parametrize("simulator,n", [("verilator", 20), ("icarus", 1)])  # Icarus: ~50 s per image
def test_digits_resnet_spikezip_rcr_every_step(simulator, n):
    """The bundled digits ResNet (ST-BIF, RCR: the identity shortcut is a Scale into the block's
    second neuron layer, the strided 1x1 downsample a kernel table) on test images."""
    need_sim(simulator)
    from hwsnn.compile import compile_qann
    from hwsnn.examples import DIGITS_INPUT_RANGE, DIGITS_INPUT_SCALE, digits_data, load_digits_resnet
    _, qann, info = load_digits_resnet()
    g = compile_qann(qann, input_scale=DIGITS_INPUT_SCALE, input_range=DIGITS_INPUT_RANGE, w_bits=8,
                     name="digits-resnet")
    net = lower(g, lanes=16)
    assert [t.kind for t in net.cores[2].tables] == ["conv", "conv"]     # conv2 + identity shortcut
    assert [t.kind for t in net.cores[4].tables] == ["conv", "conv"]     # 1x1/2 downsample + conv2
    _, _, x, _ = digits_data()
    trace = _check_digits(g, x[:n], info["steps"], simulator)
    assert np.array_equal(trace.predict(), sim.run(trace.graph, x[:n], info["steps"]).predict())


def _check_digits(g, x, steps, simulator):
    trace = run(g, x, steps, sim=simulator, lanes=16)
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values == values_compared(g, steps, len(x))
    print(f"\n{g.name}: {len(x)} samples x {steps} steps, {cmp.compared_values} values compared, "
          f"0 mismatches; {trace.rtl['cycles_per_step']:.0f} cycles/step")
    return trace
