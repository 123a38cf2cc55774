"""Signed two's-complement bit widths: every integer register and array in the IR has one."""

import numpy as np

__all__ = ["int_range", "fits", "bits_for", "dtype_for"]


def int_range(bits):
    """Inclusive range of a signed `bits`-wide two's-complement integer."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def fits(values, bits):
    values = np.asarray(values)
    if values.size == 0:
        return True
    lo, hi = int_range(bits)
    return int(values.min()) >= lo and int(values.max()) <= hi


def bits_for(lo, hi):
    """Smallest signed width holding every integer in [lo, hi] (at least 2)."""
    bits = 2
    while not (int_range(bits)[0] <= lo and hi <= int_range(bits)[1]):
        bits += 1
    return bits


def dtype_for(bits):
    """Smallest numpy signed integer dtype that holds `bits`."""
    for dt in (np.int8, np.int16, np.int32, np.int64):
        if bits <= np.iinfo(dt).bits:
            return np.dtype(dt)
    raise ValueError(f"bit width must be at most 64, not {bits}")
