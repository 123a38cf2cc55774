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

Stages: `_core_walk` (row decoding, accumulate walk), `_core_fire` (init walk, fire scan,
fire unit), `_core_memory` (memories, the shared port decisions); this module wires them and
runs the phases.
"""

from types import SimpleNamespace

from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._core_fire import FIRE_MODES, FireScan, FireUnit, InitWalk
from ._core_memory import MemoryPorts, lane_memories, packed_image, packed_memories
from ._core_walk import AccumulateWalk, RowDecode
from ._rows import row_decode, row_table

__all__ = ["NeuronCore", "event_layout", "monitor_signature", "core_monitor", "FIRE_MODES", "row_table", "row_decode",
           "packed_image", "packed_memories"]


def event_layout(index_bits, value_bits):
    """Spike event: neuron/row index, signed value, end-of-step marker."""
    return data.StructLayout({"index": unsigned(index_bits), "value": signed(value_bits), "last": 1})


def monitor_signature(index_bits, v_bits, s_bits, u_bits=None):
    """Monitor of a core: neuron index, its new V, S, y (and u of a CUBA-LIF core), ovf, dump."""
    members = {"valid": Out(1), "index": Out(unsigned(index_bits)), "v": Out(signed(v_bits)),
               "s": Out(signed(s_bits)), "y": Out(signed(2)), "ovf": Out(1), "dump": Out(1)}
    if u_bits:
        members["u"] = Out(signed(u_bits))
    return wiring.Signature(members)


def core_monitor(cfg):
    """The monitor signature of core `cfg`."""
    return monitor_signature(cfg.out_index_bits, cfg.v_bits, cfg.s_bits,
                             cfg.u_bits if cfg.kind == "cubalif" else None)


class NeuronCore(wiring.Component):
    """One core of the configuration `cfg` (a CoreConfig). See the module docstring.

    `elaborate` wires the stages (row decoding, accumulate walk, init walk, fire scan, fire
    unit, memory ports) and the phase machine IDLE -> INIT | ACC | FIRE -> (MARK) -> IDLE, each
    phase a method that drives the stages' controls."""

    def __init__(self, cfg, *, counters=True, rom=None, _mutate_ge=False):
        # rom: a `_rom.RomFiles` folder: the read-only memories load image files ($readmemh)
        # instead of inline initial values (simulation; None: inline, for synthesis flows)
        # _mutate_ge (tests only): the neuron rule's mutation, the threshold compare >= made >
        # (a CUBA-LIF core: its decays rounded toward -inf instead of toward zero)
        self.cfg, self.counters, self.rom, self._mutate_ge = cfg, counters, rom, _mutate_ge
        super().__init__({
            "inp": In(stream.Signature(event_layout(cfg.in_index_bits, cfg.x_bits))),
            "out": Out(stream.Signature(event_layout(cfg.out_index_bits, 2))),
            "init": In(1), "acc": In(1), "acc_p": In(1), "fire": In(1), "fire_mode": In(2),
            "dump": In(1), "busy": Out(1), "more": Out(1),
            "mon": Out(core_monitor(cfg)),
            "ovf": Out(1),                 # sticky: some V or S left its register
            "sops": Out(32),               # synaptic operations done since reset (wraps)
            "acc_cycles": Out(32),         # cycles spent accumulating since reset (wraps)
        })

    def _memories(self, m):
        """Per lane {port name: port} (see `_core_memory.lane_memories`)."""
        lanes, self._shared = lane_memories(m, self.cfg, self.rom)
        return lanes

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        lanes = self._memories(m)
        step = Signal(range(cfg.bias_steps + 1))
        brow = Signal(range(max(2, cfg.bias_R)))  # bias row of this step: min(step, bias_R - 1)
        into_p = Signal()
        ovf, sops, acc_cycles = Signal(), Signal(32), Signal(32)
        m.d.comb += self.ovf.eq(ovf)
        if self.counters:  # instrumentation; synthesis reports leave it out
            m.d.comb += [self.sops.eq(sops), self.acc_cycles.eq(acc_cycles)]
        s = SimpleNamespace(step=step, brow=brow, into_p=into_p, ovf=ovf, sops=sops, acc_cycles=acc_cycles)

        s.dec = RowDecode(m, cfg, self.inp.payload.index, self.rom)
        s.walk = AccumulateWalk(m, cfg, s.dec)
        s.scan = FireScan(m, cfg)
        m.d.comb += self.more.eq(s.scan.more_acc)
        s.init = InitWalk(m, cfg)
        s.unit = u = FireUnit(m, cfg, lanes, s.scan, self._mutate_ge)
        m.d.comb += [self.mon.index.eq(s.scan.f1_n), self.mon.v.eq(u.v_out), self.mon.s.eq(u.s_out),
                     self.mon.y.eq(u.y), self.mon.ovf.eq(u.n_ovf), self.mon.dump.eq(s.scan.dumping)]
        if u.u_out is not None:
            m.d.comb += self.mon.u.eq(u.u_out)
        s.ports = MemoryPorts(cfg)
        s.ports.connect(m, cfg, lanes, self._shared, s.walk, s.init, s.scan, u)

        with m.FSM(name="phase") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                self._idle(m, s)
            with m.State("INIT"):
                self._init(m, s)
            with m.State("ACC"):
                self._accumulate(m, s)
            with m.State("FIRE"):
                self._fire(m, s)
            with m.State("MARK"):  # end-of-step marker after init and after every fire phase
                m.d.comb += [self.out.valid.eq(1), self.out.payload.last.eq(1)]
                with m.If(self.out.ready):
                    m.next = "IDLE"
        return m

    def _idle(self, m, s):
        """Take a command: init, acc (first the bias row of this step), fire, dump."""
        cfg = self.cfg
        with m.If(self.init):
            m.d.sync += [*s.init.start(), s.step.eq(0), s.brow.eq(0), s.ovf.eq(0)]
            m.next = "INIT"
        with m.Elif(self.acc):
            into_p = 1 if cfg.kind == "cubalif" else self.acc_p  # CUBA-LIF: the step's input goes to P
            m.d.sync += [s.dec.got_last.eq(0), s.dec.d_valid.eq(0), s.walk.val.eq(1), s.into_p.eq(into_p)]
            with m.If(s.step < cfg.bias_steps):  # the bias row of this step, every address
                s.walk.start_dense(m, cfg.table_bases()[-1] + s.brow * (cfg.cgroups if cfg.per_channel
                                                                         else cfg.groups), 1)
            with m.Else():
                m.d.sync += s.walk.ev_active.eq(0)
            m.next = "ACC"
        with m.Elif(self.fire):
            s.scan.start(m, self.fire_mode, 0)
            m.next = "FIRE"
        with m.Elif(self.dump):
            s.scan.start(m, FIRE_MODES["hold"], 1)
            m.next = "FIRE"

    def _init(self, m, s):
        """V = v0, S = 0, P = 0 at every address, all lanes; then the marker."""
        init, ports = s.init, s.ports
        init.advance(m)
        m.d.comb += [ports.v0en.eq(init.i_active), ports.waddr.eq(init.i1_g), ports.v_src.eq(1),
                     ports.wen_v.eq(init.i1_valid), ports.wen_s.eq(init.i1_valid), ports.wen_p.eq(init.i1_valid)]
        with m.If(~init.i_active & ~init.i1_valid):
            m.next = "MARK"

    def _accumulate(self, m, s):
        """Events in, decoded, walked: V (or P with acc_p) += W * x at every issued address."""
        dec, walk, ports = s.dec, s.walk, s.ports
        m.d.sync += s.acc_cycles.eq(s.acc_cycles + 1)
        dec.handshake(m, self.inp, walk)
        walk.write_back(m)
        m.d.sync += s.sops.eq(s.sops + walk.n_sop)
        dec.take(m, self.inp)
        walk.step(m, dec)
        m.d.comb += [ports.raddr.eq(walk.issue_addr), ports.ren.eq(walk.issue_valid), ports.wren.eq(walk.issue_valid),
                     ports.waddr.eq(walk.a1_addr), ports.v_src.eq(2), ports.wen_v.eq(walk.a1_valid & ~s.into_p),
                     ports.wen_p.eq(walk.a1_valid & s.into_p)]
        with m.If(dec.got_last & ~dec.d_valid & ~walk.ev_active & ~walk.a1_valid):
            m.next = "IDLE"

    def _fire(self, m, s):
        """One neuron per cycle through the fire unit; spikes on `out` (the scan stalls while one
        waits); at the end the next step (fire) or IDLE (readback)."""
        cfg, scan, u, ports = self.cfg, s.scan, s.unit, s.ports
        L, stall, f1_valid = cfg.lanes, u.stall, scan.f1_valid
        m.d.comb += [stall.eq(f1_valid & (u.y != 0) & ~self.out.ready),
                     self.out.valid.eq(f1_valid & (u.y != 0)),
                     self.out.payload.index.eq(scan.f1_n), self.out.payload.value.eq(u.y),
                     self.mon.valid.eq(f1_valid & ~stall)]
        writes = ~scan.dumping & ~u.m_hold
        with m.If(f1_valid & ~stall & u.n_ovf & writes):
            m.d.sync += s.ovf.eq(1)
        with m.If(f1_valid & ~stall & u.would_fire & ~scan.dumping):
            m.d.sync += scan.more_acc.eq(1)
        m.d.comb += [ports.ren.eq(~stall), ports.fren.eq(~stall), ports.raddr.eq(scan.f_g),
                     ports.waddr.eq(scan.f1_g), ports.s_wdata.eq(u.s_out), ports.in_fire.eq(1),
                     ports.lane_we.eq(Mux(f1_valid & ~stall & writes, Const(1, L) << scan.f1_l, 0)),
                     ports.group_we.eq(scan.f1_slot & ~stall & (scan.f1_l == L - 1) & writes)]
        with m.If(~stall):  # every (address, lane) slot; padding slots are skipped
            scan.advance(m)
            with m.If(~scan.f_active & ~f1_valid):
                with m.If(scan.dumping):
                    m.d.sync += scan.dumping.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    with m.If(s.step < cfg.bias_steps):
                        m.d.sync += s.step.eq(s.step + 1)
                        with m.If(s.brow < cfg.bias_R - 1):
                            m.d.sync += s.brow.eq(s.brow + 1)
                    m.next = "MARK"
