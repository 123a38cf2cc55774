"""Generated Verilog testbench around `hwsnn_network` for whole-batch runs without Python per
clock cycle.

The wrapper `hwsnn_tb` makes its own clock (`always #5`; on Verilator BURST cycles per time
slot, see `tb_verilog`), reads a command file at run time
(`+stim=FILE`, so one build serves every input) and writes every monitor record to
`+mon=FILE` and one line of counters per command to `+stat=FILE`. cocotb only starts it and
waits for `done`.

Command file: one 64-bit hex word per line, opcode in bits [63:60]:
  1 INIT  pulse `init`, wait until idle
  2 STEP  pulse `step`, then feed the EVENT words that follow on `inp` (the last one has the
          `last` bit set), wait until idle
  3 EVENT bits [PW-1:0] are the `inp` payload (index | value << ib | last << (ib + xb))
  4 DUMP  pulse `dump` (only when the network has it), wait until idle
  5 END   raise `done`
  6 HOLD  as STEP, with `hold` set during the `step` pulse (Ca-LIF: every core keeps its state)
  7 SETTLE while `settled` is low: a step with no events (the `last` marker only); every such
          step ends with its own marker record and stat line (at most `+settle_limit=N` steps)
Every command waits at most `+limit=N` cycles (else `err` and `done`). HOLD and SETTLE need
the network's `hold`, `settling`, `settle_core` and `settled` ports (else `err`).

Stat line: cmd, cycles, then per core sops and acc_cycles (the counters after the command);
with the settle ports, then `settling`, `settle_core`, `settled` as they were before the command
(for SETTLE: before each of its steps). With `+quiet` only the stat lines are written (the
monitor file stays empty: a pass that only counts steps and cycles).

Monitor record: flags nibble (8: end of a command, 4: dump record, 2: ovf), core (2
nibbles), index, V, S, y (sign-extended to whole nibbles), and u when some core has a `u`
monitor (CUBA-LIF). After every command one marker
record (flags 8) is written; its fields are zero. Text (Icarus): one fixed-width hex line per
record. Binary (`binary=True`, Verilator): the record zero-extended to 128 bits, written as
two little-endian uint64 (low, high) by DPI-C (hwsnn_records.cpp), because a formatted
$fwrite per record cost Verilator about as much as 20% of the whole simulation.
"""

import re
from pathlib import Path

import numpy as np

__all__ = ["network_ports", "tb_verilog", "RecordFormat", "OP", "parse_records", "VERILATOR_ARGS", "RECORDS_CPP"]

# Verilator: --timing for the wrapper's clock; cocotb asks for --public-flat-rw (every signal
# visible, which stops most optimisation): only `done` and `err` need to be, and they say so.
# --x-assign fast: an X assignment (none in Amaranth's Verilog) may take any value, not a
# randomised one (by hand, digits net: C++ -O3 in _runner.py 1.14x over -Os, 1.27x with the
# x-assign and x-initial fast flags; x-initial is left at its default)
# -fno-table: no lookup tables for small decoders (-6% instructions on the digits net, callgrind)
VERILATOR_ARGS = ("--timing", "--no-public-flat-rw", "-O3", "--x-assign", "fast", "-fno-table")
BURST = 32  # clock cycles per time slot of the Verilator wrapper (tb_verilog); 2 * BURST < 100

RECORDS_CPP = Path(__file__).with_name("hwsnn_records.cpp")  # the DPI-C side of binary records
OP = {"INIT": 1, "STEP": 2, "EVENT": 3, "DUMP": 4, "END": 5, "HOLD": 6, "SETTLE": 7}
_PORT = re.compile(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):0\]\s*)?(\\?[\w.$]+)\s*;")


def network_ports(verilog, top="hwsnn_network"):
    """{port: (direction, width)} of module `top` in Amaranth's Verilog."""
    start = verilog.index(f"module {top}(")
    end = verilog.index("endmodule", start)
    ports = {}
    for line in verilog[start:end].splitlines():
        m = _PORT.match(line)
        if m:
            ports[m.group(3)] = (m.group(1), int(m.group(2)) + 1 if m.group(2) else 1)
    return ports


def _lines(items, per_line=16):
    """`items` joined by commas, `per_line` to a line: Verilator stops at 40000 preprocessor
    tokens on one line, which one line per network port list reached at ~650 cores."""
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(rows)


def _nibbles(bits):
    return -(-bits // 4)


class RecordFormat:
    """Field widths (in hex digits) of a monitor record for a network of `ncores` cores;
    `binary`: the records are 128-bit words (DPI-C, Verilator), else hex lines."""

    def __init__(self, ports, ncores, binary=False):
        self.ncores, self.binary = ncores, bool(binary)
        self.dump = "dump" in ports and all(f"mon{k}__dump" in ports for k in range(ncores))
        width = lambda f: max(ports[f"mon{k}__{f}"][1] for k in range(ncores))  # noqa: E731
        self.fields = [("flags", 1), ("core", 2), ("index", _nibbles(width("index"))),
                       ("v", _nibbles(width("v"))), ("s", _nibbles(width("s"))), ("y", 1)]
        u_widths = [ports[f"mon{k}__u"][1] for k in range(ncores) if f"mon{k}__u" in ports]
        if u_widths:  # CUBA-LIF cores show u too (0 in the records of other cores)
            self.fields.append(("u", _nibbles(max(u_widths))))
        self.signed = {"v", "s", "y", "u"}
        self.digits = sum(n for _, n in self.fields)
        if self.binary and self.digits > 32:
            raise ValueError(f"a monitor record of {self.digits} hex digits does not fit 128 bits")

    def verilog_record(self, k, ports):
        """The concatenation written for core k's monitor."""
        parts = []
        flags = ["1'b0", f"mon{k}__dump" if self.dump else "1'b0", f"mon{k}__ovf", "1'b0"]
        parts.append("{" + ", ".join(flags) + "}")
        parts.append(f"8'd{k}")
        for name, nib in self.fields[2:]:
            port = f"mon{k}__{name}"
            if port not in ports:
                parts.append(f"{4 * nib}'d0")
                continue
            w = ports[port][1]
            pad = 4 * nib - w
            if pad == 0:
                parts.append(port)
            elif name in self.signed:
                parts.append(f"{{{{{pad}{{{port}[{w - 1}]}}}}, {port}}}")
            else:
                parts.append(f"{{{pad}'d0, {port}}}")
        return "{" + ", ".join(parts) + "}"


def tb_verilog(ports, ncores, binary=False, burst_clock=False):
    """Verilog text of module `hwsnn_tb` for a `hwsnn_network` with these `ports` (`binary`:
    records by DPI-C, see the module docstring). `burst_clock` (Verilator): BURST clock cycles
    per time slot, the clock toggled by a non-blocking assignment to itself (one NBA pass per
    half period, no coroutine per edge), then `#1`; instead of a 50% duty clock with a delay
    per edge (`always #5`). The design sees the same rising edges, so nothing it computes
    changes; Verilator's delay scheduler and cocotb's VPI loop, paid per time slot, are paid
    once per BURST cycles (digits net at 16 lanes: 1.36 G instructions for 4 images, against
    1.77 G with one time slot per cycle; same records). 2 * BURST stays below Verilator's
    default convergence limit of 100 NBA passes per time slot."""
    fmt = RecordFormat(ports, ncores, binary)
    clock = ("  reg [6:0] half = 7'd0;  // half periods left in this time slot\n"
             "  always @(clk or half) if (half != 7'd0) begin half <= half - 7'd1; clk <= ~clk; end\n"
             f"  initial forever #1 half = 7'd{2 * BURST};"
             if burst_clock else "  always #5 clk = ~clk;")
    pw = ports["inp__payload"][1]
    driven = {"clk", "rst", "init", "step", "inp__valid", "inp__payload", "out__ready"}
    if fmt.dump:
        driven.add("dump")
    settle = all(p in ports for p in ("hold", "settling", "settle_core", "settled"))
    if settle:
        driven.add("hold")
    decl, conn = [], []
    for name, (d, w) in ports.items():
        rng = f"[{w - 1}:0] " if w > 1 else ""
        if name in driven:
            conn.append(f".{name}({name})")
        elif d == "input":
            conn.append(f".{name}({w}'d0)")  # an input this bench does not know: held at 0
        else:
            decl.append(f"  wire {rng}{name};")
            conn.append(f".{name}({name})")
    pad = 128 - 4 * fmt.digits
    if binary:  # DPI-C: hwsnn_rec(high, low) of the record zero-extended to 128 bits
        record = lambda r: f"begin rec = {{{pad}'d0, {r}}}; hwsnn_rec(rec[127:64], rec[63:0]); end"  # noqa: E731
    else:
        record = lambda r: f"$fwrite(fd_mon, \"%h\\n\", {r});"  # noqa: E731
    mon_writes = "\n".join(f"      if (mon{k}__valid) {record(fmt.verilog_record(k, ports))}" for k in range(ncores))
    stat_fmt = " ".join(["%0d"] * (2 + 2 * ncores + (3 if settle else 0)))
    stat_args = _lines(["cmd", "cyc"] + [f"sops{k}, acc_cycles{k}" for k in range(ncores)]
                       + (["sc_ing", "sc_core", "sc_done"] if settle else []))
    scw = ports["settle_core"][1] if settle else 1
    no_settle = ("begin $display(\"HWSNN_TB: HOLD/SETTLE, but the network has no settle ports\"); "
                 "err <= 1'b1; done <= 1'b1; state <= HALT; end")
    settle_ops = ("""        4'd6: begin step <= 1'b1; hold <= 1'b1; cmd <= 4'd6; cyc <= 32'd1; seen_busy <= 1'b0; state <= FEED; end
        4'd7: begin cmd <= 4'd7; nsettle <= 32'd0; state <= SCHK; end""" if settle else
                  f"        4'd6, 4'd7: {no_settle}")
    settle_latch = ("    if (state == FETCH || state == SCHK) begin sc_ing <= settling; sc_core <= settle_core; "
                    "sc_done <= settled; end  // before the command (step)" if settle else "")
    settle_state = ("""      SCHK: begin  // SETTLE: one more step unless the network has settled
        if (settled) state <= FETCH;
        else if (nsettle >= settle_limit) begin
          $display("HWSNN_TB: command %0d (SETTLE) not settled after %0d steps, settle_core %0d", count, nsettle, settle_core);
          err <= 1'b1; done <= 1'b1; state <= HALT;
        end else begin step <= 1'b1; cyc <= 32'd1; seen_busy <= 1'b0; nsettle <= nsettle + 32'd1; state <= FEED; end
      end""" if settle else "")
    marker = record(f"{{4'h8, {4 * (fmt.digits - 1)}'d0}}")
    if binary:
        rec_decl = ("  import \"DPI-C\" function int hwsnn_rec_open(input string path);\n"
                    "  import \"DPI-C\" function void hwsnn_rec(input longint hi, input longint lo);\n"
                    "  import \"DPI-C\" function int hwsnn_rec_close();\n"
                    "  reg [127:0] rec;\n  string mon_path;")
        rec_open = ('    if (!$value$plusargs("mon=%s", mon_path)) begin $display("HWSNN_TB: no +mon"); boot_err = 1\'b1; end\n'
                    '    else if (hwsnn_rec_open(mon_path) == 0) begin $display("HWSNN_TB: cannot open +mon"); boot_err = 1\'b1; end')
        rec_close = ('if (hwsnn_rec_close() == 0) begin $display("HWSNN_TB: writing the records failed"); '
                     'err <= 1\'b1; end')
        fd_mon_ok = ""
    else:
        rec_decl = ""
        rec_open = ('    if (!$value$plusargs("mon=%s", path)) begin $display("HWSNN_TB: no +mon"); boot_err = 1\'b1; end\n'
                    '    fd_mon = $fopen(path, "w");')
        rec_close = "$fflush(fd_mon);"
        fd_mon_ok = "fd_mon == 0 || "
    dump_op = ("        4'd4: begin dump <= 1'b1; cmd <= 4'd4; cyc <= 32'd1; seen_busy <= 1'b0; state <= PULSE; end"
               if fmt.dump else
               "        4'd4: begin $display(\"HWSNN_TB: DUMP, but the network has no dump port\"); err <= 1'b1; done <= 1'b1; state <= HALT; end")
    return f"""// generated by hwsnn.rtl.sim._fast_tb: do not edit
`timescale 1ns/1ps
module hwsnn_tb(output reg done /*verilator public_flat_rw*/ = 1'b0,
                output reg err /*verilator public_flat_rw*/ = 1'b0);
  reg clk = 1'b0;
{clock}
  reg rst = 1'b1, init = 1'b0, step = 1'b0, dump = 1'b0, hold = 1'b0, inp__valid = 1'b0, out__ready = 1'b1;
  reg [{pw - 1}:0] inp__payload = {pw}'d0;
{chr(10).join(decl)}
  hwsnn_network dut({_lines(conn)});

  localparam RESET = 3'd0, FETCH = 3'd1, PULSE = 3'd2, FEED = 3'd3, WAITB = 3'd4, HALT = 3'd5, SCHK = 3'd6;
  reg [2:0] state = RESET;
  reg [3:0] cmd = 4'd0;
  reg [63:0] word = 64'd0;
  reg [31:0] cyc = 32'd0, limit = 32'd100000, count = 32'd0, nsettle = 32'd0, settle_limit = 32'd100000;
  reg sc_ing = 1'b0, sc_done = 1'b0;
  reg [{scw - 1}:0] sc_core = {scw}'d0;
  reg [3:0] rst_cnt = 4'd0;
  reg seen_busy = 1'b0, boot_err = 1'b0, quiet = 1'b0;
  reg [8*1024-1:0] path;
  integer fd_stim, fd_mon, fd_stat, rc;
{rec_decl}

  initial begin
    if (!$value$plusargs("limit=%d", limit)) limit = 32'd100000;
    if (!$value$plusargs("settle_limit=%d", settle_limit)) settle_limit = 32'd100000;
    quiet = $test$plusargs("quiet");
    if (!$value$plusargs("stim=%s", path)) begin $display("HWSNN_TB: no +stim"); boot_err = 1'b1; end
    fd_stim = $fopen(path, "r");
{rec_open}
    if (!$value$plusargs("stat=%s", path)) begin $display("HWSNN_TB: no +stat"); boot_err = 1'b1; end
    fd_stat = $fopen(path, "w");
    if (fd_stim == 0 || {fd_mon_ok}fd_stat == 0) begin $display("HWSNN_TB: cannot open a file"); boot_err = 1'b1; end
  end

  task next_word;
    begin
      rc = $fscanf(fd_stim, "%h\\n", word);
      if (rc != 1) begin $display("HWSNN_TB: the command file ended early"); err <= 1'b1; done <= 1'b1; state <= HALT; word = 64'd0; end
    end
  endtask

  always @(posedge clk) begin
    init <= 1'b0; step <= 1'b0; dump <= 1'b0; hold <= 1'b0;
{settle_latch}
    if (!rst && !quiet) begin
{mon_writes}
    end
    if (state != FETCH && state != RESET && state != HALT) begin
      cyc <= cyc + 32'd1;
      if (cyc > limit) begin
        $display("HWSNN_TB: command %0d (op %0d) still busy after %0d cycles", count, cmd, cyc);
        err <= 1'b1; done <= 1'b1; state <= HALT;
      end
    end
    case (state)
      RESET: begin
        rst_cnt <= rst_cnt + 4'd1;
        if (boot_err) begin err <= 1'b1; done <= 1'b1; state <= HALT; end
        else if (rst_cnt == 4'd3) begin rst <= 1'b0; state <= FETCH; end
      end
      FETCH: begin
        next_word;
        case (word[63:60])
        4'd1: begin init <= 1'b1; cmd <= 4'd1; cyc <= 32'd1; seen_busy <= 1'b0; state <= PULSE; end
        4'd2: begin step <= 1'b1; cmd <= 4'd2; cyc <= 32'd1; seen_busy <= 1'b0; state <= FEED; end
{dump_op}
{settle_ops}
        4'd5: begin {rec_close} $fflush(fd_stat); done <= 1'b1; state <= HALT; end
        default: if (state != HALT) begin $display("HWSNN_TB: bad command word %h", word); err <= 1'b1; done <= 1'b1; state <= HALT; end
        endcase
      end
      PULSE: state <= WAITB;  // the network is busy from the cycle after the pulse
      FEED: begin
        if (busy) seen_busy <= 1'b1;
        if (!inp__valid) begin
          if (cmd == 4'd7) inp__payload <= {{1'b1, {pw - 1}'d0}};  // SETTLE: no events, the marker
          else begin next_word; inp__payload <= word[{pw - 1}:0]; end
          inp__valid <= 1'b1;
        end else if (inp__ready) begin  // taken at this edge
          if (inp__payload[{pw - 1}]) begin inp__valid <= 1'b0; state <= WAITB; end
          else begin next_word; inp__payload <= word[{pw - 1}:0]; end
        end
      end
      WAITB: begin
        if (busy) seen_busy <= 1'b1;
        else if (seen_busy) begin
          $fwrite(fd_stat, "{stat_fmt}\\n", {stat_args});
          if (!quiet) {marker}
          count <= count + 32'd1;
          state <= (cmd == 4'd7) ? SCHK : FETCH;
        end
      end
{settle_state}
      default: ;
    endcase
  end
endmodule
"""


_HEX = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX[_c] = 10 + _i


def _binary_nibbles(path, fmt):
    """(records, digits) nibbles of a binary monitor file, most significant first."""
    raw = np.fromfile(path, dtype="<u8")
    if raw.size % 2:
        raise ValueError(f"monitor file {path}: {raw.size * 8} bytes is not a whole number of 16-byte records")
    lo, hi = raw[0::2], raw[1::2]
    nib = np.empty((lo.size, fmt.digits), dtype=np.uint8)
    for j in range(fmt.digits):
        pos = 4 * (fmt.digits - 1 - j)
        word, pos = (hi, pos - 64) if pos >= 64 else (lo, pos)
        nib[:, j] = (word >> np.uint64(pos)) & np.uint64(15)
    bits = 4 * fmt.digits  # the bits above the record are zero
    extra = (hi >> np.uint64(bits - 64)) if bits > 64 else (hi | (lo >> np.uint64(bits) if bits < 64 else hi))
    if extra.any():
        raise ValueError(f"monitor file {path}: a record has bits set above its {bits}")
    return nib


def parse_records(path, fmt):
    """{field: int64 array} of every record in the monitor file (signed fields sign-extended)."""
    if fmt.binary:
        nib = _binary_nibbles(path, fmt)
    else:
        raw = np.fromfile(path, dtype=np.uint8)
        width = fmt.digits + 1
        if raw.size % width or (raw.size and not (raw[width - 1::width] == ord("\n")).all()):
            raise ValueError(f"monitor file {path}: records are not {fmt.digits} hex digits per line")
        nib = _HEX[raw.reshape(-1, width)[:, :fmt.digits]]
        if (nib == 255).any():
            raise ValueError(f"monitor file {path}: a record holds a non-hex character (x or z?)")
    out, col = {}, 0
    for name, n in fmt.fields:
        val = np.zeros(nib.shape[0], dtype=np.int64)
        for j in range(n):
            val = (val << 4) | nib[:, col + j]
        col += n
        if name in fmt.signed:
            val = np.where(val >> (4 * n - 1), val - (1 << (4 * n)), val)
        out[name] = val
    return out
