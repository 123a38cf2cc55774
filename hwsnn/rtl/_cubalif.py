"""CUBA-LIF datapath: one combinational update of Loihi's current-based LIF neuron, the rule of
docs/ir-format.md ("CUBALIF in detail"; Lava's PyLifModelBitAcc), read from the IR's fields:

    I  = floor(2^w_exp * P)                         (P: the step's synaptic sum)
    a  = u * (4095 - du);  u' = wrap(trunc0(a / 2^12) + 2^6 * I)
    b  = v * (4096 - dv);  v' = clip(trunc0(b / 2^12) + u' + bias, -(2^23 - 1), 2^23 - 1)
    y  = v' > theta  (theta = vth << 6);  v' = 0 where y;  S = S + y

trunc0 rounds toward zero: a >> 12 for a >= 0, -((-a) >> 12) below. wrap subtracts 2^24 once
above 2^23 and adds it once at or below -2^23. Every intermediate is exact (Amaranth widens);
u, v and S are narrowed only to their registers: u (`u_bits`) and S SATURATE there with
`ovf` set (the golden rule has no such register; a run that sets it is refused), v is clipped
by the rule itself. With ``nofire`` (hold, readback) the state passes unchanged and y = 0.

`_mutate_round` (tests only) rounds the decays toward -inf (a >> 12) instead of toward zero.
"""

from amaranth.hdl import Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsnn.errors import RangeError

__all__ = ["CubaLIFUnit"]

V_MAX = (1 << 23) - 1


class CubaLIFUnit(wiring.Component):
    """Ports: ``u`` (signed `u_bits`), ``v`` (signed `v_bits`), ``p`` (signed `p_bits`, the
    step's synaptic sum), ``bias`` (signed `bias_bits`), ``theta`` (signed `theta_bits`),
    ``s`` (signed `s_bits`), ``nofire`` -> ``u_out``, ``v_out``, ``s_out``, ``y`` (signed 2:
    0 or 1), ``ovf``. `du`, `dv` in [0, 4095] and `w_exp` are constants of the node."""

    def __init__(self, *, du, dv, w_exp=0, u_bits=32, v_bits=24, p_bits=16, bias_bits=16, theta_bits=24,
                 s_bits=24, _mutate_round=False):
        for field, value, lo, hi in (("du", du, 0, 4095), ("dv", dv, 0, 4095), ("w_exp", w_exp, -8, 7),
                                     ("v_bits", v_bits, 24, 64), ("u_bits", u_bits, 25, 64)):
            if not isinstance(value, int) or not lo <= value <= hi:
                raise RangeError(f"CubaLIFUnit: {field} must be an integer in [{lo}, {hi}], not {value!r}")
        self.du, self.dv, self.w_exp, self._mutate_round = du, dv, w_exp, _mutate_round
        self.u_bits, self.s_bits = u_bits, s_bits
        super().__init__({
            "u": In(signed(u_bits)), "v": In(signed(v_bits)), "p": In(signed(p_bits)),
            "bias": In(signed(bias_bits)), "theta": In(signed(theta_bits)), "s": In(signed(s_bits)),
            "nofire": In(1),
            "u_out": Out(signed(u_bits)), "v_out": Out(signed(v_bits)), "s_out": Out(signed(s_bits)),
            "y": Out(signed(2)), "ovf": Out(1)})

    def _trunc0(self, a):
        """a / 2^12 rounded toward zero (the mutation: toward -inf)."""
        if self._mutate_round:
            return a >> 12
        return Mux(a < 0, -((-a) >> 12), a >> 12)

    def elaborate(self, platform):
        m = Module()
        i = self.p << self.w_exp if self.w_exp >= 0 else self.p >> -self.w_exp  # arithmetic: floor
        x = self._trunc0(self.u * (4095 - self.du)) + (i << 6)
        u_new = Mux(x > (1 << 23), x - (1 << 24), Mux(x <= -(1 << 23), x + (1 << 24), x))
        e = self._trunc0(self.v * (4096 - self.dv)) + u_new + self.bias
        v_new = Mux(e > V_MAX, V_MAX, Mux(e < -V_MAX, -V_MAX, e))
        fire = (v_new > self.theta) & ~self.nofire
        s_new = self.s + fire
        u_lo, u_hi = -(1 << (self.u_bits - 1)), (1 << (self.u_bits - 1)) - 1
        s_hi = (1 << (self.s_bits - 1)) - 1
        u_ovf = (u_new > u_hi) | (u_new < u_lo)
        m.d.comb += [
            self.y.eq(fire),
            self.u_out.eq(Mux(self.nofire, self.u, Mux(u_new > u_hi, u_hi, Mux(u_new < u_lo, u_lo, u_new)))),
            self.v_out.eq(Mux(self.nofire, self.v, Mux(fire, 0, v_new))),
            self.s_out.eq(Mux(s_new > s_hi, s_hi, s_new)),
            self.ovf.eq(~self.nofire & (u_ovf | (s_new > s_hi))),
        ]
        return m
