"""Host driver: sends samples to a board (or its simulation) and reads the answers.

A port has `write(bytes)`, `read(n, timeout_bits)` (fewer bytes on timeout) and `idle(bits)`;
`SerialPort` (pyserial) and `hwsnn.rtl.board.SimBoard` both do. Timeouts are in bit times of
the link, so the same code paces a real line and a simulated one.
"""

import time

import numpy as np

from hwsnn.errors import BackendError, BackendUnavailableError

from ._frames import TYPE_NAMES, Answer, crc16, frame, header_length, parse_payload, run_payload

__all__ = ["Host", "SerialPort", "BAD_FRAMES", "bad_frame"]


class SerialPort:
    """A real serial port (pyserial), 8N1 at `baud`."""

    def __init__(self, device, baud):
        try:
            import serial
        except ImportError:
            raise BackendUnavailableError("a serial port needs pyserial: pip install 'hwsnn[board]'") from None
        try:
            self._s = serial.Serial(device, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=0.05)
        except (serial.SerialException, OSError) as exc:
            raise BackendError(f"serial port '{device}' cannot be opened: {exc}") from None
        self.baud = baud

    def write(self, data):
        self._s.write(bytes(data))
        self._s.flush()

    def read(self, n, timeout_bits):
        self._s.timeout = timeout_bits / self.baud + 0.2  # + USB latency
        return self._s.read(n)

    def idle(self, bits):
        time.sleep(bits / self.baud + 0.02)

    def close(self):
        self._s.close()


class Host:
    """Frames over `port`. `gap_bits`: the board's idle time that ends a frame or a discard;
    `run_bits`: the longest a sample may take, in bit times (answer timeout)."""

    def __init__(self, port, gap_bits, run_bits=1 << 22):
        self.port, self.gap_bits, self.run_bits = port, int(gap_bits), int(run_bits)

    def read_answer(self, timeout_bits):
        """The next answer frame, or None when no byte came within `timeout_bits`."""
        head = self.port.read(1, timeout_bits)
        if not head:
            return None
        head += self.port.read(4, 64)
        n = header_length(head)
        rest = self.port.read(n + 2, 10 * (n + 2) + 64)
        if len(rest) != n + 2:
            raise BackendError(f"board: answer cut after {len(rest)} of {n + 2} bytes")
        body = bytes(head[1:]) + rest[:n]
        got = rest[n] | (rest[n + 1] << 8)
        if crc16(body) != got:
            raise BackendError(f"board: answer CRC 0x{got:04x}, computed 0x{crc16(body):04x}")
        return Answer(TYPE_NAMES[head[2]], bytes(rest[:n]))

    def answers_until_quiet(self, n_out=None, n_spiking=None):
        """Every answer until the line stays quiet for two gaps (parsed)."""
        out = []
        while True:
            a = self.read_answer(2 * self.gap_bits + 100)
            if a is None:
                return out
            out.append(parse_payload(a, n_out, n_spiking))

    def info(self):
        self.port.write(frame("INFO"))
        a = self.read_answer(self.run_bits)
        if a is None:
            raise BackendError("board: no answer to INFO (is the bitstream loaded, the baud rate right?)")
        return parse_payload(a)

    def run(self, events, steps, n_out, n_spiking):
        """Result (or BoardError) of one sample: `events` (step, index, value) rows."""
        self.port.write(frame("RUN", run_payload(events, steps)))
        a = self.read_answer(self.run_bits)
        if a is None:
            raise BackendError("board: no answer to a RUN frame")
        return parse_payload(a, n_out, n_spiking)

    def send_raw(self, data):
        self.port.write(bytes(data))


def bad_frame(kind, good, rng):
    """Bytes of a bad frame of `kind` made from the good frame `good`, and whether the host
    must leave the line idle afterwards (a cut frame)."""
    b = bytearray(good)
    if kind == "crc":
        b[-1] ^= 0x01
    elif kind == "length":
        b[3], b[4] = 0xFF, 0xFF        # longer than any buffer
    elif kind == "version":
        b[1] ^= 0x80
    elif kind == "cut":
        b = b[: max(6, len(b) // 2)]
    elif kind == "trailing":
        b += bytes(rng.integers(0, 256, 3, dtype=np.uint8))
    elif kind == "noise":
        b = bytearray(rng.integers(0, 256, 24, dtype=np.uint8))
    elif kind == "type":
        b[2] = 0x55
    else:
        raise BackendError(f"bad frame kind must be one of {BAD_FRAMES}, not {kind!r}")
    return bytes(b)


BAD_FRAMES = ("crc", "length", "version", "cut", "trailing", "noise", "type")
