"""cocotb side of `--port sim`: bridges a host's socket to the board top's UART pins.

Loaded by the simulator as a top-level module (cocotb and the standard library only). The
host (hwsnn.board.SimPort) sends commands; the bench answers each, and simulated time runs
only inside a command, so a run is deterministic:
  W <n> <bytes>  drive the bytes on `rx`, 8N1 at the bit time (+bit_ns), back to back; ack
  R <n> <t>      wait until n bytes came out of `tx` or t bit times passed; reply with them
  I <t>          keep `rx` idle (high) for t bit times; ack
  C              reply with the simulated time in ns
  Q              end the test
Every message is op (1 byte), two u32 little-endian arguments, then the data of W. Replies:
u32 length + bytes.
"""

import os
import socket
import struct

import cocotb
from cocotb.triggers import Event, FallingEdge, First, Timer

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
    def __init__(self, dut, bit_ns):
        self.dut, self.bit = dut, bit_ns
        self.out, self.event, self.tx_framing = bytearray(), Event(), 0

    async def watch_tx(self):
        dut, bit = self.dut, self.bit
        while True:
            await FallingEdge(dut.tx)
            await Timer(bit // 2, unit="ns")
            if int(dut.tx.value):
                continue  # a glitch, not a start bit
            byte = 0
            for i in range(8):
                await Timer(bit, unit="ns")
                byte |= int(dut.tx.value) << i
            await Timer(bit, unit="ns")
            if not int(dut.tx.value):
                self.tx_framing += 1
            self.out.append(byte)
            self.event.set()

    async def write(self, data):
        dut, bit = self.dut, self.bit
        for b in data:
            for level in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
                dut.rx.value = level
                await Timer(bit, unit="ns")

    async def read(self, n, t_bits):
        deadline = get_sim_time("ns") + t_bits * self.bit
        while len(self.out) < n:
            left = deadline - get_sim_time("ns")
            if left <= 0:
                break
            self.event.clear()
            await First(self.event.wait(), Timer(int(left), unit="ns"))
        got = bytes(self.out[:n])
        del self.out[:n]
        return got


@cocotb.test()
async def link(dut):
    sock_path = cocotb.plusargs["sock"]
    bit_ns = int(cocotb.plusargs["bit_ns"])
    dut.rx.value = 1
    await Timer(20 * bit_ns, unit="ns")  # reset and a quiet line first
    board = _Board(dut, bit_ns)
    cocotb.start_soon(board.watch_tx())
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
                reply = struct.pack("<QI", int(get_sim_time("ns")), board.tx_framing)
            elif op == b"Q":
                sock.sendall(struct.pack("<I", 0))
                break
            else:
                raise ValueError(f"board bench: unknown command {op!r}")
            sock.sendall(struct.pack("<I", len(reply)) + reply)
    finally:
        sock.close()
    if os.environ.get("HWSNN_BOARD_STRICT_TX") and board.tx_framing:
        raise AssertionError(f"{board.tx_framing} bytes from tx had no stop bit")
