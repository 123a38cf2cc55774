"""Loihi's fixed-point constants and weight rules for CUBALIF graphs (docs/ir-format.md, "CUBALIF").

These mirror Lava 0.10's bit-accurate LIF (`PyLifModelBitAcc`) and fixed-point Dense
(`clip_weights`, `truncate_weights`), written from their documented rules; the IR never imports
Lava. `loihi_weights` is for importers (NIR) that quantize float weights: it returns weights
that Lava's Dense uses unchanged, which the loader requires on every synapse into a CUBALIF.
"""

import numpy as np

__all__ = ["UV_BITS", "DECAY_BITS", "VTH_MAX", "BIAS_MANT_RANGE", "BIAS_EXP_RANGE", "W_EXP_RANGE",
           "ACT_SHIFT", "VTH_SHIFT", "I_BITS", "loihi_weights", "loihi_weight_error",
           "loihi_weight_bits"]

UV_BITS = 24                     # u and v registers
DECAY_BITS = 12                  # du, dv in [0, 4095]; decays are x / 2^12
VTH_MAX = (1 << 17) - 1          # vth: unsigned 17 bits
VTH_SHIFT = 6                    # threshold compared as vth * 2^6
ACT_SHIFT = 6                    # synaptic input enters u as I * 2^6
BIAS_MANT_RANGE = (-4096, 4095)  # signed 13 bits
BIAS_EXP_RANGE = (0, 7)          # unsigned 3 bits
W_EXP_RANGE = (-8, 7)            # Loihi's weight exponent
I_BITS = 24                      # a CUBALIF's summed input I must fit int24 (Lava's Conv wraps
                                 # at 24 bits, its Dense at 32: no single rule beyond)
W_MAX = 255                      # one-signed weights: |W| <= 255 (8 magnitude bits)
W_MIXED = (-256, 254)            # mixed signs: 8 bits + sign, low bit dropped (even)


def loihi_weight_error(W):
    """None if Lava's fixed-point Dense uses W unchanged (num_weight_bits = 8), else why not."""
    W = np.asarray(W)
    if not W.size:
        return None
    lo, hi = int(W.min()), int(W.max())
    if lo >= 0 or hi <= 0:  # one sign (excitatory / inhibitory)
        if max(-lo, hi) > W_MAX:
            return f"one-signed weights must lie in [-{W_MAX}, {W_MAX}], not [{lo}, {hi}]"
        return None
    if lo < W_MIXED[0] or hi > W_MIXED[1]:
        return (f"mixed-sign weights must lie in [{W_MIXED[0]}, {W_MIXED[1]}], "
                f"not [{lo}, {hi}]")
    odd = np.flatnonzero(W.reshape(-1) & 1)
    if odd.size:
        return (f"mixed-sign weights must be even (Loihi drops their low bit), not "
                f"{int(W.reshape(-1)[odd[0]])} at flat index {int(odd[0])}")
    return None


def loihi_weights(W, num_weight_bits=8):
    """W as Lava's fixed-point Dense would use it: clipped to Loihi's 8-bit synapse for its sign
    mode, then the low `8 - num_weight_bits` bits (one more when signs are mixed) dropped
    (floor for excitatory and mixed, toward zero for inhibitory). int64."""
    W = np.asarray(W, dtype=np.int64)
    if not 1 <= int(num_weight_bits) <= 8:
        raise ValueError(f"num_weight_bits must be in [1, 8], not {num_weight_bits!r}")
    if not W.size:
        return W.copy()
    mixed = int(W.min()) < 0 < int(W.max())
    inhib = not mixed and int(W.max()) <= 0 and int(W.min()) < 0
    w = -W if inhib else W
    w = np.clip(w, -256 if mixed else 0, 255)
    drop = 8 - int(num_weight_bits) + int(mixed)
    w = (w >> drop) << drop
    return -w if inhib else w


def loihi_weight_bits(lo, hi):
    """Bits one Loihi synapse stores for weights in [lo, hi] (Loihi weights, see above): the
    magnitude alone when they have one sign (the sign is the synapse group's mode), W / 2 signed
    when signs are mixed (their low bit is dropped)."""
    lo, hi = int(lo), int(hi)
    if lo >= 0 or hi <= 0:
        return max(max(-lo, hi).bit_length(), 1)
    from ._bits import bits_for
    return bits_for(lo >> 1, hi >> 1)
