"""Memory layouts of the neuron core that change RAM use, not behaviour: the input-row table
computed from the row index instead of stored (`row_decode`), and the weight and S memories
packed across lanes (`pack_lanes`). Each is checked against the golden simulator at every
step, with the stored-table / per-lane layout beside it on the same inputs."""

import numpy as np
import pytest

from hwsnn import backends, ir, sim
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
    cmp = backends.compare(golden, trace, "rtl")
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


def lane_constant_net(lanes, seed=0):
    """in -> a: theta and v0 one value per lane (neuron n has theta 3 + n % lanes), so every
    lane holds constants that differ between lanes; -> b: theta and v0 per neuron at random
    (memories); -> c: one theta and v0 for all (one constant)."""
    rng = np.random.default_rng(seed)
    na, nb = 3 * lanes, 2 * lanes + 1
    nodes = {"in": ir.Source((6,), R=2, x_bits=5),
             "fa": ir.Dense(rng.integers(-5, 6, (na, 6)), w_bits=4),
             "a": ir.STBIF((na,), theta=3 + np.arange(na) % lanes, v0=np.arange(na) % lanes // 2,
                           s_min=-2, s_max=5, v_bits=12, s_bits=4),
             "fb": ir.Dense(rng.integers(-4, 5, (nb, na)), w_bits=4),
             "b": ir.STBIF((nb,), theta=rng.integers(2, 9, nb), v0=rng.integers(0, 2, nb),
                           s_min=0, s_max=6, v_bits=12, s_bits=4),
             "fc": ir.Dense(rng.integers(-4, 5, (5, nb)), w_bits=4),
             "c": ir.IF((5,), theta=5, v0=2, s_max=6, v_bits=10, s_bits=4),
             "fo": ir.Dense(rng.integers(-3, 4, (3, 5)), w_bits=3),
             "out": ir.Readout((3,), v_bits=14)}
    chain = ["in", "fa", "a", "fb", "b", "fc", "c", "fo", "out"]
    g = ir.Graph(nodes, [ir.Edge(u, v) for u, v in zip(chain, chain[1:])], name=f"lane-const-{lanes}")
    ir.verify(g)
    return g


def test_parameters_one_value_per_lane_are_constants():
    """theta / v0 memories only where a lane's real neurons differ (padding slots do not count)."""
    net = lower(lane_constant_net(4), lanes=4)
    cores = dict(zip(net.nodes, net.cores))
    names = {node: [name for name, _, _ in memories(c)] for node, c in cores.items()}
    assert not any(n.startswith(("theta", "v0_")) for n in names["a"] + names["c"])
    assert [cores["a"].param_constant(lane, "theta") for lane in range(4)] == [3, 4, 5, 6]
    b = cores["b"]
    varied = [lane for lane in range(4) if len(set(b.param_image(lane, "theta")[b.lane_neurons(lane) >= 0])) > 1]
    assert varied and all(f"theta{lane}" in names["b"] for lane in varied)
    assert all(b.param_constant(lane, "theta") is None for lane in varied)
    # b's lane 0 holds 3 neurons, lanes 1-3 two and a padding slot: the padding is ignored
    assert b.lane_neurons(1)[-1] == -1


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_lane_constants_equal_golden_every_step(simulator):
    """Constants that differ by lane (chosen by a Mux chain), per-neuron memories and one
    constant, in one network: every V, S, y at every step equals golden."""
    need_sim(simulator)
    g = lane_constant_net(4, seed=3)
    x = np.random.default_rng(3).integers(-16, 16, (3, 6))
    trace = check(lower(g, lanes=4), x, 12, simulator)
    assert (trace.y["a"] != 0).any() and (trace.y["b"] != 0).any()
    if simulator == "icarus":  # the per-cycle bench reads every signal from Python: no X on any lane
        slow = run_lowered(lower(g, lanes=4), x, 12, sim=simulator, fast=False)
        for node in trace.V:
            assert np.array_equal(slow.V[node], trace.V[node]), node


class _WatchedCore:
    """A NeuronCore that keeps its per-lane memory ports (built in `elaborate`) for the test."""

    @staticmethod
    def make(cfg):
        from hwsnn.rtl._core import NeuronCore

        class Core(NeuronCore):
            def _memories(self, m):
                self.lane_ports = super()._memories(m)
                return self.lane_ports
        return Core(cfg, counters=False)


@pytest.mark.parametrize("pack", [False, True])
def test_an_idle_core_reads_no_memory(pack):
    """Reads are enabled only when their data is used: after reset, after `init` and after a
    whole accumulate and fire phase, an idle core (busy low, no command) has every read port
    of every lane disabled (Amaranth's simulator, so the ports can be looked at); while it
    accumulates and fires, some read is enabled (the check can fail)."""
    from amaranth.sim import Simulator
    from hwsnn.rtl import default_core
    cfg = default_core(4)
    cfg.pack_lanes = pack
    core = _WatchedCore.make(cfg)
    seen = {"idle": [], "busy": 0}

    def read_ens():
        return [port.en for p in core.lane_ports for key, port in p.items() if key.endswith("r")
                and isinstance(port.en, type(core.busy))]

    async def bench(ctx):
        async def idle(n):
            for _ in range(n):
                await ctx.tick()
                if not ctx.get(core.busy):
                    seen["idle"].append(max(ctx.get(e) for e in read_ens()))

        async def until_idle(limit):  # counts the busy cycles with some read enabled
            for _ in range(limit):
                if ctx.get(core.busy) and any(ctx.get(e) for e in read_ens()):
                    seen["busy"] += 1
                await ctx.tick()
                if not ctx.get(core.busy):
                    break

        async def command(sig, **extra):
            ctx.set(sig, 1)
            for k, v in extra.items():
                ctx.set(getattr(core, k), v)
            await ctx.tick()
            ctx.set(sig, 0)
            ctx.set(core.out.ready, 1)
            await until_idle(5000)
        await idle(5)
        await command(core.init)
        await idle(5)
        ctx.set(core.inp.valid, 1)
        ctx.set(core.inp.payload.index, 3)
        ctx.set(core.inp.payload.value, 1)
        ctx.set(core.inp.payload.last, 0)
        ctx.set(core.acc, 1)
        await ctx.tick()
        ctx.set(core.acc, 0)
        await ctx.tick()
        ctx.set(core.inp.payload.last, 1)
        await until_idle(200)
        ctx.set(core.inp.valid, 0)
        await idle(5)
        await command(core.fire, fire_mode=0)
        await idle(5)

    sim = Simulator(core)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen["idle"]) >= 15 and max(seen["idle"]) == 0
    assert seen["busy"] > 0
