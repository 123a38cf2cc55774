"""Neuron datapath: one combinational update of a neuron's state (integrate, decide, reset).

Every width is a parameter taken from the IR. All arithmetic is done in a width that cannot
overflow (Amaranth widens `+`, `-` and compares numerically); only the final V and S are
narrowed to their registers, and they SATURATE there with `ovf` set. The golden simulator
raises RangeError in exactly those cases, so in a verified run `ovf` never rises.

Kinds (the IR's neuron equations, docs/ir-format.md, one step, b_t folded into `i`):

- ``stbif``: V' = V + I; y = +1 if V' >= theta and S < s_max; -1 if V' < 0 and S > s_min;
  V = V' - y*theta; S = S + y.
- ``if``: V' = V + I; y = 1 if V' >= theta (and S < s_max when s_max > 0); soft reset.
- ``calif``: V' = V + I - leak; y = +1 if V' >= theta (and S < s_max when s_max > 0);
  -1 if V' <= -theta (and S > 0 when gate); V = V' - y*theta; S = S + y.
  With ``settle`` high (the settle phase, docs/ir-format.md): y = +1 if 2V' >= theta (and
  S < s_max), -1 if 2V' < -theta (and S > 0 when gate).

With `phases=True` (the neuron core) the unit has ``nofire`` (forces y = 0; V' and S pass
through, still saturated) and, for calif, ``settle``; without, both are constant 0.
"""

from amaranth.hdl import Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsnn.errors import RangeError

__all__ = ["NeuronUnit", "KINDS"]

KINDS = ("stbif", "if", "calif")


def _check_bits(field, value, lo=2, hi=64):
    if not isinstance(value, int) or not lo <= value <= hi:
        raise RangeError(f"NeuronUnit: {field} must be an integer in [{lo}, {hi}], not {value!r}")


class NeuronUnit(wiring.Component):
    """Combinational neuron update.

    Ports: ``v`` (signed `vin_bits`, the stored V), ``i`` (signed `i_bits`, this step's input
    current incl. bias), ``theta`` (signed `theta_bits`), ``s`` (signed `s_bits`), ``leak``
    (calif only) -> ``v_out`` (signed `v_bits`, saturated), ``s_out`` (signed `s_bits`,
    saturated), ``y`` (signed 2: -1, 0, +1), ``ovf`` (V or S left its register).

    `_mutate_ge` (tests only) turns the positive threshold compare from >= into >.
    """

    def __init__(self, kind="stbif", *, v_bits=16, i_bits=16, theta_bits=16, s_bits=8,
                 s_min=0, s_max=1, gate=True, vin_bits=None, leak_bits=16, phases=False, _mutate_ge=False):
        self._MustUse__silence = True  # no "created but never used" warning if we raise below
        if kind not in KINDS:
            raise RangeError(f"NeuronUnit: kind must be one of {KINDS}, not {kind!r}")
        vin_bits = v_bits if vin_bits is None else vin_bits
        for field, value in (("v_bits", v_bits), ("i_bits", i_bits), ("theta_bits", theta_bits),
                             ("s_bits", s_bits), ("vin_bits", vin_bits), ("leak_bits", leak_bits)):
            _check_bits(field, value)
        self._MustUse__silence = False
        self.kind, self.v_bits, self.s_bits = kind, v_bits, s_bits
        self.s_min, self.s_max, self.gate, self._mutate_ge = int(s_min), int(s_max), bool(gate), _mutate_ge
        sig = {"v": In(signed(vin_bits)), "i": In(signed(i_bits)), "theta": In(signed(theta_bits)),
               "s": In(signed(s_bits)),
               "v_out": Out(signed(v_bits)), "s_out": Out(signed(s_bits)), "y": Out(signed(2)),
               "ovf": Out(1)}
        if phases:
            sig["nofire"] = In(1)
        if kind == "calif":
            sig["leak"] = In(signed(leak_bits))
            if phases:
                sig["settle"] = In(1)
        self.phases = phases
        super().__init__(sig)
        if not phases:
            self.nofire, self.settle = Const(0, 1), Const(0, 1)

    def _decide(self, m, vp, s):
        """(pos, neg) fire conditions of this kind."""
        theta = self.theta
        pos = (vp > theta) if self._mutate_ge else (vp >= theta)
        neg = Const(0, 1)
        if self.kind == "stbif":
            pos = pos & (s < self.s_max)
            neg = (vp < 0) & (s > self.s_min)
        else:
            if self.s_max > 0 and self.kind != "calif":
                pos = pos & (s < self.s_max)
            if self.kind == "calif":
                neg = vp <= -theta
                # settle phase: round to the nearest spike count (2V against theta)
                pos = Mux(self.settle, vp * 2 >= theta, pos)
                neg = Mux(self.settle, vp * 2 < -theta, neg)
                if self.s_max > 0:
                    pos = pos & (s < self.s_max)
                if self.gate:
                    neg = neg & (s > 0)
        return pos & ~self.nofire, neg & ~self.nofire

    def elaborate(self, platform):
        m = Module()
        vp = self.v + self.i  # exact: Amaranth widens by one bit
        if self.kind == "calif":
            vp = vp - self.leak
        pos, neg = self._decide(m, vp, self.s)
        up, down = pos & ~neg, neg & ~pos  # y = pos - neg exactly (both: 0)
        m.d.comb += self.y.eq(Mux(up, 1, Mux(down, -1, 0)))
        v_new = Mux(up, vp - self.theta, Mux(down, vp + self.theta, vp))
        s_new = Mux(up, self.s + 1, Mux(down, self.s - 1, self.s))
        v_lo, v_hi = -(1 << (self.v_bits - 1)), (1 << (self.v_bits - 1)) - 1
        s_lo, s_hi = -(1 << (self.s_bits - 1)), (1 << (self.s_bits - 1)) - 1
        # saturate on purpose; ovf tells the controller (golden raises RangeError here)
        m.d.comb += [
            self.v_out.eq(Mux(v_new > v_hi, v_hi, Mux(v_new < v_lo, v_lo, v_new))),
            self.s_out.eq(Mux(s_new > s_hi, s_hi, Mux(s_new < s_lo, s_lo, s_new))),
            self.ovf.eq((v_new > v_hi) | (v_new < v_lo) | (s_new > s_hi) | (s_new < s_lo)),
        ]
        return m
