"""Loihi-style fixed point of one CUBA-LIF layer from float NIR parameters.

Float layer (Euler step dt, reset to 0, every synapse path j into it):
    I' = (1 - ds) I + sum_j G_j s_j          v' = (1 - dm) v + I' + b          y = v' > theta
Loihi (Lava's PyLifModelBitAcc with fixed-point Dense/Conv), k = the layer's scale:
    u' = (1 - (du+1)/4096) u + 64 * floor(2^e_j * sum W_j s_j)      v' = (1 - dv/4096) v + u' + B
    y = v' > 64 vth,   with   W_j ~ k G_j / 2^e_j,  vth ~ k theta,  B ~ 64 k b,  u ~ 64 k I.
Weights sit on Lava's grid: `w_bits` (its num_weight_bits, <= 8) significant bits in a 9-bit
container; mixed-sign matrices lose the low bit (multiples of 2 in [-256, 254] for 8 bits) so
Lava's truncation leaves them unchanged. The exponent e is the largest in [-8, 7] for which the
synaptic input stays within int16 and u, v cannot leave 24 bits on the way to a spike.
"""

import math

import numpy as np

from ..errors import NIRError

__all__ = ["decay12", "weight_grid", "quantize_weights", "choose_exponent", "split_bias",
           "W_EXP_RANGE", "VTH_MAX", "A_MAX", "UV_MAX"]

W_EXP_RANGE = range(7, -9, -1)   # Lava weight_exp, largest first
VTH_MAX = (1 << 17) - 1          # vth: unsigned 17 bits
A_MAX = (1 << 15) - 1            # synaptic input a_in: int16
UV_MAX = (1 << 23) - 1           # u, v: signed 24 bits
BIAS_MANT = 4095                 # bias_mant: signed 13 bits
BIAS_EXP_MAX = 7                 # bias_exp: unsigned 3 bits


def decay12(name, what, delta, offset=0):
    """round(4096 * delta) - offset as a 12-bit decay; delta must be in [0, 1]."""
    if not 0 <= delta <= 1:
        raise NIRError(f"NIR node {name!r}: dt/{what} must be in [0, 1] for Loihi's decay, not "
                       f"{delta:.6g} (a smaller --dt or a larger {what})")
    return int(min(max(round(4096 * delta) - offset, 0), 4095))


def weight_grid(w, w_bits):
    """(step, lo, hi) of Lava's weights for matrix `w`'s sign mode."""
    pos, neg = bool((w > 0).any()), bool((w < 0).any())
    mixed = int(pos and neg)
    step = 1 << (8 - w_bits + mixed)
    if mixed:
        return step, -256, 256 - step
    return (step, 0, 256 - step) if pos or not neg else (step, -(256 - step), 0)


def fill_scale(weights, w_bits):
    """Largest c with every c * w on its grid's range (the scale that uses all bits)."""
    c = math.inf
    for w in weights:
        step, lo, hi = weight_grid(w, w_bits)
        if w.max(initial=0) > 0:
            c = min(c, hi / w.max())
        if w.min(initial=0) < 0:
            c = min(c, lo / w.min())
    return c


def quantize_weights(w, c, w_bits):
    """round(c * w) on Lava's grid, clipped to its range (int64)."""
    step, lo, hi = weight_grid(w, w_bits)
    q = np.round(c * w / step) * step
    return np.clip(q, lo, hi).astype(np.int64)


def choose_exponent(name, c, theta, bound, du, bias_v):
    """(e, k, vth): the largest exponent e with k = c * 2^e, vth = round(k theta) in [1, VTH_MAX],
    2^e c bound <= A_MAX (c bound: the largest sum of |W_int| times input per step), and u,
    v inside 24 bits below a spike (u at most 64 * a * 4096 / (du + 1))."""
    for e in W_EXP_RANGE:
        k = c * 2.0 ** e
        vth = round(k * theta)
        a = 2.0 ** e * c * bound
        u = 64 * a * 4096 / (du + 1)
        if vth <= VTH_MAX and a <= A_MAX and u <= UV_MAX and \
                64 * vth + u + 64 * k * bias_v <= UV_MAX:
            if vth < 1:
                break
            return e, k, int(vth)
    raise NIRError(f"NIR node {name!r}: no Loihi weight exponent in [-8, 7] fits threshold "
                   f"{theta:.6g} with weights up to {bound:.6g} per step in 24-bit u and v")


def split_bias(name, b):
    """(mant, exp) int64 arrays with mant * 2^exp ~ b, |mant| <= 4095, 0 <= exp <= 7."""
    b = np.asarray(b, dtype=np.float64)
    exp = np.zeros(b.shape, dtype=np.int64)
    big = np.abs(b) > BIAS_MANT
    exp[big] = np.ceil(np.log2(np.abs(b[big]) / BIAS_MANT)).astype(np.int64)
    mant = np.round(b / 2.0 ** exp)
    over = np.abs(mant) > BIAS_MANT      # rounding up at the boundary
    exp[over] += 1
    mant = np.round(b / 2.0 ** exp)
    if exp.size and exp.max() > BIAS_EXP_MAX:
        raise NIRError(f"NIR node {name!r}: bias {b.flat[int(np.argmax(exp))]:.6g} (in Loihi "
                       f"units) exceeds 4095 * 2^7")
    return mant.astype(np.int64), exp
