"""cocotb side of `--port sim`: bridges a host's socket to the board top's UART pins.

Loaded by the simulator as a top-level module (cocotb and the standard library only). The
host (hwsnn.board.SimPort) sends commands; the bench answers each, and simulated time runs
only inside a command, so a run is deterministic:
  W <n> <bytes>  the wrapper's host UART drives the bytes on `rx`, 8N1, back to back; ack
  R <n> <t>      wait until n bytes came out of `tx` (the wrapper samples each bit at its
                 middle) or t bit times passed; reply with them
  I <t>          keep `rx` idle (high) for t bit times; ack
  C              reply with the simulated time in ns
  Q              end the test
Every message is op (1 byte), two u32 little-endian arguments, then the data of W. Replies:
u32 length + bytes.
"""

import socket
import struct

import cocotb
from cocotb.triggers import First, Timer, ValueChange

try:
    from cocotb.simtime import get_sim_time
except ImportError:  # cocotb < 2.1
    from cocotb.utils import get_sim_time


def _recv(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("host closed the link")
        buf += chunk
    return buf


class _Board:
    """The bench's side of the wrapper's host UART (board_tb in _simlink.py)."""

    def __init__(self, dut, bit_ns, rbuf):
        self.dut, self.bit, self.rbuf, self.pos = dut, bit_ns, rbuf, 0

    async def write(self, data):
        dut = self.dut
        for i, b in enumerate(data):
            dut.hbuf[i].value = b
        dut.hlen.value = len(data)
        want = 1 - int(dut.hreq.value)
        dut.hreq.value = want
        while int(dut.hack.value) != want:
            await ValueChange(dut.hack)

    async def read(self, n, t_bits):
        dut = self.dut
        deadline = get_sim_time("ns") + t_bits * self.bit
        while int(dut.rcount.value) - self.pos < n:
            left = deadline - get_sim_time("ns")
            if left <= 0:
                break
            await First(ValueChange(dut.rcount), Timer(int(left), unit="ns"))
        got = bytes(int(dut.rbuf[(self.pos + k) % self.rbuf].value)
                    for k in range(min(n, int(dut.rcount.value) - self.pos)))
        self.pos += len(got)
        return got


@cocotb.test()
async def link(dut):
    sock_path = cocotb.plusargs["sock"]
    bit_ns = int(cocotb.plusargs["bit_ns"])
    await Timer(20 * bit_ns, unit="ns")  # reset and a quiet line first
    board = _Board(dut, bit_ns, int(cocotb.plusargs["rbuf"]))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    try:
        while True:
            op, a, b = struct.unpack("<cII", _recv(sock, 9))
            if op == b"W":
                await board.write(_recv(sock, a))
                reply = b""
            elif op == b"R":
                reply = await board.read(a, b)
            elif op == b"I":
                await Timer(a * bit_ns, unit="ns")
                reply = b""
            elif op == b"C":
                reply = struct.pack("<QI", int(get_sim_time("ns")), int(dut.rferr.value))
            elif op == b"Q":
                sock.sendall(struct.pack("<I", 0))
                break
            else:
                raise ValueError(f"board bench: unknown command {op!r}")
            sock.sendall(struct.pack("<I", len(reply)) + reply)
    finally:
        sock.close()
    if int(dut.rferr.value):
        raise AssertionError(f"{int(dut.rferr.value)} bytes from tx had no stop bit")
