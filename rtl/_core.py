"""NeuronCore: N neurons time-multiplexed over per-lane state memories.

Placement: dense, neuron n in lane n % L at address g = n // L; or by channel (a core with
kernel tables, `cfg.layout`): neuron (co, y, x) in lane co % L at address (co // L) * H*W +
y*W + x. G addresses per lane. Commands (one-cycle pulses, taken only while `busy` is low):

- ``init``: V = v0, S = 0 (and the pending current P = 0) for every neuron; step = 0; then an
  end-of-step marker on `out` (the step before step 0 sent no spikes).
- ``acc`` (accumulate): first the bias row of this step (while step < bias_steps), then every
  input event (row r, value x) until an event with `last`. A row of a dense table becomes G
  cycles (one address per cycle, all lanes: V[g] += W[r, neuron(l, g)] * x); a row of a
  kernel table walks the kernel positions of its reach (row table: first position, its
  output pixel; then steps of the stride) and the channel groups, one address per cycle
  (positions outside the output take a cycle without SOPs). With ``acc_p`` (the Ca-LIF
  settle phase) the events go into P instead of V. V is `acc_bits` wide during
  accumulation: `lower` proves that the accumulated sum cannot wrap. Events are decoded one
  cycle ahead (the row table is a synchronous ROM), so back-to-back events cost no bubble.
- ``fire`` with ``fire_mode``: one neuron per cycle, slot by slot (padding slots skipped),
  then a marker with `last`; step += 1. Modes: WINDOW (the neuron rule, spikes out), HOLD
  (no change, y = 0), ABSORB (V += P, P = 0, y = 0), SETTLE (Ca-LIF rounding rule). `mon`
  shows every neuron's new (V, S, y) as it is written; `more` (after a pass) tells whether
  some neuron would fire in a SETTLE pass on the new state.
- ``dump``: streams every neuron's stored V and S on `mon` with `mon.dump` set (y = 0),
  nothing else changes, no marker.

Memory reads are enabled only where their data is used: V, P and W at an issued accumulate
address, V, P, S and theta in a fire cycle that is not stalled, v0 while INIT walks its
addresses; the read data registers hold otherwise (an idle core reads no memory).
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._neuron import NeuronUnit
from ._rows import ROW_FIELDS, decode_rows, row_decode, row_table

__all__ = ["NeuronCore", "event_layout", "monitor_signature", "FIRE_MODES", "row_table", "row_decode"]

FIRE_MODES = {"window": 0, "hold": 1, "absorb": 2, "settle": 3}


def event_layout(index_bits, value_bits):
    """Spike event: neuron/row index, signed value, end-of-step marker."""
    return data.StructLayout({"index": unsigned(index_bits), "value": signed(value_bits), "last": 1})


def monitor_signature(index_bits, v_bits, s_bits):
    return wiring.Signature({"valid": Out(1), "index": Out(unsigned(index_bits)),
                             "v": Out(signed(v_bits)), "s": Out(signed(s_bits)),
                             "y": Out(signed(2)), "ovf": Out(1), "dump": Out(1)})


def _ubits(n):
    return max(1, (int(n) - 1).bit_length())


def _sat(m, value, bits):
    """(value saturated to signed `bits`, overflow flag)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    out, ovf = Signal(signed(bits)), Signal()
    m.d.comb += [out.eq(Mux(value > hi, hi, Mux(value < lo, lo, value))), ovf.eq((value > hi) | (value < lo))]
    return out, ovf


def packed_memories(cfg):
    """Names of the memories that hold every lane in one word ("w", "s"), see `_memories`."""
    if not cfg.pack_lanes or cfg.lanes < 2:
        return ()
    return ("w", "s") if cfg.kind != "readout" else ("w",)


class _LaneView:
    """One lane's field of a packed memory port: `addr`, `en` are the shared port's, `data` is
    the lane's slice (signed)."""

    def __init__(self, port, lane, bits, write=False):
        self.addr, self.en = port.addr, port.en
        self.data = port.data[lane * bits:(lane + 1) * bits]
        if not write:
            self.data = self.data.as_signed()


def packed_image(image, lanes, bits):
    """Words of a packed memory: lane l's `image(l)[a]` (two's complement) in bits l*bits ..
    (l+1)*bits - 1 of word a."""
    imgs = [image(lane) for lane in range(lanes)]
    mask = (1 << bits) - 1
    return [sum((int(img[a]) & mask) << (lane * bits) for lane, img in enumerate(imgs))
            for a in range(min(len(img) for img in imgs))]


class _ConstRead:
    """Read port of a parameter that is one value on every real neuron of a lane
    (`CoreConfig.param_constant`): the value itself, no memory; addr and en go nowhere."""

    def __init__(self, value, bits):
        self.addr, self.en = Signal(16), Signal(init=1)
        self.data = Const(value, signed(bits))


def _select(values, index):
    """values[index]: one constant when every entry is the same constant; a Mux chain when all
    are constants (Icarus never evaluates an `always @*` case over constants whose selector has
    not changed since time 0, so an Array of constants reads X at index 0); else an Array."""
    if all(isinstance(v, Const) for v in values):
        if len({v.value for v in values}) == 1:
            return values[0]
        out = values[-1]
        for k in range(len(values) - 2, -1, -1):
            out = Mux(index == k, values[k], out)
        return out
    return Array(values)[index]


def _packed_memory(m, key, bits, depth, images, write=False):
    """A memory of depth `depth` whose word is the lanes' `bits`-wide values side by side, with
    a read port (and a write port the read is transparent for). Returns (read, write, bits)."""
    init = packed_image(lambda lane: images[lane], len(images), bits)
    mem = m.submodules[f"{key}_mem"] = Memory(shape=unsigned(bits * len(images)), depth=depth, init=init)
    wr = mem.write_port() if write else None
    rd = mem.read_port(transparent_for=(wr,)) if write else mem.read_port()
    return rd, wr, bits


class NeuronCore(wiring.Component):
    """One core of the configuration `cfg` (a CoreConfig). See the module docstring."""

    def __init__(self, cfg, *, counters=True, _mutate_ge=False):
        self.cfg, self.counters, self._mutate_ge = cfg, counters, _mutate_ge
        super().__init__({
            "inp": In(stream.Signature(event_layout(cfg.in_index_bits, cfg.x_bits))),
            "out": Out(stream.Signature(event_layout(cfg.out_index_bits, 2))),
            "init": In(1), "acc": In(1), "acc_p": In(1), "fire": In(1), "fire_mode": In(2),
            "dump": In(1), "busy": Out(1), "more": Out(1),
            "mon": Out(monitor_signature(cfg.out_index_bits, cfg.v_bits, cfg.s_bits)),
            "ovf": Out(1),                 # sticky: some V or S left its register
            "sops": Out(32),               # synaptic operations done since reset (wraps)
            "acc_cycles": Out(32),         # cycles spent accumulating since reset (wraps)
        })

    def _memories(self, m):
        """Per lane {port name: port}. With `cfg.pack_lanes` (and lanes > 1) the weight and S
        memories are one memory each whose word holds every lane (lane l in bits l*w .. l*w +
        w - 1): all lanes read one address at once; a lane's port is then a `_LaneView`."""
        cfg, G = self.cfg, self.cfg.groups
        depth = max(2, G)
        packed = packed_memories(cfg)
        lanes, shared = [], {}
        if "w" in packed:
            imgs = [cfg.weight_image(lane) for lane in range(cfg.lanes)]
            shared["w"] = _packed_memory(m, "w", cfg.w_bits, max(2, len(imgs[0])), imgs)
        if "s" in packed:
            shared["s"] = _packed_memory(m, "s", cfg.s_bits, depth, [[] for _ in range(cfg.lanes)], write=True)
        for lane in range(cfg.lanes):
            wimg = cfg.weight_image(lane) if "w" not in packed else []
            v0img = [int(v) for v in cfg.param_image(lane, "v0")]
            if cfg.per_channel:  # theta and v0 once per channel group
                pdepth = max(2, cfg.cgroups)
                v0p = [int(v) for v in cfg.channel_image(lane, cfg.v0)]
                thp = [int(v) for v in cfg.channel_image(lane, cfg.theta)]
            else:
                pdepth, v0p = depth, v0img
                thp = [int(v) for v in cfg.param_image(lane, "theta")]
            consts = {"v0": (cfg.param_constant(lane, "v0"), cfg.v_bits)}
            mems = {"v": Memory(shape=signed(cfg.acc_bits), depth=depth, init=v0img)}
            if consts["v0"][0] is None:
                mems["v0"] = Memory(shape=signed(cfg.v_bits), depth=pdepth, init=v0p)
            if "w" not in packed:
                mems["w"] = Memory(shape=signed(cfg.w_bits), depth=max(2, len(wimg)), init=[int(v) for v in wimg])
            if cfg.kind != "readout":
                if "s" not in packed:
                    mems["s"] = Memory(shape=signed(cfg.s_bits), depth=depth, init=[])
                consts["theta"] = (cfg.param_constant(lane, "theta"), cfg.theta_bits)
                if consts["theta"][0] is None:
                    mems["theta"] = Memory(shape=signed(cfg.theta_bits), depth=pdepth, init=thp)
            if cfg.window:
                mems["p"] = Memory(shape=signed(cfg.p_bits), depth=depth, init=[])
            ports = {}
            for key, mem in mems.items():
                m.submodules[f"{key}_mem{lane}"] = mem
                if key in ("v", "s", "p"):
                    ports[f"{key}w"] = mem.write_port()
                    ports[f"{key}r"] = mem.read_port(transparent_for=(ports[f"{key}w"],))
                else:
                    ports[f"{key}r"] = mem.read_port()
            for key, (value, bits) in consts.items():
                if value is not None:
                    ports[f"{key}r"] = _ConstRead(value, bits)
            for key, (rd, wr, bits) in shared.items():
                ports[f"{key}r"] = _LaneView(rd, lane, bits)
                if wr is not None:
                    ports[f"{key}w"] = _LaneView(wr, lane, bits, write=True)
            lanes.append(ports)
        self._shared = shared
        return lanes

    def _fire_group(self, m, key, new, old, f1_valid, f1_l, advance):
        """Fire write-back of packed memory `key`: the slots of address g come lane by lane, so
        the new values of lanes 0 .. L-2 wait in registers (a padding lane keeps the word read
        at g) and the whole word is written with the last lane. Nothing reads g in between:
        the fire pass reads each address once, ahead of its write-back. Returns the word."""
        L, bits = self.cfg.lanes, self._shared[key][2]
        new_now = Mux(f1_valid, new, Array(old)[f1_l])
        held = [Signal(signed(bits), name=f"{key}_held{lane}") for lane in range(L - 1)]
        with m.If(advance):
            for lane in range(L - 1):
                with m.If(f1_l == lane):
                    m.d.sync += held[lane].eq(new_now)
        return Cat(*held, new_now[:bits])

    def elaborate(self, platform):
        m = Module()
        cfg, L, G = self.cfg, self.cfg.lanes, self.cfg.groups
        lanes = self._memories(m)
        gbits = _ubits(G)
        lay = cfg.conv
        settle = bool(cfg.window)
        last_count = cfg.n - (G - 1) * L  # real neurons in the last group (dense placement)
        bases = cfg.table_bases()
        abits = _ubits(max(2, bases[-1] + cfg.bias_R * G))
        xb = cfg.x_bits

        step = Signal(range(cfg.bias_steps + 1))
        brow = Signal(range(max(2, cfg.bias_R)))  # bias row of this step: min(step, bias_R - 1)
        into_p = Signal()
        ovf, sops, acc_cycles = Signal(), Signal(32), Signal(32)
        m.d.comb += self.ovf.eq(ovf)
        if self.counters:  # instrumentation; synthesis reports leave it out
            m.d.comb += [self.sops.eq(sops), self.acc_cycles.eq(acc_cycles)]

        # --- decode stage: an accepted event whose row data is ready ---------------------
        got_last, d_valid, d_val = Signal(), Signal(), Signal(signed(xb))
        accept = Signal()
        load = Signal()            # the walk takes the decoded event this cycle
        if lay is not None:
            dec = row_decode(cfg)
            if dec is None:
                names, widths, words = row_table(cfg)
                rom = Memory(shape=unsigned(sum(widths)), depth=max(2, len(words)), init=words)
                m.submodules.row_rom = rom
                rom_r = rom.read_port()
                m.d.comb += [rom_r.addr.eq(self.inp.payload.index), rom_r.en.eq(accept)]
                f, pos = {}, 0
                for name, w in zip(names, widths):
                    f[name] = rom_r.data[pos:pos + w]
                    pos += w
            else:
                names, widths = ROW_FIELDS, dec[0]
                f = decode_rows(m, dec, self.inp.payload.index, accept)
            d_row_valid, d_dense, d_tid, d_wa = f["valid"], f["dense"], f["tid"], f["wa"]
        else:
            d_wa = Signal(abits)
            d_row_valid, d_dense = Signal(init=1), Const(1, 1)
            with m.If(accept):
                m.d.sync += d_wa.eq(self.inp.payload.index * G)
                if cfg.first_zero < len(cfg.tables):  # rows of zero tables are dropped
                    m.d.sync += d_row_valid.eq(self.inp.payload.index < cfg.zero_row)

        # --- issue stage (walk) and its write-back stage ---------------------------------
        ev_active, dense_walk, bias_walk = Signal(), Signal(), Signal()
        pc = cfg.per_channel
        val = Signal(signed(xb))
        g = Signal(gbits)            # dense walk: address
        wa = Signal(abits)           # dense walk: row base; kernel walk: address at (ky, kx, 0)
        a1_valid, a1_addr, a1_val = Signal(), Signal(gbits), Signal(signed(xb))
        issue_addr, issue_valid, last_issue, w_addr = Signal(gbits), Signal(), Signal(), Signal(abits)
        n_sop = Signal(range(L + 1))
        lv = (lambda cg: Mux(cg == cfg.cgroups - 1, lay.C - (cfg.cgroups - 1) * L, L)) if lay is not None else None
        if lay is not None:
            Gc, HW = cfg.cgroups, lay.HW
            ktabs = [t.conv for t in cfg.tables]
            kshape = [(1, 1, 1, 1) if k is None else (k.K.shape[2], k.K.shape[3], k.stride[0], k.stride[1])
                      for k in ktabs]
            ybits = max(widths[names.index("y0")], widths[names.index("x0")], _ubits(max(lay.H, lay.W)) + 1) + 1
            kb = max(widths[names.index("ky0")], widths[names.index("kx0")],
                     max(max(s[0], s[1]) for s in kshape).bit_length()) + 1
            tid = Signal(range(max(2, len(cfg.tables))))
            ky, kx, kx0 = Signal(kb), Signal(kb), Signal(kb)
            oy, ox, ox0 = Signal(signed(ybits)), Signal(signed(ybits)), Signal(signed(ybits))
            cg, dcg, dp = Signal(range(max(2, Gc))), Signal(range(max(2, Gc))), Signal(range(max(2, HW)))
            wrow = Signal(abits)

            def per_table(k):
                vals = [s[k] for s in kshape]
                return _select([Const(v) for v in vals], tid)
            KH, KW, SH, SW = (per_table(k) for k in range(4))
            steps_ky = [s[2] * s[1] * Gc for s in kshape]  # address step of ky += sh: sh * KW * Gc
            steps_kx = [s[3] * Gc for s in kshape]
            DKY, DKX = (_select([Const(v) for v in steps], tid) for steps in (steps_ky, steps_kx))
            pos_valid = (oy >= 0) & (oy < lay.H) & (ox >= 0) & (ox < lay.W)
            k_last_x, k_last_y = kx + SW >= KW, ky + SH >= KH
            conv_addr = Signal(gbits)
            m.d.comb += conv_addr.eq(cg * HW + oy * lay.W + ox)
            m.d.comb += [
                issue_addr.eq(Mux(dense_walk, g, conv_addr)),
                issue_valid.eq(ev_active & (dense_walk | pos_valid)),
                last_issue.eq(ev_active & Mux(dense_walk, g == G - 1, (cg == Gc - 1) & k_last_x & k_last_y)),
                w_addr.eq(Mux(dense_walk, Mux(bias_walk, wa + dcg, wa + g) if pc else wa + g, wa + cg)),
                n_sop.eq(Mux(issue_valid, Mux(dense_walk, lv(dcg), lv(cg)), 0)),
            ]
        else:
            m.d.comb += [issue_addr.eq(g), issue_valid.eq(ev_active), last_issue.eq(ev_active & (g == G - 1)),
                         w_addr.eq(wa + g), n_sop.eq(Mux(ev_active, Mux(g == G - 1, last_count, L), 0))]

        # --- fire issue stage and its decide/write-back stage -----------------------------
        nbits = max(cfg.out_index_bits, _ubits(G * L))
        f_active, f_g, f_l, f_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        f1_valid, f1_g, f1_l, f1_n = Signal(), Signal(gbits), Signal(range(max(2, L))), Signal(nbits)
        f1_slot = Signal()  # f1 holds a slot, padding included (f1_valid: a real neuron)
        fmode, dumping, more_acc = Signal(2), Signal(), Signal()
        m.d.comb += self.more.eq(more_acc)
        if lay is not None:  # fire slot (f_g, f_l) -> neuron ((f_cg * L + f_l) * HW + f_p)
            f_cg, f_p = Signal(range(max(2, cfg.cgroups))), Signal(range(max(2, lay.HW)))
            slot_n = (f_cg * L + f_l) * lay.HW + f_p
            slot_valid = f_cg * L + f_l < lay.C
        else:
            slot_n, slot_valid = f_n, f_n < cfg.n
        i_active, i_g, i1_valid, i1_g = Signal(), Signal(gbits), Signal(), Signal(gbits)
        i_cg, i_p = Signal(range(max(2, cfg.cgroups if lay is not None else 2))), Signal(range(max(2, G)))

        # --- neuron rule on the lane selected by f1_l ------------------------------------
        m_hold, m_absorb, m_settle = (fmode == FIRE_MODES["hold"]), (fmode == FIRE_MODES["absorb"]), \
            (fmode == FIRE_MODES["settle"])
        v_in = Array(p["vr"].data for p in lanes)[f1_l]
        p_in = Array(p["pr"].data for p in lanes)[f1_l] if settle else Const(0, 2)
        i_now = Mux(m_absorb & ~dumping, p_in, 0)
        if cfg.kind == "readout":
            y = Signal(signed(2))
            v_out, n_ovf = _sat(m, v_in + i_now, cfg.v_bits)
            s_out = Signal(signed(cfg.s_bits))
            theta = Const(1)
        else:
            i_bits = max(2, cfg.p_bits if settle else 2)
            unit = m.submodules.unit = NeuronUnit(
                cfg.kind, v_bits=cfg.v_bits, vin_bits=cfg.acc_bits, i_bits=i_bits, theta_bits=cfg.theta_bits,
                s_bits=cfg.s_bits, s_min=cfg.s_min, s_max=cfg.s_max, gate=cfg.gate, phases=True,
                _mutate_ge=self._mutate_ge)
            theta = _select([p["thetar"].data for p in lanes], f1_l)
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
        m.d.comb += [self.mon.index.eq(f1_n), self.mon.v.eq(v_out), self.mon.s.eq(s_out),
                     self.mon.y.eq(y), self.mon.ovf.eq(n_ovf), self.mon.dump.eq(dumping)]

        # --- memory ports: one decision per core, each lane's port only takes it ------------
        # (a per-lane copy of every state mux made Verilator evaluate it L times per cycle).
        # A memory is read only in a cycle whose data is used (an idle core reads nothing: less
        # power, and Verilator skips the reads: -11% instructions on the digits net)
        s_packed = "s" in self._shared
        raddr, ren = Signal(gbits), Signal()      # V, P read: ACC issue_addr (en: an issue), FIRE f_g (en: ~stall)
        fren, wren = Signal(), Signal()            # S, theta read (FIRE: ~stall); W read (ACC: an issue)
        v0en = Signal()                            # v0 read (INIT: an address to initialise)
        waddr = Signal(gbits)                      # V, S, P write: INIT i1_g, ACC a1_addr, FIRE f1_g
        wen_v, wen_s, wen_p = Signal(), Signal(), Signal()  # INIT and ACC: every lane at once
        lane_we = Signal(L)                        # FIRE: the one lane written this cycle (one-hot)
        v_src = Signal(2)                          # V write data: 0 v_out (FIRE), 1 v0 (INIT), 2 V + W*x (ACC)
        s_wdata = Signal(signed(cfg.s_bits))       # S write data: 0 (INIT), s_out (FIRE)
        in_fire, group_we = Signal(), Signal()    # FIRE; the write of a packed S word (its last lane)
        for lane, p in enumerate(lanes):
            w = p["wr"].data
            if xb == 2:  # spikes: the product is a choice of +w, -w, 0
                prod = Mux(a1_val == 1, w, Mux(a1_val == -1, -w, 0))
            else:
                prod = w * a1_val
            m.d.comb += [p["wr"].addr.eq(w_addr), p["wr"].en.eq(wren), p["v0r"].addr.eq(i_cg if pc else i_g),
                         p["v0r"].en.eq(v0en),
                         p["vr"].addr.eq(raddr), p["vr"].en.eq(ren), p["vw"].addr.eq(waddr),
                         p["vw"].en.eq(wen_v | lane_we[lane]),
                         p["vw"].data.eq(Mux(v_src[1], p["vr"].data + prod, Mux(v_src[0], p["v0r"].data, v_out)))]
            if "sr" in p:
                m.d.comb += [p["sr"].addr.eq(f_g), p["thetar"].addr.eq(f_cg if pc else f_g),
                             p["sr"].en.eq(fren), p["thetar"].en.eq(fren)]
                if not s_packed:
                    m.d.comb += [p["sw"].addr.eq(waddr), p["sw"].data.eq(s_wdata),
                                 p["sw"].en.eq(wen_s | lane_we[lane])]
            if settle:  # absorb: P of the lane's neuron is cleared as V takes it
                m.d.comb += [p["pr"].addr.eq(raddr), p["pr"].en.eq(ren), p["pw"].addr.eq(waddr),
                             p["pw"].data.eq(Mux(v_src[1], p["pr"].data + prod, 0)),
                             p["pw"].en.eq(wen_p | (lane_we[lane] & m_absorb))]
        if s_packed:  # INIT: every lane 0; FIRE: the held word, written with its last lane
            wr = self._shared["s"][1]
            word = self._fire_group(m, "s", s_out, [p["sr"].data for p in lanes], f1_valid, f1_l,
                                    in_fire & f1_slot & ~stall)
            m.d.comb += [wr.addr.eq(waddr), wr.en.eq(wen_s | group_we), wr.data.eq(Mux(in_fire, word, 0))]

        def start_dense(base, bias=0):
            m.d.sync += [ev_active.eq(1), dense_walk.eq(1), g.eq(0), wa.eq(base), bias_walk.eq(bias)]
            if lay is not None:
                m.d.sync += [dcg.eq(0), dp.eq(0)]

        def start_fire(mode, dump):
            m.d.sync += [f_active.eq(1), f_g.eq(0), f_l.eq(0), f_n.eq(0), fmode.eq(mode), dumping.eq(dump),
                         more_acc.eq(0)]
            if lay is not None:
                m.d.sync += [f_cg.eq(0), f_p.eq(0)]

        with m.FSM(name="phase") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.init):
                    m.d.sync += [i_active.eq(1), i_g.eq(0), i_cg.eq(0), i_p.eq(0), step.eq(0), brow.eq(0),
                                 ovf.eq(0)]
                    m.next = "INIT"
                with m.Elif(self.acc):
                    m.d.sync += [got_last.eq(0), d_valid.eq(0), val.eq(1), into_p.eq(self.acc_p)]
                    with m.If(step < cfg.bias_steps):  # the bias row of this step, every address
                        start_dense(bases[-1] + brow * (cfg.cgroups if pc else G), 1)
                    with m.Else():
                        m.d.sync += ev_active.eq(0)
                    m.next = "ACC"
                with m.Elif(self.fire):
                    start_fire(self.fire_mode, 0)
                    m.next = "FIRE"
                with m.Elif(self.dump):
                    start_fire(FIRE_MODES["hold"], 1)
                    m.next = "FIRE"

            with m.State("INIT"):
                m.d.sync += [i1_valid.eq(i_active), i1_g.eq(i_g)]
                with m.If(i_active):
                    with m.If(i_g == G - 1):
                        m.d.sync += i_active.eq(0)
                    with m.Else():
                        m.d.sync += i_g.eq(i_g + 1)
                        if lay is not None:
                            with m.If(i_p == lay.HW - 1):
                                m.d.sync += [i_p.eq(0), i_cg.eq(i_cg + 1)]
                            with m.Else():
                                m.d.sync += i_p.eq(i_p + 1)
                m.d.comb += [v0en.eq(i_active), waddr.eq(i1_g), v_src.eq(1), wen_v.eq(i1_valid), wen_s.eq(i1_valid),
                             wen_p.eq(i1_valid)]
                with m.If(~i_active & ~i1_valid):
                    m.next = "MARK"

            with m.State("ACC"):
                m.d.sync += acc_cycles.eq(acc_cycles + 1)
                m.d.comb += [load.eq(d_valid & (~ev_active | last_issue)),
                             self.inp.ready.eq(~got_last & (~d_valid | load)),
                             accept.eq(self.inp.valid & self.inp.ready)]
                m.d.sync += [a1_valid.eq(issue_valid), a1_addr.eq(issue_addr), a1_val.eq(val),
                             sops.eq(sops + n_sop)]
                with m.If(accept & self.inp.payload.last):
                    m.d.sync += got_last.eq(1)
                with m.If(accept & ~self.inp.payload.last):
                    m.d.sync += [d_valid.eq(1), d_val.eq(self.inp.payload.value)]
                with m.Elif(load):
                    m.d.sync += d_valid.eq(0)
                # the walk: next address, or the decoded event, or idle
                with m.If(load):
                    m.d.sync += val.eq(d_val)
                    with m.If(~d_row_valid):  # a row without a connection does nothing
                        m.d.sync += ev_active.eq(0)
                    with m.Elif(d_dense):
                        start_dense(d_wa)
                    if lay is not None:
                        with m.Else():
                            m.d.sync += [ev_active.eq(1), dense_walk.eq(0), tid.eq(d_tid), cg.eq(0),
                                         ky.eq(f["ky0"]), kx.eq(f["kx0"]), kx0.eq(f["kx0"]),
                                         oy.eq(f["y0"]), ox.eq(f["x0"]), ox0.eq(f["x0"]),
                                         wa.eq(d_wa), wrow.eq(d_wa)]
                with m.Elif(last_issue):
                    m.d.sync += ev_active.eq(0)
                with m.Elif(ev_active):
                    if lay is None:
                        m.d.sync += g.eq(g + 1)
                    else:
                        with m.If(dense_walk):
                            m.d.sync += g.eq(g + 1)
                            with m.If(dp == lay.HW - 1):
                                m.d.sync += [dp.eq(0), dcg.eq(dcg + 1)]
                            with m.Else():
                                m.d.sync += dp.eq(dp + 1)
                        with m.Elif(cg != Gc - 1):
                            m.d.sync += cg.eq(cg + 1)
                        with m.Else():
                            m.d.sync += cg.eq(0)
                            with m.If(~k_last_x):
                                m.d.sync += [kx.eq(kx + SW), ox.eq(ox - 1), wa.eq(wa + DKX)]
                            with m.Else():
                                m.d.sync += [kx.eq(kx0), ox.eq(ox0), ky.eq(ky + SH), oy.eq(oy - 1),
                                             wrow.eq(wrow + DKY), wa.eq(wrow + DKY)]
                m.d.comb += [raddr.eq(issue_addr), ren.eq(issue_valid), wren.eq(issue_valid), waddr.eq(a1_addr),
                             v_src.eq(2), wen_v.eq(a1_valid & ~into_p), wen_p.eq(a1_valid & into_p)]
                with m.If(got_last & ~d_valid & ~ev_active & ~a1_valid):
                    m.next = "IDLE"

            with m.State("FIRE"):
                m.d.comb += [stall.eq(f1_valid & (y != 0) & ~self.out.ready),
                             self.out.valid.eq(f1_valid & (y != 0)),
                             self.out.payload.index.eq(f1_n), self.out.payload.value.eq(y),
                             self.mon.valid.eq(f1_valid & ~stall)]
                writes = ~dumping & ~m_hold
                with m.If(f1_valid & ~stall & n_ovf & writes):
                    m.d.sync += ovf.eq(1)
                with m.If(f1_valid & ~stall & would_fire & ~dumping):
                    m.d.sync += more_acc.eq(1)
                m.d.comb += [ren.eq(~stall), fren.eq(~stall), raddr.eq(f_g), waddr.eq(f1_g), s_wdata.eq(s_out),
                             in_fire.eq(1),
                             lane_we.eq(Mux(f1_valid & ~stall & writes, Const(1, L) << f1_l, 0)),
                             group_we.eq(f1_slot & ~stall & (f1_l == L - 1) & writes)]
                with m.If(~stall):  # every (address, lane) slot; padding slots are skipped
                    m.d.sync += [f1_valid.eq(f_active & slot_valid), f1_slot.eq(f_active), f1_g.eq(f_g),
                                 f1_l.eq(f_l), f1_n.eq(slot_n)]
                    with m.If(f_active):
                        m.d.sync += f_n.eq(f_n + 1)
                        with m.If((f_g == G - 1) & (f_l == L - 1)):
                            m.d.sync += f_active.eq(0)
                        with m.If(f_l == L - 1):
                            m.d.sync += [f_l.eq(0), f_g.eq(f_g + 1)]
                            if lay is not None:
                                with m.If(f_p == lay.HW - 1):
                                    m.d.sync += [f_p.eq(0), f_cg.eq(f_cg + 1)]
                                with m.Else():
                                    m.d.sync += f_p.eq(f_p + 1)
                        with m.Else():
                            m.d.sync += f_l.eq(f_l + 1)
                    with m.If(~f_active & ~f1_valid):
                        with m.If(dumping):
                            m.d.sync += dumping.eq(0)
                            m.next = "IDLE"
                        with m.Else():
                            with m.If(step < cfg.bias_steps):
                                m.d.sync += step.eq(step + 1)
                                with m.If(brow < cfg.bias_R - 1):
                                    m.d.sync += brow.eq(brow + 1)
                            m.next = "MARK"

            with m.State("MARK"):  # end-of-step marker after init and after every fire phase
                m.d.comb += [self.out.valid.eq(1), self.out.payload.last.eq(1)]
                with m.If(self.out.ready):
                    m.next = "IDLE"
        return m
