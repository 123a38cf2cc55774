"""Host side of the frame protocol (hwsnn.rtl.board._protocol, docs/board.md): encode RUN and
INFO frames, decode the board's answers. The CRC is Python's `binascii.crc_hqx` with init
0xFFFF (CRC-16/CCITT-FALSE), an implementation independent of the board's RTL."""

import binascii
import struct
from dataclasses import dataclass

import numpy as np

from hwsnn.errors import BackendError
from hwsnn.rtl.board._protocol import (ERROR_NAMES, HEADER, INFO_LENGTH, MARKER, SOF, TYPES, VERSION,
                                       result_length)

__all__ = ["crc16", "frame", "run_payload", "Answer", "Result", "Info", "BoardError", "parse_payload",
           "TYPE_NAMES"]

TYPE_NAMES = {v: k for k, v in TYPES.items()}


def crc16(data):
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def frame(ftype, payload=b"", version=VERSION):
    """SOF | version | type | length u16 | payload | crc u16 (little-endian)."""
    body = struct.pack("<BBH", version, TYPES[ftype] if isinstance(ftype, str) else ftype, len(payload)) + bytes(payload)
    return bytes([SOF]) + body + struct.pack("<H", crc16(body))


def run_payload(events, steps):
    """RUN payload of one sample: `events` (step, index, value) int rows sorted by step; the
    records list each step's events and end it with a marker up to the last step with events."""
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 3)
    if steps < 1 or steps > 0xFFFF:
        raise BackendError(f"board: steps must be in 1..65535, not {steps}")
    out = bytearray(struct.pack("<H", steps))
    last = int(ev[:, 0].max()) if len(ev) else -1
    row = 0
    for t in range(last + 1):
        while row < len(ev) and ev[row, 0] == t:
            _, i, v = (int(a) for a in ev[row])
            if not (0 <= i < MARKER and -128 <= v <= 127):
                raise BackendError(f"board: event (index {i}, value {v}) does not fit a record (u15, i8)")
            out += struct.pack("<Hb", i, v)
            row += 1
        out += struct.pack("<Hb", MARKER, 0)
    return bytes(out)


@dataclass
class Result:
    flags: int
    cycles: int
    steps: int
    cls: int
    readout: np.ndarray     # int64 (n_out,)
    spikes: np.ndarray      # int64 (n_spiking,)


@dataclass
class Info:
    design_id: int
    inputs: int
    outputs: int
    spiking: int
    records: int
    max_steps: int
    x_bits: int
    gap_bits: int


@dataclass
class BoardError:
    code: int
    detail: int

    @property
    def name(self):
        return ERROR_NAMES.get(self.code, f"code {self.code}")


@dataclass
class Answer:
    ftype: str
    payload: bytes


def parse_payload(answer, n_out=None, n_spiking=None):
    """Result, Info or BoardError from an Answer (BackendError on a malformed payload)."""
    p = answer.payload
    if answer.ftype == "ERROR":
        if len(p) != 2:
            raise BackendError(f"board: ERROR payload must be 2 bytes, not {len(p)}")
        return BoardError(p[0], p[1])
    if answer.ftype == "INFO_REPLY":
        if len(p) != INFO_LENGTH:
            raise BackendError(f"board: INFO payload must be {INFO_LENGTH} bytes, not {len(p)}")
        return Info(*struct.unpack("<IHHBHHBH", p))
    if answer.ftype == "RESULT":
        want = result_length(n_out, n_spiking)
        if len(p) != want:
            raise BackendError(f"board: RESULT payload must be {want} bytes for {n_out} outputs and "
                               f"{n_spiking} spiking cores, not {len(p)}")
        flags, cycles, steps, cls = struct.unpack_from("<BIHH", p)
        v = np.frombuffer(p, dtype="<i4", count=n_out, offset=9).astype(np.int64)
        s = np.frombuffer(p, dtype="<u4", count=n_spiking, offset=9 + 4 * n_out).astype(np.int64)
        return Result(flags, cycles, steps, cls, v, s)
    raise BackendError(f"board: unexpected answer type {answer.ftype}")


def header_length(head):
    """Payload length of an answer header (5 bytes), BackendError when it is not one."""
    if len(head) != HEADER or head[0] != SOF:
        raise BackendError(f"board: answer must start with SOF 0x{SOF:02x}, got {bytes(head).hex() or 'nothing'}")
    if head[1] != VERSION:
        raise BackendError(f"board: answer has version {head[1]}, the host speaks {VERSION}")
    if head[2] not in TYPE_NAMES:
        raise BackendError(f"board: answer has unknown type 0x{head[2]:02x}")
    return struct.unpack_from("<H", head, 3)[0]
