"""The simulation path loads the read-only memories (weights, theta, v0) from `$readmemh` image
files (hwsnn.rtl._rom), not from inline initial values: the files hold the IR's images, a run
on them is bit-exact, and a changed word in a file (same build, no rebuild) or a missing file
makes the run fail; so the file-loaded path cannot silently read zeros."""

import numpy as np
import pytest

from hwsnn import backends, sim
from hwsnn.errors import BackendError
from hwsnn.mappings.rtl import lower, run_lowered
from hwsnn.rtl._rom import ROM_VERILOG, hex_image

from rtlsim import need_sim, small_stbif_net

pytestmark = pytest.mark.rtl


def small_net():
    """Source(6) -> Dense -> ST-BIF (per-neuron theta and v0: ROMs too) -> Dense -> Readout."""
    return small_stbif_net(3, 0, "rom-net")


def read_hex(path, bits):
    """Words of a $readmemh file as signed `bits`-bit integers."""
    words = [int(line, 16) for line in path.read_text().split()]
    return [w - (1 << bits) if w >> (bits - 1) else w for w in words]


def test_hex_image_packs_lanes_two_complement():
    # lane 0 in the low bits, lane 1 above it: -1 (4 bits: f) and 2 -> 0x2f; 5, -8 -> 0x85
    assert hex_image([[-1, 5], [2, -8]], 4, 3) == b"2f\n85\n00\n"
    assert hex_image([[-3]], 6, 2) == b"3d\n00\n"
    assert "$readmemh(FILE, mem)" in ROM_VERILOG


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_rom_files_are_the_images_and_a_changed_word_is_caught(simulator, tmp_path, monkeypatch):
    need_sim(simulator)
    from hwsnn.rtl.sim import _network_bench
    monkeypatch.setattr(_network_bench, "BUILD_ROOT", tmp_path)  # the corrupted build stays here
    graph = small_net()
    net = lower(graph, lanes=2)
    x = np.random.default_rng(4).integers(1, 16, (2, 6))  # every input nonzero: every row is used
    steps = 8
    trace = run_lowered(net, x, steps, sim=simulator)
    golden = sim.run(trace.graph, x, steps)
    cmp = backends.compare(golden, trace, "rtl")
    assert cmp.ok and cmp.compared_values > 0
    mem = tmp_path / "rtl-fast"
    (build,) = list(mem.iterdir())
    core = net.cores[0]
    for lane in range(core.lanes):  # each file holds the core's weight image, word by word
        path = build / "mem" / f"{core.name}.w{lane}.hex"
        assert read_hex(path, core.w_bits) == [int(v) for v in core.weight_image(lane)]
    for node in ("a",):  # per-neuron theta and v0 are files too
        assert (build / "mem" / f"{node}.theta0.hex").exists() and (build / "mem" / f"{node}.v0_0.hex").exists()

    # word 0 of lane 0 (input row 0 -> neuron 0) changed in the file: same build, other result
    path = build / "mem" / f"{core.name}.w0.hex"
    text = path.read_text().split("\n")
    bits = core.w_bits
    was = int(text[0], 16)
    now = (was + 3) % (1 << bits)
    text[0] = f"{now:0{len(text[0])}x}"
    path.write_text("\n".join(text))
    trace = run_lowered(net, x, steps, sim=simulator)
    assert list(mem.iterdir()) == [build]  # no rebuild: the file is read when the simulation starts
    cmp = backends.compare(sim.run(trace.graph, x, steps), trace, "rtl")
    assert cmp.mismatches > 0
    f = cmp.first
    assert (f.node, f.step, f.neuron, f.variable) == (net.nodes[0], 1, (0,), "V")

    path.unlink()  # a missing image is an error, not a memory of zeros (or X)
    with pytest.raises(BackendError):
        run_lowered(net, x, steps, sim=simulator)
