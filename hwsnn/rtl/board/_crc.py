"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB first, no final xor) of one byte, as
Amaranth logic: eight shift-and-xor stages unrolled. The host checks it with Python's
`binascii.crc_hqx` (a separate implementation of the same CRC)."""

from amaranth.hdl import Cat

__all__ = ["crc16_update", "CRC_INIT", "POLY"]

CRC_INIT = 0xFFFF
POLY = 0x1021


def crc16_update(crc, byte):
    """The 16-bit value after feeding `byte` (8 bits, MSB first) into `crc`."""
    c = [crc[i] for i in range(16)]
    for i in range(8):
        fb = c[15] ^ byte[7 - i]
        c = [fb if j == 0 else (c[j - 1] ^ fb if (POLY >> j) & 1 else c[j - 1]) for j in range(16)]
    return Cat(*c)
