"""The simulation path's read-write memories (V, S, P, u of every core) are `hwsnn_ram` instances
without initial contents (hwsnn.rtl._rom), not Amaranth memories with one inline init line per
word: the Verilog holds no init of them, the records equal golden at every step (V, S, y, and
the memories read back) on Icarus (an unwritten word reads X there: an X in a record fails the
parse) and Verilator, they are bit-identical (cycles and counters too) to the inline-init
design, a RAM filled with ones before INIT changes nothing (INIT writes every word a used read
sees), and a RAM whose read is not transparent for its write is caught."""

import re

import numpy as np
import pytest

from hwsnn import backends, ir, sim
from hwsnn.mappings.rtl import lower, run, run_lowered
from hwsnn.mappings.rtl._calif import run_calif
from hwsnn.rtl import Network
from hwsnn.rtl import _rom
from hwsnn.rtl.sim import _network_bench
from hwsnn.rtl.sim._runner import write_verilog

from cubanets import random_cuba_graph, random_cuba_inputs
from rtlsim import need_sim, small_stbif_net, values_compared

pytestmark = pytest.mark.rtl

STEPS = 8


def stbif_net():
    """Source(6) -> Dense -> ST-BIF (per-neuron theta, v0 in 1..3: V = v0 matters) -> Dense -> Readout."""
    return small_stbif_net(5, 1, "ram-net")


def calif_net(T=3):
    """Source -> Dense -> Ca-LIF (its P memory) -> Dense -> Readout."""
    rng = np.random.default_rng(7)
    nodes = {"in": ir.Source((6,), R=2, x_bits=5),
             "fc1": ir.Dense(rng.integers(-5, 6, (5, 6))),
             "a": ir.CaLIF((5,), theta=rng.integers(3, 7, 5), leak=rng.integers(-1, 2, 5), T=T, s_max=6,
                           gate=True, v_bits=12, s_bits=6),
             "fc2": ir.Dense(rng.integers(-3, 4, (3, 5))),
             "out": ir.Readout((3,), v_bits=16)}
    edges = [ir.Edge("in", "fc1"), ir.Edge("fc1", "a"), ir.Edge("a", "fc2"), ir.Edge("fc2", "out")]
    g = ir.Graph(nodes, edges, name="ram-calif")
    ir.verify(g)
    return g


def inputs():
    return np.random.default_rng(4).integers(1, 16, (2, 6))  # every input nonzero: every row is used


def private_build(monkeypatch, tmp_path):
    """Builds go to tmp_path: a design altered by a test never enters the shared build cache."""
    monkeypatch.setattr(_network_bench, "BUILD_ROOT", tmp_path)


def check_golden(trace, graph, x, steps):
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values == values_compared(graph, steps, len(x))
    return cmp


def inline_inits(text):
    """Names of the memories the Verilog gives inline initial values (`initial begin` blocks
    of `name[i] = value;` lines, as Amaranth writes a Memory's init)."""
    blocks = re.findall(r"^\s*initial begin\n(.*?)^\s*end\b", text, re.M | re.S)
    return {name for b in blocks for name in re.findall(r"^\s*(\S+)\[\d+\] = ", b, re.M)}


# name: (lanes, pack_lanes): per-lane V and S with G = 3 (not a power of two) and G = 1
# (every event hits address 0 right after the last one wrote it), packed S
NETS = {"lanes2": (2, False), "lanes8": (8, False), "packed": (2, True)}


def test_rom_mode_verilog_has_no_inline_memory_init(tmp_path):
    for name, (lanes, pack) in NETS.items():
        net = lower(stbif_net(), lanes=lanes, pack_lanes=pack)
        text, sources = _network_bench.network_verilog(net, tmp_path / name / "net.v")
        assert (tmp_path / name / "mem" / "hwsnn_ram.v") in sources
        inits = inline_inits(text)
        assert not inits and not re.search(r"\binitial\b", text), (name, inits)
        rams = re.findall(r"hwsnn_ram #\(.*?\) (\w+) \(", text, re.S)
        core = net.cores[0]  # STBIF: V and S per lane, or V per lane and one packed S
        want = {f"v_mem{ln}" for ln in range(core.lanes)} | (
            {"s_mem"} if pack else {f"s_mem{ln}" for ln in range(core.lanes)})
        assert want <= set(rams), (name, rams)
        assert "storage" in rams  # the FIFOs' storage too (RamFIFO)
        assert not re.search(r"^\s*reg\b.*\]\s*;", text, re.M)  # no memory array left in the network
    # synthesis and `hwsnn rtl emit` (no rom) keep Amaranth's memories, V with its v0 image inline
    inline = write_verilog(Network(net.cores), "hwsnn_network", tmp_path / "inline.v")
    assert "hwsnn_ram" not in inline and {"v_mem0", "s_mem", "storage"} <= inline_inits(inline)  # the packed net


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("name", list(NETS))
def test_stbif_records_equal_golden(name, simulator):
    need_sim(simulator)
    lanes, pack = NETS[name]
    graph, x = stbif_net(), inputs()
    net = lower(graph, lanes=lanes, pack_lanes=pack)
    check_golden(run_lowered(net, x, STEPS, sim=simulator), graph, x, STEPS)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_calif_p_memory_records_equal_golden(simulator):
    need_sim(simulator)
    graph, x, T = calif_net(), inputs(), 3
    trace = run_calif(graph, x, T, sim=simulator, lanes=2)
    golden = sim.run(trace.graph, x, T)
    assert golden.steps > T, "no settle phase: a weak test"
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert cmp.compared_values == values_compared(graph, golden.steps, len(x))


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_cuba_u_memory_records_equal_golden(simulator):
    need_sim(simulator)
    graph = random_cuba_graph(1, family="dense", depth=2)
    x = random_cuba_inputs(graph, 2, 1)
    trace = run(graph, x, 12, sim=simulator, lanes=2)
    golden = sim.run(graph.with_delays(1), x, 12)
    assert any((golden.U[k] != 0).any() for k in graph.neurons), "u always 0: a weak test"
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.mismatches == 0, str(cmp.first)
    assert {f"{k}.U" for k in graph.neurons} <= set(cmp.per_variable)


def same_records(a, b, net):
    """Every record of two runs equal: V, S, y of every node, cycles and counters."""
    for n in net.nodes:
        for var in ("V", "S", "y"):
            va, vb = getattr(a, var).get(n), getattr(b, var).get(n)
            assert (va is None) == (vb is None) and (va is None or np.array_equal(va, vb)), (n, var)
    for k in ("steps", "samples", "cycles", "sops", "cores"):  # cores: sops, acc cycles per step
        assert a.rtl[k] == b.rtl[k], k
    assert a.final_readback.keys() == b.final_readback.keys()
    for n, rb in b.final_readback.items():  # V, S read back after the last step
        assert rb.keys() == a.final_readback[n].keys()
        assert all(np.array_equal(a.final_readback[n][v], rb[v]) for v in rb), n


@pytest.mark.parametrize("name", ["lanes8", "packed"])
def test_records_bit_identical_to_the_inline_init_design(name, monkeypatch, tmp_path):
    need_sim("verilator")
    private_build(monkeypatch, tmp_path)
    lanes, pack = NETS[name]
    graph, x = stbif_net(), inputs()
    net = lower(graph, lanes=lanes, pack_lanes=pack)
    ram = run_lowered(net, x, STEPS, sim="verilator")
    real = _rom.RomFiles
    monkeypatch.setattr(_rom, "RomFiles", lambda folder: real(folder, rams=False))  # the design as before
    monkeypatch.setattr(_network_bench, "BUILD_ROOT", tmp_path / "inline")
    inline = run_lowered(net, x, STEPS, sim="verilator")
    text = (next((tmp_path / "inline" / "rtl-fast").iterdir()) / "hwsnn_network.v").read_text()
    assert "hwsnn_ram #(" not in text and "v_mem0" in inline_inits(text)  # the inline design ran
    same_records(ram, inline, net)
    check_golden(ram, graph, x, STEPS)


@pytest.mark.parametrize("name", ["lanes8", "packed"])
def test_ram_filled_with_ones_before_init_changes_nothing(name, monkeypatch, tmp_path):
    """Every word a used read sees was written by INIT (or later): a RAM that starts all ones
    (Verilator starts it at 0, Icarus at X) gives the same records. lanes8: depth 2, one
    group, so word 1 is never written."""
    need_sim("verilator")
    lanes, pack = NETS[name]
    graph, x = stbif_net(), inputs()
    net = lower(graph, lanes=lanes, pack_lanes=pack)
    plain = run_lowered(net, x, STEPS, sim="verilator")
    ones = _rom.RAM_VERILOG.replace("  always @(posedge clk) if (w_en)", """  integer i;
  initial for (i = 0; i < DEPTH; i = i + 1) mem[i] = {WIDTH{1'b1}};
  always @(posedge clk) if (w_en)""", 1)
    assert ones != _rom.RAM_VERILOG
    private_build(monkeypatch, tmp_path)
    monkeypatch.setattr(_rom, "RAM_VERILOG", ones)
    filled = run_lowered(net, x, STEPS, sim="verilator")
    assert "{WIDTH{1'b1}}" in next((tmp_path / "rtl-fast").iterdir()).joinpath("mem", "hwsnn_ram.v").read_text()
    same_records(filled, plain, net)


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_a_read_port_not_transparent_for_the_write_is_caught(simulator, monkeypatch, tmp_path):
    need_sim(simulator)
    private_build(monkeypatch, tmp_path)
    faulty = _rom.RAM_VERILOG.replace("if (TRANSPARENT && w_en", "if (1'b0 && w_en", 1)
    assert faulty != _rom.RAM_VERILOG
    monkeypatch.setattr(_rom, "RAM_VERILOG", faulty)
    graph, x = stbif_net(), inputs()
    net = lower(graph, lanes=8)  # one address: back-to-back events read the word just written
    trace = run_lowered(net, x, STEPS, sim=simulator)
    cmp = backends.compare(sim.run(trace.graph, x, STEPS), trace, "rtl")
    assert cmp.mismatches > 0
    assert (cmp.first.node, cmp.first.variable) == (net.nodes[0], "V")
