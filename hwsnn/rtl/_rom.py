"""Read-only memories loaded from files at simulation start (`$readmemh`), not inline.

Amaranth writes a memory's initial contents into the Verilog one word per line (yosys's
`$meminit`, built bit by bit in Python): a torchvision ResNet-18 (11.5 M weight words) became
325 MB of Verilog that Verilator could not build. With a `RomFiles` folder a core's read-only
memories (weights, the input-row ROM, theta / v0 / bias) become instances of `hwsnn_rom`
(`ROM_VERILOG`), each loading a `.hex` image from that folder; the simulator gets
`RomFiles.module_path()` among its sources. The read port is the one Amaranth emits for a
`Memory.read_port()` without transparency: `always @(posedge clk) if (en) data <= mem[addr];`,
the data register without an initial value, the address `ceil(log2(depth))` bits wide.

Image files: `$readmemh` text, one word per line, two's complement, ceil(width / 4) hex
digits (the format of `hwsnn.rtl.emit_network`'s `mem/*.hex`), `depth` lines (zero past the
image, as Amaranth pads an init). Written atomically, with numpy (no Python loop per word).

Read-write memories (the cores' V, S, P, u; the spike FIFOs' storage) are then instances of
`hwsnn_ram` (`RAM_VERILOG`, `ram_ports`): no initial contents (the core's INIT writes every
address before a read whose data is used; a FIFO reads only words it wrote), one synchronous
write port and one synchronous read port, transparent for that write port by default, as
Amaranth emits a `Memory` with `read_port(transparent_for=(wr,))`:
`if (en) begin data <= mem[addr]; if (w_en && addr == w_addr) data <= w_data; end`.
"""

import os
from pathlib import Path

import numpy as np
from amaranth.hdl import ClockSignal, Instance, Signal, signed, unsigned

from hwsnn.errors import MappingError

__all__ = ["RAM_VERILOG", "ROM_VERILOG", "RomFiles", "hex_image", "ram_ports", "rom_read_port"]

ROM_VERILOG = """// hwsnn_rom: a synchronous read-only memory loaded by $readmemh (hwsnn.rtl._rom)
module hwsnn_rom #(parameter WIDTH = 1, parameter DEPTH = 2, parameter ABITS = 1, parameter FILE = "")
                  (input clk, input en, input [ABITS-1:0] addr, output reg [WIDTH-1:0] data);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  integer fd;
  initial begin  // a missing file must stop the run (a simulator only warns, the memory reads 0 or X)
    fd = $fopen(FILE, "r");
    if (fd == 0) begin $display("hwsnn_rom: cannot open %0s", FILE); $finish; end
    $fclose(fd);
    $readmemh(FILE, mem);
  end
  always @(posedge clk) if (en) data <= mem[addr];
endmodule
"""

RAM_VERILOG = """// hwsnn_ram: a synchronous read-write memory without initial contents (hwsnn.rtl._rom)
module hwsnn_ram #(parameter WIDTH = 1, parameter DEPTH = 2, parameter ABITS = 1, parameter TRANSPARENT = 1)
                  (input clk, input w_en, input [ABITS-1:0] w_addr, input [WIDTH-1:0] w_data,
                   input r_en, input [ABITS-1:0] r_addr, output reg [WIDTH-1:0] r_data);
  reg [WIDTH-1:0] mem [0:DEPTH-1];
  always @(posedge clk) if (w_en) mem[w_addr] <= w_data;
  always @(posedge clk) if (r_en) begin
    r_data <= mem[r_addr];
    if (TRANSPARENT && w_en && r_addr == w_addr) r_data <= w_data;  // the word written this cycle
  end
endmodule
"""

_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _lane_bits(values, bits, depth):
    """(depth, bits) uint8: bit i of each word (two's complement, zero past the image)."""
    a = np.zeros(depth, dtype=np.int64)
    v = np.asarray(values, dtype=np.int64).reshape(-1)[:depth]
    a[:len(v)] = v
    u = a.view(np.uint64) & np.uint64((1 << bits) - 1)
    return ((u[:, None] >> np.arange(bits, dtype=np.uint64)[None, :]) & np.uint64(1)).astype(np.uint8)


def hex_image(lanes, bits, depth):
    """`$readmemh` bytes of a memory of `depth` words whose word holds `lanes` (a list of
    integer arrays, each at most 62 bits wide) side by side: lane l in bits l*bits ..
    (l+1)*bits - 1. One lane: a plain memory of `bits`-bit words."""
    if not 1 <= bits <= 62:
        raise MappingError(f"ROM image: a lane must be 1 to 62 bits wide, not {bits}")
    width = bits * len(lanes)
    digits = -(-width // 4)
    mat = np.zeros((depth, 4 * digits), dtype=np.uint8)
    for lane, values in enumerate(lanes):
        mat[:, lane * bits:(lane + 1) * bits] = _lane_bits(values, bits, depth)
    nib = mat.reshape(depth, digits, 4) @ np.array([1, 2, 4, 8], dtype=np.uint8)  # low nibble first
    text = np.empty((depth, digits + 1), dtype=np.uint8)
    text[:, :digits] = _DIGITS[nib[:, ::-1]]
    text[:, digits] = ord("\n")
    return text.tobytes()


def _wide_hex(words, width, depth):
    """`$readmemh` bytes of Python-int words of any width (the input-row ROM)."""
    digits, mask = -(-width // 4), (1 << width) - 1
    words = list(words)[:depth] + [0] * max(0, depth - len(words))
    return "".join(f"{int(w) & mask:0{digits}x}\n" for w in words).encode()


def _write_atomic(path, data):
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class RomFiles:
    """The folder of a design's ROM images. `add` writes one image and returns its absolute
    path (two memories never share a name: a second image under a name already taken with
    other contents is an error). `rams`: the read-write memories (the cores' V, S, P, u, the
    FIFOs' storage) are `hwsnn_ram` instances (False: Amaranth memories with inline initial
    values, the design as before)."""

    def __init__(self, folder, rams=True):
        self.folder = Path(folder).resolve()
        self.rams = rams
        self._written = {}

    def module_path(self):
        """The `hwsnn_rom` module's Verilog, written into the folder: add it to the sources."""
        path = self.folder / "hwsnn_rom.v"
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, ROM_VERILOG.encode())
        return path

    def ram_module_path(self):
        """The `hwsnn_ram` module's Verilog, written into the folder: add it to the sources."""
        path = self.folder / "hwsnn_ram.v"
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, RAM_VERILOG.encode())
        return path

    def add(self, stem, data):
        name = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in str(stem)) + ".hex"
        if name in self._written and self._written[name] != hash(data):
            raise MappingError(f"ROM image '{name}' written twice with different contents "
                               f"(two memories of the same name in {self.folder})")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        _write_atomic(path, data)
        self._written[name] = hash(data)
        return path

    def files(self):
        return sorted(self.folder / n for n in self._written)


class _RomPort:
    """addr, en, data of one `hwsnn_rom` instance (the interface of a Memory read port)."""

    def __init__(self, m, key, width, depth, path, is_signed):
        abits = max(1, (depth - 1).bit_length())
        self.addr, self.en = Signal(abits, name=f"{key}_addr"), Signal(name=f"{key}_en")
        self.data = Signal(signed(width) if is_signed else unsigned(width), name=f"{key}_data")
        m.submodules[key] = Instance("hwsnn_rom", p_WIDTH=width, p_DEPTH=depth, p_ABITS=abits,
                                     p_FILE=str(path), i_clk=ClockSignal("sync"), i_en=self.en,
                                     i_addr=self.addr, o_data=self.data)


def rom_read_port(m, rom, key, stem, lanes, bits, depth, is_signed=True, wide_words=None):
    """A read port of a read-only memory of `depth` words: `lanes` (integer arrays) side by
    side, `bits` each (see `hex_image`); or `wide_words` (Python ints, `bits` wide) as they
    are. From the image file `stem` in `rom` (a RomFiles)."""
    if wide_words is not None:
        data, width = _wide_hex(wide_words, bits, depth), bits
    else:
        data, width = hex_image(lanes, bits, depth), bits * len(lanes)
    return _RomPort(m, key, width, depth, rom.add(stem, data), is_signed)


class _Port:
    """addr, en, data of one side of an `hwsnn_ram` (the interface of a Memory port)."""

    def __init__(self, key, side, abits, shape):
        self.addr, self.en = Signal(abits, name=f"{key}_{side}_addr"), Signal(name=f"{key}_{side}_en")
        self.data = Signal(shape, name=f"{key}_{side}_data")


def ram_ports(m, key, shape, depth, transparent=True):
    """(read, write) ports of an `hwsnn_ram` instance `key` of `depth` words of `shape` (no
    initial contents); the read is transparent for the write unless `transparent` is False."""
    abits = max(1, (depth - 1).bit_length())
    rd, wr = _Port(key, "r", abits, shape), _Port(key, "w", abits, shape)
    m.submodules[key] = Instance("hwsnn_ram", p_WIDTH=rd.data.shape().width, p_DEPTH=depth, p_ABITS=abits,
                                 p_TRANSPARENT=int(bool(transparent)), i_clk=ClockSignal("sync"),
                                 i_w_en=wr.en, i_w_addr=wr.addr, i_w_data=wr.data,
                                 i_r_en=rd.en, i_r_addr=rd.addr, o_r_data=rd.data)
    return rd, wr
