"""The scalar parameters of every node type: their kind and documented range.

One table serves the file loader (JSON values) and `verify` (in-memory nodes), so a param is
checked the same way wherever it comes from. Integers must be real integers (Python `int` or
a numpy integer), never `bool`, float or string; flags must be `bool`. docs/ir-format.md
("Loader rules") lists the same ranges.
"""

import math

import numpy as np

__all__ = ["PARAMS", "param_error", "is_int", "show", "MAX_V_BITS", "MAX_STEPS", "MAX_DIM",
           "MAX_RANK", "MAX_NEURONS"]

MAX_V_BITS = 48        # the golden simulator keeps state in float64: exact below 2^53
MAX_W_BITS = 32        # weights and inputs: the Lava synapse carries them in 32 bits
MAX_STEPS = 1 << 20    # R, T, bias_R: release windows and step counts
MAX_DIM = 1 << 16      # one axis of a shape, a kernel, stride, padding or group count
MAX_RANK = 8           # axes of a node shape or an array
MAX_NEURONS = 1 << 24  # values in one node's output (neurons of a layer, synapse outputs)


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def show(value, limit=60):
    """repr of a value read from a file, on one line and at most `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Int:
    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def error(self, v):
        if is_int(v) and self.lo <= v <= self.hi:
            return None
        return f"must be an integer in [{self.lo}, {self.hi}], not {show(v)}"


class Flag:
    def error(self, v):
        return None if isinstance(v, (bool, np.bool_)) else f"must be true or false, not {show(v)}"


class Choice:
    def __init__(self, options):
        self.options = options

    def error(self, v):
        return None if isinstance(v, str) and v in self.options else \
            f"must be one of {list(self.options)}, not {show(v)}"


class Ints:
    """A list (file) or tuple (memory) of integers in [lo, hi]: `n` of them, or 1..MAX_RANK
    with their product at most MAX_NEURONS when `n` is None (a node shape)."""

    def __init__(self, lo, hi, n=None):
        self.lo, self.hi, self.n = lo, hi, n

    def error(self, v):
        what = (f"a list of {self.n} integers in [{self.lo}, {self.hi}]" if self.n else
                f"a list of 1 to {MAX_RANK} integers in [{self.lo}, {self.hi}]")
        if not isinstance(v, (list, tuple)) or not all(is_int(x) for x in v):
            return f"must be {what}, not {show(v)}"
        if (len(v) != self.n if self.n else not 1 <= len(v) <= MAX_RANK) or \
                not all(self.lo <= x <= self.hi for x in v):
            return f"must be {what}, not {show(v)}"
        if self.n is None and math.prod(int(x) for x in v) > MAX_NEURONS:
            return f"must hold at most {MAX_NEURONS} values, not {show(v)}"
        return None


SHAPE = Ints(1, MAX_DIM)
V_BITS = Int(2, MAX_V_BITS)
S_BITS = Int(2, MAX_V_BITS)
W_BITS = Int(2, MAX_W_BITS)
STEPS = Int(1, MAX_STEPS)
COUNT = Int(0, (1 << (MAX_V_BITS - 1)) - 1)   # s_max (0 = unbounded for IF, CaLIF)
W_EXP = Int(-8, 7)                            # Loihi's weight exponent (CUBALIF inputs only)

PARAMS = {
    "Source": {"shape": SHAPE, "encoding": Choice(("analog", "rate", "bits")), "R": STEPS,
               "T": Int(0, MAX_STEPS), "x_bits": W_BITS},
    "Dense": {"w_bits": W_BITS, "w_exp": W_EXP},
    "Conv2d": {"stride": Ints(1, MAX_DIM, 2), "padding": Ints(0, MAX_DIM, 2),
               "groups": Int(1, MAX_DIM), "w_bits": W_BITS, "w_exp": W_EXP},
    "SumPool2d": {"kernel": Ints(1, MAX_DIM, 2), "stride": Ints(1, MAX_DIM, 2)},
    "Scale": {"w_bits": W_BITS},
    "Flatten": {},
    "STBIF": {"shape": SHAPE, "bias_R": STEPS, "s_min": Int(-(1 << (MAX_V_BITS - 1)), 0),
              "s_max": COUNT, "v_bits": V_BITS, "s_bits": S_BITS},
    "IF": {"shape": SHAPE, "bias_R": STEPS, "s_max": COUNT, "v_bits": V_BITS, "s_bits": S_BITS},
    "ILIF": {"shape": SHAPE, "T": Int(1, 32), "v_bits": V_BITS},
    "CaLIF": {"shape": SHAPE, "T": STEPS, "s_max": COUNT, "gate": Flag(), "v_bits": V_BITS,
              "s_bits": S_BITS},
    "MaxPool2d": {"shape": SHAPE, "in_shape": Ints(1, MAX_DIM, 3), "kernel": Ints(1, MAX_DIM, 2),
                  "stride": Ints(1, MAX_DIM, 2), "padding": Ints(0, MAX_DIM, 2), "ceil_mode": Flag(),
                  "s_bits": S_BITS},
    "CUBALIF": {"shape": SHAPE, "vth": Int(0, (1 << 17) - 1), "du": Int(0, 4095),
                "dv": Int(0, 4095), "v_bits": Int(24, 24), "s_bits": S_BITS},
    "Readout": {"shape": SHAPE, "v_bits": V_BITS, "horner": Flag()},
}


def param_error(tname, pname, value):
    """None if `value` is valid for param `pname` of node type `tname`, else 'must be ...'."""
    return PARAMS[tname][pname].error(value)
