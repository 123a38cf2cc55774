"""NeuronCore: N neurons time-multiplexed over per-lane state memories.

Dense layout: neuron n lives in lane n % L at address g = n // L (G = ceil(N / L) addresses
per lane). Commands (one-cycle pulses, taken only while `busy` is low):

- ``init``: V = v0, S = 0 for every neuron; step = 0; then emits an end-of-step marker on
  `out` (the step before step 0 sent no spikes).
- ``acc`` (accumulate): first the bias row of this step (row n_in + step, while step < bias_R),
  then every input event (index r, value x) until an event with `last`; each event is turned
  into G synaptic operations per lane, one address per cycle: V[g] += W[r, g*L + l] * x in every
  lane l (L SOPs per cycle; the V read port is transparent, so back-to-back events on the same
  address see each other). V is `acc_bits` wide during accumulation: `lower` proves that the
  accumulated sum cannot wrap.
- ``fire``: one neuron per cycle, slot by slot (padding slots skipped): the neuron rule
  (NeuronUnit) on V, S, theta; writes back V, S; emits a spike event (index, y) on `out` for
  y != 0 (stalling on backpressure), then a marker with `last`; step += 1. `mon` shows every
  neuron's new (V, S, y) as it is written (readout cores: V, unchanged).

Conv layout (`cfg.conv`, weight sharing): lane = output channel % L, address = channel
group * H*W + y*W + x; an event of input row r reads (c, ph, pw) from a row table and walks
the kernel positions (ky, kx) and channel groups, one address per cycle (positions outside
the output take a cycle without SOPs); the bias is a pass over every address from a bias
memory.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._neuron import NeuronUnit

__all__ = ["NeuronCore", "event_layout", "monitor_signature"]


def event_layout(index_bits, value_bits):
    """Spike event: neuron/row index, signed value, end-of-step marker."""
    return data.StructLayout({"index": unsigned(index_bits), "value": signed(value_bits), "last": 1})


def monitor_signature(index_bits, v_bits, s_bits):
    return wiring.Signature({"valid": Out(1), "index": Out(unsigned(index_bits)),
                             "v": Out(signed(v_bits)), "s": Out(signed(s_bits)),
                             "y": Out(signed(2)), "ovf": Out(1)})


def _ubits(n):
    return max(1, (int(n) - 1).bit_length())


class NeuronCore(wiring.Component):
    """One core of the configuration `cfg` (a CoreConfig). See the module docstring."""

    def __init__(self, cfg, *, counters=True, _mutate_ge=False):
        self.cfg, self.counters, self._mutate_ge = cfg, counters, _mutate_ge
        super().__init__({
            "inp": In(stream.Signature(event_layout(cfg.in_index_bits, cfg.x_bits))),
            "out": Out(stream.Signature(event_layout(cfg.out_index_bits, 2))),
            "init": In(1), "acc": In(1), "fire": In(1), "busy": Out(1),
            "mon": Out(monitor_signature(cfg.out_index_bits, cfg.v_bits, cfg.s_bits)),
            "ovf": Out(1),                 # sticky: some V or S left its register
            "sops": Out(32),               # synaptic operations done since reset (wraps)
            "acc_cycles": Out(32),         # cycles spent accumulating since reset (wraps)
        })

    def _memories(self, m):
        cfg, L, G = self.cfg, self.cfg.lanes, self.cfg.groups
        depth = max(2, G)
        lanes = []
        for lane in range(L):
            wimg = cfg.weight_image(lane)
            mems = {
                "w": Memory(shape=signed(cfg.w_bits), depth=max(2, len(wimg)), init=[int(v) for v in wimg]),
                "v": Memory(shape=signed(cfg.acc_bits), depth=depth,
                            init=[int(v) for v in cfg.param_image(lane, "v0")]),
                "v0": Memory(shape=signed(cfg.v_bits), depth=depth,
                             init=[int(v) for v in cfg.param_image(lane, "v0")]),
            }
            if cfg.conv is not None and cfg.bias_R:
                bimg = cfg.bias_image(lane)
                mems["b"] = Memory(shape=signed(cfg.w_bits), depth=max(2, len(bimg)), init=[int(v) for v in bimg])
            if cfg.kind != "readout":
                mems["s"] = Memory(shape=signed(cfg.s_bits), depth=depth, init=[])
                mems["theta"] = Memory(shape=signed(cfg.theta_bits), depth=depth,
                                       init=[int(v) for v in cfg.param_image(lane, "theta")])
            ports = {}
            for key, mem in mems.items():
                m.submodules[f"{key}_mem{lane}"] = mem
                if key in ("v", "s"):
                    ports[f"{key}w"] = mem.write_port()
                    ports[f"{key}r"] = mem.read_port(transparent_for=(ports[f"{key}w"],))
                else:
                    ports[f"{key}r"] = mem.read_port()
            lanes.append(ports)
        return lanes

    def elaborate(self, platform):
        m = Module()
        cfg, L, G = self.cfg, self.cfg.lanes, self.cfg.groups
        lanes = self._memories(m)
        gbits = _ubits(G)
        last_count = cfg.n - (G - 1) * L  # real neurons in the last group

        step = Signal(range(cfg.bias_R + 1))
        # accumulate issue stage and its write-back stage
        ev_active, got_last = Signal(), Signal()
        row_base = Signal(range(max(2, cfg.rows * G)))
        val = Signal(signed(cfg.x_bits))
        g = Signal(gbits)
        a1_valid, a1_g, a1_val = Signal(), Signal(gbits), Signal(signed(cfg.x_bits))
        # fire issue stage and its decide/write-back stage
        nbits = max(cfg.out_index_bits, _ubits(G * L))
        f_active, f_g, f_l, f_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        f1_valid, f1_g, f1_l, f1_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        conv = cfg.conv
        if conv is not None:  # fire slot (f_g, f_l) -> neuron ((f_cg * L + f_l) * HW + f_p)
            Gc, HW = cfg.cgroups, conv.HW
            f_cg, f_p = Signal(range(max(2, Gc))), Signal(range(max(2, HW)))
            slot_n = (f_cg * L + f_l) * HW + f_p
            slot_valid = f_cg * L + f_l < conv.C
        else:
            slot_n, slot_valid = f_n, f_n < cfg.n
        # init stage
        i_active, i_g, i1_valid, i1_g = Signal(), Signal(gbits), Signal(), Signal(gbits)
        ovf, sops, acc_cycles = Signal(), Signal(32), Signal(32)
        m.d.comb += self.ovf.eq(ovf)
        if self.counters:  # instrumentation; synthesis reports leave it out
            m.d.comb += [self.sops.eq(sops), self.acc_cycles.eq(acc_cycles)]

        # --- neuron rule on the lane selected by f1_l ------------------------------------
        v_in = Array(p["vr"].data for p in lanes)[f1_l]
        if cfg.kind == "readout":
            lo, hi = -(1 << (cfg.v_bits - 1)), (1 << (cfg.v_bits - 1)) - 1
            y, v_out, s_out = Signal(signed(2)), Signal(signed(cfg.v_bits)), Signal(signed(cfg.s_bits))
            n_ovf = Signal()
            m.d.comb += [v_out.eq(v_in), n_ovf.eq((v_in < lo) | (v_in > hi))]
        else:
            unit = m.submodules.unit = NeuronUnit(
                cfg.kind, v_bits=cfg.v_bits, vin_bits=cfg.acc_bits, i_bits=2, theta_bits=cfg.theta_bits,
                s_bits=cfg.s_bits, s_min=cfg.s_min, s_max=cfg.s_max, _mutate_ge=self._mutate_ge)
            m.d.comb += [unit.v.eq(v_in), unit.i.eq(0),
                         unit.theta.eq(Array(p["thetar"].data for p in lanes)[f1_l]),
                         unit.s.eq(Array(p["sr"].data for p in lanes)[f1_l])]
            y, v_out, s_out, n_ovf = unit.y, unit.v_out, unit.s_out, unit.ovf
        stall = Signal()
        m.d.comb += [
            self.mon.index.eq(f1_n), self.mon.v.eq(v_out), self.mon.s.eq(s_out),
            self.mon.y.eq(y), self.mon.ovf.eq(n_ovf),
        ]

        # --- memory addresses (all lanes share the address) ------------------------------
        issue_addr, issue_valid, last_g, w_sel = g, Signal(), Signal(), Const(0)
        lv = lambda cg: Mux(cg == cfg.cgroups - 1, conv.C - (cfg.cgroups - 1) * L, L)  # noqa: E731
        if conv is not None:
            C, Cin, KH, KW = conv.K.shape
            Gc = cfg.cgroups
            cbits, hbits, wbits = _ubits(Cin), _ubits(conv.H + 2 * conv.pad[0] + KH), _ubits(conv.W + 2 * conv.pad[1] + KW)
            info = Memory(shape=unsigned(1 + cbits + hbits + wbits), depth=max(2, cfg.n_in),
                          init=[0 if c < 0 else (1 | (c << 1) | (ph << (1 + cbits)) | (pw << (1 + cbits + hbits)))
                                for c, ph, pw in (tuple(int(v) for v in r) for r in conv.rows)])
            m.submodules.row_info = info
            info_r = info.read_port(domain="comb")
            m.d.comb += info_r.addr.eq(self.inp.payload.index)
            i_valid = info_r.data[0]
            i_c, i_ph, i_pw = (info_r.data[1:1 + cbits], info_r.data[1 + cbits:1 + cbits + hbits],
                               info_r.data[1 + cbits + hbits:])
            c_r, ph_r, pw_r = Signal(cbits), Signal(hbits), Signal(wbits)
            ky, kx, cg = Signal(range(max(2, KH))), Signal(range(max(2, KW))), Signal(range(max(2, Gc)))
            b_cg, b_p = Signal(range(max(2, Gc))), Signal(range(max(2, conv.HW)))
            bias_pass, a1_bias = Signal(), Signal()
            yy = ph_r + conv.pad[0] - ky
            xx = pw_r + conv.pad[1] - kx
            pos_valid = (yy >= 0) & (yy < conv.H) & (xx >= 0) & (xx < conv.W)
            ev_addr = Signal(gbits)
            m.d.comb += ev_addr.eq(cg * conv.HW + yy * conv.W + xx)
            issue_addr = Mux(bias_pass, g, ev_addr)
            m.d.comb += [issue_valid.eq(ev_active & (bias_pass | pos_valid)),
                         last_g.eq(Mux(bias_pass, g == G - 1,
                                       (ky == KH - 1) & (kx == KW - 1) & (cg == Gc - 1)))]
            w_addr = ((c_r * KH + ky) * KW + kx) * Gc + cg
            w_sel = a1_bias
        else:
            m.d.comb += [issue_valid.eq(ev_active), last_g.eq(g == G - 1)]
            w_addr = row_base + g
        for p in lanes:
            m.d.comb += [p["wr"].addr.eq(w_addr), p["vr"].addr.eq(issue_addr), p["v0r"].addr.eq(i_g)]
            if "br" in p:
                m.d.comb += p["br"].addr.eq(row_base + g)
            if "sr" in p:
                m.d.comb += [p["sr"].addr.eq(f_g), p["thetar"].addr.eq(f_g)]

        with m.FSM(name="phase") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.init):
                    m.d.sync += [i_active.eq(1), i_g.eq(0), step.eq(0), ovf.eq(0)]
                    m.next = "INIT"
                with m.Elif(self.acc):
                    m.d.sync += [got_last.eq(0), ev_active.eq(step < cfg.bias_R), g.eq(0), val.eq(1)]
                    if conv is not None:  # the bias pass: bias memory row `step`, every address
                        m.d.sync += [row_base.eq(step * G), bias_pass.eq(1), b_cg.eq(0), b_p.eq(0)]
                    else:  # the bias is row n_in + step of the weight memory
                        m.d.sync += row_base.eq((cfg.n_in + step) * G)
                    m.next = "ACC"
                with m.Elif(self.fire):
                    m.d.sync += [f_active.eq(1), f_g.eq(0), f_l.eq(0), f_n.eq(0)]
                    if conv is not None:
                        m.d.sync += [f_cg.eq(0), f_p.eq(0)]
                    m.next = "FIRE"

            with m.State("INIT"):
                m.d.sync += [i1_valid.eq(i_active), i1_g.eq(i_g)]
                with m.If(i_active):
                    with m.If(i_g == G - 1):
                        m.d.sync += i_active.eq(0)
                    with m.Else():
                        m.d.sync += i_g.eq(i_g + 1)
                for p in lanes:
                    m.d.comb += [p["vw"].addr.eq(i1_g), p["vw"].data.eq(p["v0r"].data),
                                 p["vw"].en.eq(i1_valid)]
                    if "sw" in p:
                        m.d.comb += [p["sw"].addr.eq(i1_g), p["sw"].data.eq(0), p["sw"].en.eq(i1_valid)]
                with m.If(~i_active & ~i1_valid):
                    m.next = "MARK"

            with m.State("ACC"):
                m.d.sync += acc_cycles.eq(acc_cycles + 1)
                m.d.comb += self.inp.ready.eq(~got_last & (~ev_active | last_g))
                m.d.sync += [a1_valid.eq(issue_valid), a1_g.eq(issue_addr), a1_val.eq(val)]
                if conv is not None:
                    m.d.sync += a1_bias.eq(bias_pass)
                    with m.If(issue_valid):
                        m.d.sync += sops.eq(sops + Mux(bias_pass, lv(b_cg), lv(cg)))
                else:
                    with m.If(ev_active):
                        m.d.sync += sops.eq(sops + Mux(last_g, last_count, L))
                with m.If(self.inp.valid & self.inp.ready):
                    with m.If(self.inp.payload.last):
                        m.d.sync += [got_last.eq(1), ev_active.eq(0)]
                    with m.Else():
                        m.d.sync += [g.eq(0), val.eq(self.inp.payload.value)]
                        if conv is not None:  # rows without a connection do nothing
                            m.d.sync += [ev_active.eq(i_valid), bias_pass.eq(0), c_r.eq(i_c),
                                         ph_r.eq(i_ph), pw_r.eq(i_pw), ky.eq(0), kx.eq(0), cg.eq(0)]
                        else:
                            m.d.sync += [ev_active.eq(1), row_base.eq(self.inp.payload.index * G)]
                with m.Elif(ev_active):
                    with m.If(last_g):
                        m.d.sync += ev_active.eq(0)
                    with m.Else():
                        m.d.sync += g.eq(g + 1)
                        if conv is not None:
                            with m.If(bias_pass):
                                with m.If(b_p == conv.HW - 1):
                                    m.d.sync += [b_p.eq(0), b_cg.eq(b_cg + 1)]
                                with m.Else():
                                    m.d.sync += b_p.eq(b_p + 1)
                            with m.Else():
                                with m.If(cg == Gc - 1):
                                    m.d.sync += cg.eq(0)
                                    with m.If(kx == KW - 1):
                                        m.d.sync += [kx.eq(0), ky.eq(ky + 1)]
                                    with m.Else():
                                        m.d.sync += kx.eq(kx + 1)
                                with m.Else():
                                    m.d.sync += cg.eq(cg + 1)
                for p in lanes:
                    w = Mux(w_sel, p["br"].data, p["wr"].data) if "br" in p else p["wr"].data
                    if cfg.x_bits == 2:  # spikes: the product is a choice of +w, -w, 0
                        prod = Mux(a1_val == 1, w, Mux(a1_val == -1, -w, 0))
                    else:
                        prod = w * a1_val
                    m.d.comb += [p["vw"].addr.eq(a1_g), p["vw"].data.eq(p["vr"].data + prod),
                                 p["vw"].en.eq(a1_valid)]
                with m.If(got_last & ~ev_active & ~a1_valid):
                    m.next = "IDLE"

            with m.State("FIRE"):
                m.d.comb += [stall.eq(f1_valid & (y != 0) & ~self.out.ready),
                             self.out.valid.eq(f1_valid & (y != 0)),
                             self.out.payload.index.eq(f1_n), self.out.payload.value.eq(y),
                             self.mon.valid.eq(f1_valid & ~stall)]
                with m.If(f1_valid & ~stall & n_ovf):
                    m.d.sync += ovf.eq(1)
                for lane, p in enumerate(lanes):
                    m.d.comb += p["vr"].en.eq(~stall)
                    if "sr" in p:
                        we = f1_valid & ~stall & (f1_l == lane)
                        m.d.comb += [p["sr"].en.eq(~stall), p["thetar"].en.eq(~stall),
                                     p["vw"].addr.eq(f1_g), p["vw"].data.eq(v_out), p["vw"].en.eq(we),
                                     p["sw"].addr.eq(f1_g), p["sw"].data.eq(s_out), p["sw"].en.eq(we)]
                    m.d.comb += p["vr"].addr.eq(f_g)
                with m.If(~stall):  # every (address, lane) slot; padding slots are skipped
                    m.d.sync += [f1_valid.eq(f_active & slot_valid), f1_g.eq(f_g), f1_l.eq(f_l),
                                 f1_n.eq(slot_n)]
                    with m.If(f_active):
                        m.d.sync += f_n.eq(f_n + 1)
                        with m.If((f_g == G - 1) & (f_l == L - 1)):
                            m.d.sync += f_active.eq(0)
                        with m.If(f_l == L - 1):
                            m.d.sync += [f_l.eq(0), f_g.eq(f_g + 1)]
                            if conv is not None:
                                with m.If(f_p == conv.HW - 1):
                                    m.d.sync += [f_p.eq(0), f_cg.eq(f_cg + 1)]
                                with m.Else():
                                    m.d.sync += f_p.eq(f_p + 1)
                        with m.Else():
                            m.d.sync += f_l.eq(f_l + 1)
                    with m.If(~f_active & ~f1_valid):
                        m.d.sync += step.eq(Mux(step < cfg.bias_R, step + 1, step))
                        m.next = "MARK"

            with m.State("MARK"):  # end-of-step marker after init and after every fire phase
                m.d.comb += [self.out.valid.eq(1), self.out.payload.last.eq(1)]
                with m.If(self.out.ready):
                    m.next = "IDLE"
        return m
