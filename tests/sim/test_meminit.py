"""Memory contents moved from `initial` blocks to `$readmemh` files keep every value."""

import numpy as np
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from hwsnn.sim.benches._meminit import externalize_memory_init
from hwsnn.sim.benches._runner import write_verilog


class _Design(wiring.Component):
    addr: In(5)
    out: Out(15)

    def __init__(self, init_a, init_b):
        self.init_a, self.init_b = init_a, init_b
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        a = m.submodules.a = Memory(shape=signed(6), depth=len(self.init_a), init=self.init_a)
        b = m.submodules.b = Memory(shape=9, depth=len(self.init_b), init=self.init_b)
        ra, rb = a.read_port(), b.read_port()
        m.d.comb += [ra.addr.eq(self.addr), rb.addr.eq(self.addr),
                     self.out.eq(ra.data.as_unsigned() | (rb.data << 6))]
        return m


def _read_hex(path, depth, bits):
    """$readmemh semantics: words in order, `@addr` moves the address; the rest stays 0."""
    out, addr = np.zeros(depth, dtype=np.int64), 0
    for tok in path.read_text().split():
        if tok.startswith("@"):
            addr = int(tok[1:], 16)
            continue
        out[addr] = int(tok, 16)
        addr += 1
    return out


def test_every_value_moves_to_its_file(tmp_path):
    rng = np.random.default_rng(0)
    init_a = [int(v) for v in rng.integers(-32, 32, 40)]
    init_b = [0] * 7 + [int(v) for v in rng.integers(0, 512, 20)]
    text = write_verilog(_Design(init_a, init_b), "top", tmp_path / "top.v")
    assert text.count("initial begin") >= 2
    new, count = externalize_memory_init(text, tmp_path)
    assert count == 2 and "initial begin" not in new and new.count("$readmemh") == 2
    files = sorted(tmp_path.glob("mem*.hex"))
    got = [_read_hex(f, d, b) for f, d, b in zip(files, (40, 27), (6, 9))]
    want_a = np.array(init_a) & 63  # two's complement in 6 bits
    assert any(np.array_equal(g, want_a) for g in got)
    assert any(np.array_equal(g, np.array(init_b)) for g in got)
    # a block that is not a plain memory initialisation stays as it is
    odd = "  initial begin\n    x = 1'h0;\n  end\n"
    assert externalize_memory_init(odd, tmp_path) == (odd, 0)
