"""Memory layouts of the neuron core that change RAM use, not behaviour: the input-row table
computed from the row index instead of stored (`row_decode`), and the weight and S memories
packed across lanes (`pack_lanes`). Each is checked against the golden simulator at every
step, with the stored-table / per-lane layout beside it on the same inputs."""

import numpy as np
import pytest

from hwsnn import ir, sim
from hwsnn.mappings.rtl import lower
from hwsnn.mappings.rtl._run import run_lowered
from hwsnn.rtl._rows import _row_entries, row_decode
from hwsnn.rtl._synth import memories

from rtlsim import need_sim

pytestmark = pytest.mark.rtl


def pow2_residual_net(seed, C=(2, 3, 5), H=8):
    """in -> a (3x3) -> b (3x3/2 + 1x1/2 shortcut from a) -> c (3x3 + identity Scale of b) ->
    d (sum-pool 2 -> 3x3) -> flatten -> dense readout; H, W powers of two, so the row tables
    compute."""
    rng = np.random.default_rng(seed)
    c0, c1, c2 = C

    def stbif(shape):
        theta = int(rng.integers(2, 5)) * 2
        return ir.STBIF(shape, theta=theta, v0=theta // 2, bias=rng.integers(-theta, theta + 1, (shape[0], 1, 1)),
                        bias_R=2, s_min=-1, s_max=4, v_bits=16, s_bits=5)

    def conv(cout, cin, k, stride=1, pad=None):
        pad = k // 2 if pad is None else pad
        return ir.Conv2d(rng.integers(-3, 4, (cout, cin, k, k)), stride=(stride, stride), padding=(pad, pad))

    h2 = H // 2
    nodes = {"in": ir.Source((c0, H, H), R=2, x_bits=5),
             "a.w": conv(c1, c0, 3), "a": stbif((c1, H, H)),
             "b.w": conv(c2, c1, 3, 2), "b.s": conv(c2, c1, 1, 2, 0), "b": stbif((c2, h2, h2)),
             "c.w": conv(c2, c2, 3), "c.skip": ir.Scale(np.arange(1, c2 + 1).reshape(-1, 1, 1)),
             "c": stbif((c2, h2, h2)),
             "d.p": ir.SumPool2d(2, 2), "d.w": conv(c2, c2, 3), "d": stbif((c2, h2 // 2, h2 // 2)),
             "flat": ir.Flatten(), "fc": ir.Dense(rng.integers(-3, 4, (4, c2 * (h2 // 2) ** 2))),
             "out": ir.Readout((4,))}
    E = ir.Edge
    edges = [E("in", "a.w"), E("a.w", "a"), E("a", "b.w"), E("b.w", "b"), E("a", "b.s"), E("b.s", "b"),
             E("b", "c.w"), E("c.w", "c"), E("b", "c.skip"), E("c.skip", "c"),
             E("c", "d.p"), E("d.p", "d.w"), E("d.w", "d"), E("d", "flat"), E("flat", "fc"), E("fc", "out")]
    g = ir.Graph(nodes, edges, name=f"pow2-residual-{seed}")
    ir.verify(g)
    return g


def test_row_decode_rebuilds_every_row_of_pow2_kernel_tables():
    """Every kernel core of the network computes its row table (no 'rows' memory), and the
    lookups give each valid row's stored fields exactly."""
    net = lower(pow2_residual_net(0), lanes=2)
    conv = [c for c in net.cores if c.conv is not None]
    assert len(conv) == 4
    for cfg in conv:
        dec = row_decode(cfg)
        assert dec is not None, cfg.name
        assert "rows" not in [name for name, _, _ in memories(cfg)]
        entries, _ = _row_entries(cfg)
        for t, (tab, info) in enumerate(zip(cfg.tables, dec[1])):
            off, n_rows, bh, bw, base, (vy, ky0, y0, ya), (vx, kx0, x0, xa) = info
            for i in range(n_rows):  # the bit-field arithmetic of the hardware, in Python
                c, h, w = i >> (bh + bw), (i >> bw) & ((1 << bh) - 1), i & ((1 << bw) - 1)
                e = entries[off + i]
                assert e[0] == (vy[h] and vx[w])
                if e[0]:
                    assert e[2:] == (t, base[c] + ya[h] + xa[w], ky0[h], y0[h], kx0[w], x0[w])
        cfg.row_rom = True
        assert row_decode(cfg) is None and "rows" in [name for name, _, _ in memories(cfg)]


def test_packed_memories_replace_the_per_lane_ones():
    net = lower(pow2_residual_net(0), lanes=3, pack_lanes=True)
    for cfg in net.cores:
        names = [name for name, _, _ in memories(cfg)]
        assert "w" in names and not any(n.startswith("w") and n != "w" for n in names)
        assert ("s" in names) == (cfg.kind != "readout")
        width = {name: w for name, _, w in memories(cfg)}
        assert width["w"] == cfg.w_bits * cfg.lanes


def check(net, x, steps, simulator):
    trace = run_lowered(net, x, steps, sim=simulator)
    golden = sim.run(trace.graph, x, steps)
    cmp = sim.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values >= sum(a.size for _, _, a in golden.variables()) > 0
    return trace


@pytest.mark.parametrize("simulator,lanes", [("icarus", 3), ("verilator", 2)])
def test_computed_rows_and_packed_lanes_equal_golden_every_step(simulator, lanes):
    """Lanes 3 leaves padding lanes in the last channel group (5 channels), whose packed S
    fields must keep their value; the same inputs on the stored-row, per-lane layout give
    the same records (and cycle counts: the layouts change memories, not timing)."""
    need_sim(simulator)
    g = pow2_residual_net(1)
    x = np.random.default_rng(1).integers(0, 16, (2, 2, 8, 8))
    packed = lower(g, lanes=lanes, pack_lanes=True)
    assert all(row_decode(c) is not None for c in packed.cores if c.conv is not None)
    a = check(packed, x, 12, simulator)
    plain = lower(g, lanes=lanes)
    for c in plain.cores:
        c.row_rom = True
    b = check(plain, x, 12, simulator)
    assert a.rtl["cycles"] == b.rtl["cycles"] and a.rtl["sops"] == b.rtl["sops"] > 0
