"""The neuron core's passes over every neuron: init, fire (and readback, a fire pass that
changes nothing), and the fire unit that computes a neuron's new state.

- `InitWalk`: one address per cycle, every lane at once (V = v0, S = 0, P = 0).
- `FireScan` (fire issue stage, then its decide/write-back stage `f1_*`): one neuron slot
  (address f_g, lane f_l) per cycle, padding slots skipped; the scan stalls while a spike
  waits on `out`.
- `FireUnit`: the neuron rule on the lane selected by f1_l, per fire mode: WINDOW (the rule,
  spikes out), HOLD and readback (no change, y = 0), ABSORB (V += P, y = 0), SETTLE (Ca-LIF
  rounding rule); `would_fire`: a SETTLE pass on the new state would fire.
"""

from amaranth.hdl import Array, Const, Mux, Signal, signed

from ._core_memory import select, ubits
from ._cubalif import CubaLIFUnit
from ._neuron import NeuronUnit

__all__ = ["FIRE_MODES", "InitWalk", "FireScan", "FireUnit"]

FIRE_MODES = {"window": 0, "hold": 1, "absorb": 2, "settle": 3}


def _sat(m, value, bits):
    """(value saturated to signed `bits`, overflow flag)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out, ovf = Signal(signed(bits)), Signal()
    m.d.comb += [out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value))), ovf.eq((value > hi) | (value < lo))]
    return out, ovf


class FireScan:
    """Slot (f_g, f_l) -> neuron f_n (with kernel tables: neuron ((f_cg * L + f_l) * HW + f_p));
    `f1_valid` a real neuron in the decide stage, `f1_slot` any slot (padding included); the
    pass's `fmode`, `dumping` (readback) and `more_acc` (a SETTLE pass would fire again)."""

    def __init__(self, m, cfg):
        L, G, lay = cfg.lanes, cfg.groups, cfg.conv
        gbits = ubits(G)
        self.cfg, self.lay = cfg, lay
        nbits = max(cfg.out_index_bits, ubits(G * L))
        f_active, f_g, f_l, f_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        f1_valid, f1_g, f1_l, f1_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        f1_slot = Signal()  # f1 holds a slot, padding included (f1_valid: a real neuron)
        fmode, dumping, more_acc = Signal(2), Signal(), Signal()
        self.f_active, self.f_g, self.f_l, self.f_n = f_active, f_g, f_l, f_n
        self.f1_valid, self.f1_g, self.f1_l, self.f1_n, self.f1_slot = f1_valid, f1_g, f1_l, f1_n, f1_slot
        self.fmode, self.dumping, self.more_acc = fmode, dumping, more_acc
        self.f_cg = self.f_p = None
        if lay is not None:  # fire slot (f_g, f_l) -> neuron ((f_cg * L + f_l) * HW + f_p)
            f_cg, f_p = Signal(range(max(2, cfg.cgroups))), Signal(range(max(2, lay.HW)))
            self.slot_n = (f_cg * L + f_l) * lay.HW + f_p
            self.slot_valid = f_cg * L + f_l < lay.C
            self.f_cg, self.f_p = f_cg, f_p
        else:
            self.slot_n, self.slot_valid = f_n, f_n < cfg.n

    def start(self, m, mode, dump):
        m.d.sync += [self.f_active.eq(1), self.f_g.eq(0), self.f_l.eq(0), self.f_n.eq(0), self.fmode.eq(mode),
                     self.dumping.eq(dump), self.more_acc.eq(0)]
        if self.lay is not None:
            m.d.sync += [self.f_cg.eq(0), self.f_p.eq(0)]

    def advance(self, m):
        """One unstalled cycle: the issued slot into the decide stage, the next slot issued."""
        L, G, lay = self.cfg.lanes, self.cfg.groups, self.lay
        m.d.sync += [self.f1_valid.eq(self.f_active & self.slot_valid), self.f1_slot.eq(self.f_active),
                     self.f1_g.eq(self.f_g), self.f1_l.eq(self.f_l), self.f1_n.eq(self.slot_n)]
        with m.If(self.f_active):
            m.d.sync += self.f_n.eq(self.f_n + 1)
            with m.If((self.f_g == G - 1) & (self.f_l == L - 1)):
                m.d.sync += self.f_active.eq(0)
            with m.If(self.f_l == L - 1):
                m.d.sync += [self.f_l.eq(0), self.f_g.eq(self.f_g + 1)]
                if lay is not None:
                    with m.If(self.f_p == lay.HW - 1):
                        m.d.sync += [self.f_p.eq(0), self.f_cg.eq(self.f_cg + 1)]
                    with m.Else():
                        m.d.sync += self.f_p.eq(self.f_p + 1)
            with m.Else():
                m.d.sync += self.f_l.eq(self.f_l + 1)


class InitWalk:
    """Address i_g (with kernel tables: channel group i_cg, pixel i_p) issued, i1_g written."""

    def __init__(self, m, cfg):
        G, lay = cfg.groups, cfg.conv
        gbits = ubits(G)
        self.G, self.lay = G, lay
        i_active, i_g, i1_valid, i1_g = Signal(), Signal(gbits), Signal(), Signal(gbits)
        i_cg, i_p = Signal(range(max(2, cfg.cgroups if lay is not None else 2))), Signal(range(max(2, G)))
        self.i_active, self.i_g, self.i1_valid, self.i1_g = i_active, i_g, i1_valid, i1_g
        self.i_cg, self.i_p = i_cg, i_p

    def start(self):
        """Statements that start the walk (the caller adds them with its own)."""
        return [self.i_active.eq(1), self.i_g.eq(0), self.i_cg.eq(0), self.i_p.eq(0)]

    def advance(self, m):
        m.d.sync += [self.i1_valid.eq(self.i_active), self.i1_g.eq(self.i_g)]
        with m.If(self.i_active):
            with m.If(self.i_g == self.G - 1):
                m.d.sync += self.i_active.eq(0)
            with m.Else():
                m.d.sync += self.i_g.eq(self.i_g + 1)
                if self.lay is not None:
                    with m.If(self.i_p == self.lay.HW - 1):
                        m.d.sync += [self.i_p.eq(0), self.i_cg.eq(self.i_cg + 1)]
                    with m.Else():
                        m.d.sync += self.i_p.eq(self.i_p + 1)


class FireUnit:
    """The neuron rule on the decide stage's lane: `y`, `v_out`, `s_out`, `n_ovf` (V or S left
    its register), `would_fire`, the mode flags `m_hold`, `m_absorb`, `m_settle`, and `stall`
    (driven by the FIRE phase: a spike waits on `out`)."""

    def __init__(self, m, cfg, lanes, scan, mutate_ge=False):
        settle = cfg.has_p
        fmode, dumping, f1_l = scan.fmode, scan.dumping, scan.f1_l
        m_hold, m_absorb, m_settle = (fmode == FIRE_MODES["hold"]), (fmode == FIRE_MODES["absorb"]), \
            (fmode == FIRE_MODES["settle"])
        self.m_hold, self.m_absorb, self.m_settle = m_hold, m_absorb, m_settle
        v_in = Array(p["vr"].data for p in lanes)[f1_l]
        p_in = Array(p["pr"].data for p in lanes)[f1_l] if settle else Const(0, 2)
        i_now = Mux(m_absorb & ~dumping, p_in, 0)
        self.u_out = None
        if cfg.kind == "cubalif":
            y, v_out, s_out, n_ovf, theta = self._cubalif(m, cfg, lanes, v_in, p_in, f1_l,
                                                          dumping | m_hold | m_absorb, mutate_ge)
        elif cfg.kind == "readout":
            y = Signal(signed(2))
            v_out, n_ovf = _sat(m, v_in + i_now, cfg.v_bits)
            s_out = Signal(signed(cfg.s_bits))
            theta = Const(1)
        else:
            i_bits = max(2, cfg.p_bits if settle else 2)
            unit = m.submodules.unit = NeuronUnit(
                cfg.kind, v_bits=cfg.v_bits, vin_bits=cfg.acc_bits, i_bits=i_bits, theta_bits=cfg.theta_bits,
                s_bits=cfg.s_bits, s_min=cfg.s_min, s_max=cfg.s_max, gate=cfg.gate, phases=True,
                _mutate_ge=mutate_ge)
            theta = select([p["thetar"].data for p in lanes], f1_l)
            m.d.comb += [unit.v.eq(v_in), unit.i.eq(i_now), unit.theta.eq(theta),
                         unit.s.eq(Array(p["sr"].data for p in lanes)[f1_l]),
                         unit.nofire.eq(dumping | m_hold | m_absorb)]
            if cfg.kind == "calif":
                m.d.comb += [unit.leak.eq(0), unit.settle.eq(m_settle)]
            y, v_out, s_out, n_ovf = unit.y, unit.v_out, unit.s_out, unit.ovf
        if cfg.kind == "calif":  # would a settle pass on the new state fire?
            pos = v_out * 2 >= theta
            if cfg.s_max > 0:
                pos = pos & (s_out < cfg.s_max)
            neg = v_out * 2 < -theta
            if cfg.gate:
                neg = neg & (s_out > 0)
            would_fire = pos | neg
        else:
            would_fire = Const(0, 1)
        stall = Signal()
        self.y, self.v_out, self.s_out, self.n_ovf, self.would_fire, self.stall = \
            y, v_out, s_out, n_ovf, would_fire, stall

    def _cubalif(self, m, cfg, lanes, v_in, p_in, f1_l, nofire, mutate_round):
        """Loihi's CUBA LIF (rtl/_cubalif.py) on u, v, P (the step's input) of the lane."""
        unit = m.submodules.unit = CubaLIFUnit(
            du=int(cfg.du), dv=int(cfg.dv), w_exp=int(cfg.w_exp), u_bits=cfg.u_bits, v_bits=cfg.v_bits,
            p_bits=max(2, cfg.p_bits), bias_bits=max(2, cfg.cbias_bits), theta_bits=max(2, cfg.theta_bits),
            s_bits=cfg.s_bits, _mutate_round=mutate_round)
        theta = select([p["thetar"].data for p in lanes], f1_l)
        m.d.comb += [unit.u.eq(Array(p["ur"].data for p in lanes)[f1_l]), unit.v.eq(v_in), unit.p.eq(p_in),
                     unit.bias.eq(select([p["cbiasr"].data for p in lanes], f1_l)), unit.theta.eq(theta),
                     unit.s.eq(Array(p["sr"].data for p in lanes)[f1_l]), unit.nofire.eq(nofire)]
        self.u_out = unit.u_out
        return unit.y, unit.v_out, unit.s_out, unit.ovf, theta
