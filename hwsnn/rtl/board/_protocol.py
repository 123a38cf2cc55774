"""The host link's frame protocol (docs/board.md): constants and payload layouts, shared by the
board's RTL and the host driver. Plain Python, no hardware.

Frame (both directions), every multi-byte field little-endian:

    SOF 0xA5 | version u8 | type u8 | length u16 | payload (length bytes) | crc u16

crc: CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over version,
type, length and payload (not SOF). Host -> board: RUN (one sample as source events), INFO.
Board -> host: RESULT, INFO_REPLY, ERROR (code u8, detail u8).

RUN payload: steps u16, then 3-byte records: index u16 (bit 15 set: end of the current
step's events) and value i8. Records list the events step by step; the steps after the last
end-of-step record get no events.
"""

__all__ = ["SOF", "VERSION", "TYPES", "ERRORS", "ERROR_NAMES", "HEADER", "RECORD", "MARKER",
           "result_length", "INFO_LENGTH", "ERROR_LENGTH"]

SOF = 0xA5
VERSION = 1
HEADER = 5          # SOF, version, type, length (2)
RECORD = 3          # one event record of a RUN payload
MARKER = 0x8000     # index bit that ends a step

TYPES = {"RUN": 0x01, "INFO": 0x02, "RESULT": 0x81, "INFO_REPLY": 0x82, "ERROR": 0xEE}

# error codes the board sends (ERROR payload: code, detail)
ERRORS = {
    "CRC": 1,          # the frame's CRC is wrong (detail: 0)
    "LENGTH": 2,       # length not 2 + 3k, more records than the buffer holds, or INFO with a payload
    "VERSION": 3,      # version byte is not VERSION (detail: the version received)
    "CUT": 4,          # the line went idle inside a frame (detail: bytes received of the frame, mod 256)
    "STRAY": 5,        # a byte outside a frame that is not SOF (detail: the byte): noise, trailing bytes
    "TYPE": 6,         # unknown frame type (detail: the type)
    "FRAMING": 7,      # a UART byte without its stop bit
    "PAYLOAD": 8,      # steps 0 or above the limit, more step ends than steps, index >= inputs, value out of range
    "OVERRUN": 9,      # bytes came faster than the board read them (its receive FIFO overflowed)
}
ERROR_NAMES = {v: k for k, v in ERRORS.items()}

ERROR_LENGTH = 2
INFO_LENGTH = 16   # design id u32, inputs u16, outputs u16, spiking cores u8, records u16, steps u16, x_bits u8, gap bits u16


def result_length(n_out, n_spiking):
    """RESULT payload: flags u8 (bit 0: a register overflowed), cycles u32, steps u16, class u16,
    readout V i32 x n_out, spikes u32 x n_spiking (per spiking core, in core order)."""
    return 1 + 4 + 2 + 2 + 4 * n_out + 4 * n_spiking
