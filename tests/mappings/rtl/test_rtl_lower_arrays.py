"""Lowering keeps the IR's narrow weight arrays (issue 20: lowering no slower than compiling):
the tables, bounds and memory images are the same whatever integer dtype the IR holds, the
accumulator bounds equal the column sums of |the unrolled synapses|, and no table writes into
the IR's arrays."""

import dataclasses

import numpy as np
import pytest

from hwsnn import ir
from hwsnn.mappings.rtl import lower
from hwsnn.rtl import ConvLayout, CoreConfig
from hwsnn.rtl._bounds import abs_sums, kernel_abs_sums
from hwsnn.rtl._config import ConvTable, Table, _implied

from test_rtl_patterns import pattern_net, unrolled

pytestmark = pytest.mark.rtl


def _with_w_bits(graph, bits):
    """The same graph with every Conv2d / Dense declared `bits` wide: the IR then holds W in
    the dtype of that width (int8 for 7 bits, int64 for 32)."""
    nodes = {n: dataclasses.replace(v, w_bits=bits) if isinstance(v, (ir.Conv2d, ir.Dense)) else v
             for n, v in graph.nodes.items()}
    return ir.Graph(nodes, list(graph.edges), graph.name, dict(graph.meta))


def test_narrow_ir_lowers_to_the_same_cores_as_int64():
    g8, g64 = _with_w_bits(pattern_net(3), 7), _with_w_bits(pattern_net(3), 32)
    assert {v.W.dtype for v in g8.nodes.values() if isinstance(v, (ir.Conv2d, ir.Dense))} == {np.dtype(np.int8)}
    assert {v.W.dtype for v in g64.nodes.values() if isinstance(v, (ir.Conv2d, ir.Dense))} == {np.dtype(np.int64)}
    a, b = lower(g64, lanes=3), lower(g8, lanes=3)
    for n, ca, cb in zip(a.nodes, a.cores, b.cores):
        assert ca.fingerprint() == cb.fingerprint(), n
        assert (ca.acc_bits, ca.w_bits) == (cb.acc_bits, cb.w_bits), n
        for lane in range(ca.lanes):
            ia, ib = ca.weight_image(lane), cb.weight_image(lane)
            assert ib.dtype == np.int64 and np.array_equal(ia, ib), (n, lane)
        want, got = unrolled(b, n, cb)
        assert np.array_equal(got, want), n
        assert np.array_equal(cb.column_abs_sums(), np.abs(want).sum(0)), n


def test_tables_never_write_into_the_ir():
    g = pattern_net(4)
    net = lower(g, lanes=2)
    ir_arrays = [v.W for v in g.nodes.values() if isinstance(v, (ir.Conv2d, ir.Dense))]
    for core in net.cores:
        for t in core.tables:
            if t.dense is not None:
                assert not t.dense.flags.writeable  # a view of the IR's W^T, read-only
            if t.conv is not None:
                assert not any(np.shares_memory(t.conv.K, w) for w in ir_arrays)  # its own copy
    dense = next(c for n, c in zip(net.nodes, net.cores) if n == "out")
    assert dense.weights.dtype == np.int64
    assert np.array_equal(dense.weights[:dense.n_in], g.nodes["fc"].W.T)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_abs_sums_in_int64_for_every_memory_order(dtype):
    info = np.iinfo(dtype)
    lo, hi = (-(1 << 40), 1 << 40) if dtype == np.int64 else (info.min, info.max)  # int64: sums that fit
    rng = np.random.default_rng(0)
    a = rng.integers(lo, hi, (37, 11), dtype=dtype, endpoint=True)
    a[0, 0], a[1, 1] = lo, hi
    for m in (a, a.T, np.asfortranarray(a), a[::2, 1::3]):
        big = m.astype(object)
        assert abs_sums(m, 0).tolist() == np.abs(big).sum(0).tolist()
        assert abs_sums(m, 1).tolist() == np.abs(big).sum(1).tolist()


@pytest.mark.parametrize("dtype", [np.int16, np.int64])  # float64 products / int64 sums
@pytest.mark.parametrize("stride,pad,cut", [((1, 1), (1, 1), None), ((2, 1), (0, 2), "floor"),
                                            ((2, 2), (1, 0), "channel"), ((1, 1), (0, 0), "grouped")])
def test_kernel_bound_is_the_column_sums_of_the_implied_matrix(stride, pad, cut, dtype):
    """Every path of `kernel_abs_sums`: rows alike for every channel (sum over channels first),
    rows that differ by channel (per-channel products), a sparse block-diagonal kernel; int16
    kernels holding -32768."""
    rng = np.random.default_rng(1)
    C, Cin, KH, KW, Hs, Ws = 5, 4, 3, 2, 9, 8
    K = rng.integers(-32768, 32768, (C, Cin, KH, KW)).astype(dtype)
    K[0, 0, 0, 0] = -32768
    if cut == "grouped":
        K[:, 2:] = 0
        K[:3, :2] = 0
    c, y, x = np.meshgrid(np.arange(Cin), np.arange(Hs), np.arange(Ws), indexing="ij")
    rows = np.stack([c, y, x], -1).reshape(-1, 3)
    if cut == "floor":
        rows[rows[:, 1] >= Hs - 1] = -1
    if cut in ("channel", "grouped"):  # channel 1 has fewer rows: per-channel products
        rows[(rows[:, 0] == 1) & (rows[:, 2] < 3)] = -1
    Ho, Wo = (Hs + 2 * pad[0] - KH) // stride[0] + 1, (Ws + 2 * pad[1] - KW) // stride[1] + 1
    ct, lay = ConvTable(K, stride, pad, rows, (Cin, Hs, Ws)), ConvLayout(C, Ho, Wo)
    want = np.abs(_implied(ct, lay).toarray()).sum(0)
    assert np.array_equal(kernel_abs_sums(ct, lay), want)


def test_weight_image_as_documented():
    """Kernel words at base + ((c * KH + ky) * KW + kx) * cgroups + cg, dense words at
    base + row * groups + g, both int64 from int16 tables, padding channels 0."""
    rng = np.random.default_rng(2)
    C, Cin, KH, KW, H, W, lanes = 7, 2, 3, 3, 4, 4, 3
    K = rng.integers(-300, 300, (C, Cin, KH, KW)).astype(np.int16)
    c, y, x = np.meshgrid(np.arange(Cin), np.arange(H), np.arange(W), indexing="ij")
    rows = np.stack([c, y, x], -1).reshape(-1, 3)
    D = rng.integers(-300, 300, (5, C * H * W)).astype(np.int16)
    cfg = CoreConfig(name="k", kind="if", n=C * H * W, lanes=lanes, layout=ConvLayout(C, H, W), theta=1000,
                     tables=[Table(len(rows), conv=ConvTable(K, (1, 1), (1, 1), rows, (Cin, H, W))),
                             Table(5, dense=D)])
    cgroups = -(-C // lanes)
    for lane in range(lanes):
        img = cfg.weight_image(lane)
        assert img.dtype == np.int64
        want = [int(K[cg * lanes + lane, ci, ky, kx]) if cg * lanes + lane < C else 0
                for ci in range(Cin) for ky in range(KH) for kx in range(KW) for cg in range(cgroups)]
        neurons = cfg.lane_neurons(lane)
        want += [int(D[r, nn]) if nn >= 0 else 0 for r in range(5) for nn in neurons]
        assert img.tolist() == want
    assert cfg.weights is None  # a kernel table: no dense matrix


def test_weights_argument_still_builds_a_dense_core():
    W = np.arange(-6, 6).reshape(4, 3)
    cfg = CoreConfig(name="d", kind="if", n=3, n_in=3, weights=W, bias_R=1, theta=5)
    assert cfg.weights.dtype == np.int64 and np.array_equal(cfg.weights, W)
    assert np.array_equal(cfg.tables[0].dense, W[:3]) and np.array_equal(cfg.bias, W[3:])
    assert cfg.column_abs_sums().tolist() == np.abs(W[:3]).sum(0).tolist()
