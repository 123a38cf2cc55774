"""Network: a DAG of NeuronCores joined by spike-event FIFOs, run one time step at a time.

Port contract (stable; the fast regression bench builds on it):
  `inp` (events of the Source: index, value, last), `init`, `step`, `hold`, `dump`, `busy`,
  `ovf`, `firing`, `settling`, `settle_core`, `settled`, `out` (events of the last core), and
  per core k (k = RtlNetwork.nodes order): `mon{k}` (valid, index, v, s, y, ovf, dump),
  `sops{k}`, `acc_cycles{k}`.
  Changes in this version: `hold`, `dump`, `mon{k}.dump`, `settling`, `settle_core`, `settled`
  are new; `inp` may feed any one core (not only core 0).

Topology: core k's tables name their sources (`Table.source`: an earlier core j, or -1 for the
Source; None: the core before, the Source for core 0). Each source -> core edge has a FIFO of
n_src + 1 events (every neuron spikes once, plus the marker), so a fire phase never blocks. A
core's input merges its sources one after the other within a step: source t's events get
index + (first row of table t); the markers of all but the last source are dropped.

A step (pulse `step`) is two global phases: every core accumulates the events in its input
FIFOs (what its sources fired in the previous step; the core fed by the Source reads `inp`,
the Source's events of the previous step, ended by a `last` marker), then every core fires.
So every synapse edge has delay 1: the network computes `graph.with_delays(1)`. `init`
empties the FIFOs and resets every core (V = v0, S = 0, step 0); each core then sends a
marker (its "spikes of step -1").

Ca-LIF networks (`window` T > 0 in the configs): the first T steps are the window. Every
later `step` is one settle step (docs/ir-format.md): the events of the step go into each
core's pending current P; the active core (`settle_core`, in core order) first ABSORBs (V +=
P), then fires SETTLE passes while its `more` says some neuron would still fire; every
other core HOLDs (state unchanged, every neuron still shown on its monitor). After the last
core `settled` rises (later steps hold). `hold` with `step`: every core holds, the settle
state stays (a host aligning samples of a batch uses it).

`dump` (while idle): every core streams each neuron's stored V and S on `mon{k}` with
`mon{k}.dump` set; `busy` stays high until every core is done.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hwsnn.errors import MappingError

from ._core import FIRE_MODES, NeuronCore, core_monitor, event_layout, monitor_signature
from ._maxpool import MaxPoolUnit
from ._ram_fifo import RamFIFO

__all__ = ["Network", "core_sources"]


def core_sources(configs):
    """Per core, the source of each table (-1: the Source), with the chain default filled in."""
    out = []
    for k, c in enumerate(configs):
        out.append([(k - 1 if t.source is None else t.source) for t in c.tables])
    return out


class Network(wiring.Component):
    """Cores `configs` (CoreConfig list, in topological order). See the module docstring."""

    def __init__(self, configs, *, counters=True, rom=None, _mutate_ge=False):
        # rom: a `_rom.RomFiles` folder for the cores' read-only memories (see NeuronCore); with
        # `rom.rams` the read-write ones and the FIFOs' storage are `hwsnn_ram` (no initial contents)
        configs = list(configs)
        if not configs:
            raise MappingError("Network: needs at least one core, not 0")
        self.sources = core_sources(configs)
        feeds = [k for k, srcs in enumerate(self.sources) if -1 in srcs]
        if len(feeds) != 1 or self.sources[feeds[0]].count(-1) != 1:
            raise MappingError(f"Network: exactly one core must read the Source, not cores {feeds}")
        n_src = None
        for k, (c, srcs) in enumerate(zip(configs, self.sources)):
            for t, j in zip(c.tables, srcs):
                if j >= k or j < -1:
                    raise MappingError(f"Network: core '{c.name}' must take its inputs from earlier cores, "
                                       f"not core {j}")
                if j == -1:
                    n_src = t.n_rows
                elif t.n_rows != getattr(configs[j], "n_spikes", configs[j].n):  # a max pool: n_out
                    raise MappingError(f"Network: core '{c.name}' must take {configs[j].n} spike inputs "
                                       f"from core '{configs[j].name}', not {t.n_rows}")
                elif c.x_bits < 2:
                    raise MappingError(f"Network: core '{c.name}' takes spikes: x_bits must be >= 2, "
                                       f"not {c.x_bits}")
        windows = {c.window for c in configs}
        if len(windows) != 1:
            raise MappingError(f"Network: all cores must share one Ca-LIF window, not {sorted(windows)}")
        self.window = windows.pop()
        self.configs, self.counters, self.rom, self._mutate_ge = configs, counters, rom, _mutate_ge
        self.feed = feeds[0]
        first, last = configs[self.feed], configs[-1]
        in_bits = max(1, (int(n_src) - 1).bit_length())
        sig = {"inp": In(stream.Signature(event_layout(in_bits, first.x_bits))),
               "out": Out(stream.Signature(event_layout(last.out_index_bits, 2))),
               "init": In(1), "step": In(1), "hold": In(1), "dump": In(1), "busy": Out(1), "ovf": Out(1),
               "firing": Out(1),    # the fire phase of a step is under way
               "settling": Out(1), "settle_core": Out(range(len(configs) + 1)), "settled": Out(1)}
        for k, c in enumerate(configs):
            sig[f"mon{k}"] = Out(core_monitor(c) if getattr(c, "kind", "") != "maxpool" else
                                 monitor_signature(c.out_index_bits, c.v_bits, c.s_bits))
            sig[f"sops{k}"] = Out(32)
            sig[f"acc_cycles{k}"] = Out(32)
        super().__init__(sig)

    def _merge(self, m, k, core, streams, flush):
        """Drive core.inp from its sources' streams (valid, view, ready-signal), one after another."""
        offs = core.cfg.offsets()
        if len(streams) == 1:
            valid, view, ready = streams[0]
            m.d.comb += [core.inp.valid.eq(valid), core.inp.payload.index.eq(view.index),
                         core.inp.payload.value.eq(view.value), core.inp.payload.last.eq(view.last),
                         ready.eq(core.inp.ready)]
            return
        cur = Signal(range(len(streams)), name=f"merge{k}_cur")
        with m.Switch(cur):
            for t, ((valid, view, ready), off) in enumerate(zip(streams, offs)):
                with m.Case(t):
                    final = t == len(streams) - 1
                    if final:
                        m.d.comb += [core.inp.valid.eq(valid), core.inp.payload.last.eq(view.last),
                                     ready.eq(core.inp.ready)]
                        with m.If(valid & view.last & core.inp.ready):
                            m.d.sync += cur.eq(0)
                    else:  # this source's marker only moves on to the next source
                        m.d.comb += [core.inp.valid.eq(valid & ~view.last),
                                     ready.eq(Mux(view.last, 1, core.inp.ready))]
                        with m.If(valid & view.last):
                            m.d.sync += cur.eq(t + 1)
                    m.d.comb += [core.inp.payload.index.eq(view.index + off),
                                 core.inp.payload.value.eq(view.value)]
        with m.If(flush):  # init empties the FIFOs: start again at the first source (last wins)
            m.d.sync += cur.eq(0)

    def elaborate(self, platform):
        m = Module()
        cores, n = [], len(self.configs)
        for k, cfg in enumerate(self.configs):
            if getattr(cfg, "kind", "") == "maxpool":  # no read-only memory
                core = MaxPoolUnit(cfg, counters=self.counters, _mutate_ge=self._mutate_ge)
            else:
                core = NeuronCore(cfg, counters=self.counters, rom=self.rom, _mutate_ge=self._mutate_ge)
            m.submodules[f"core{k}"] = core
            cores.append(core)
            wiring.connect(m, wiring.flipped(getattr(self, f"mon{k}")), core.mon)
            m.d.comb += [getattr(self, f"sops{k}").eq(core.sops),
                         getattr(self, f"acc_cycles{k}").eq(core.acc_cycles)]
        flush = Signal()
        # rom mode (simulation): the FIFOs' storage an hwsnn_ram without initial contents
        fifo_cls = RamFIFO if self.rom is not None and self.rom.rams else SyncFIFOBuffered
        consumers = {j: [] for j in range(n)}  # core j -> FIFO write sides
        streams = {k: [] for k in range(n)}
        for k, srcs in enumerate(self.sources):
            for t, j in enumerate(srcs):
                if j == -1:
                    streams[k].append((self.inp.valid, self.inp.payload, self.inp.ready))
                    continue
                layout = event_layout(cores[j].cfg.out_index_bits, 2)
                fifo = fifo_cls(width=layout.size, depth=cores[j].cfg.n + 1)
                m.submodules[f"fifo{j}_{k}_{t}"] = ResetInserter(flush)(fifo)  # init empties the FIFOs
                consumers[j].append(fifo)
                r_en = Signal(name=f"fifo{j}_{k}_{t}_ren")
                m.d.comb += fifo.r_en.eq(r_en)
                streams[k].append((fifo.r_rdy, layout(fifo.r_data), r_en))
        for k, core in enumerate(cores):
            self._merge(m, k, core, streams[k], flush)
        for j, core in enumerate(cores):  # a core's spikes go to every consumer at once
            outs = consumers[j]
            readys = [f.w_rdy for f in outs] + ([self.out.ready] if j == n - 1 else [])
            all_ready = Cat(*readys).all() if readys else Const(1)
            m.d.comb += core.out.ready.eq(all_ready)
            for f in outs:
                m.d.comb += [f.w_data.eq(core.out.payload.as_value()), f.w_en.eq(core.out.valid & all_ready)]
        m.d.comb += [self.out.valid.eq(cores[-1].out.valid), self.out.payload.eq(cores[-1].out.payload)]

        any_busy = Signal()
        m.d.comb += [any_busy.eq(Cat(c.busy for c in cores).any()), self.ovf.eq(Cat(c.ovf for c in cores).any())]
        T = self.window
        t = Signal(range(T + 1))                 # window steps done (saturates at T)
        active = Signal(range(n + 1))           # settle: the core whose turn it is
        absorb = Signal()                        # settle: the active core absorbs next
        hold_r = Signal()
        settling = Signal()
        m.d.comb += settling.eq((T > 0) & (t == T))
        done = active == n
        m.d.comb += [self.settling.eq(settling), self.settle_core.eq(active), self.settled.eq(settling & done)]
        more = Array(c.more for c in cores)[active] if n > 1 else cores[0].more
        with m.FSM(name="ctrl") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.init):
                    m.d.comb += [c.init.eq(1) for c in cores] + [flush.eq(1)]
                    m.d.sync += [t.eq(0), active.eq(0), absorb.eq(1)]
                    m.next = "WAIT"
                with m.Elif(self.step):
                    m.d.comb += [c.acc.eq(1) for c in cores] + [c.acc_p.eq(settling) for c in cores]
                    m.d.sync += hold_r.eq(self.hold)
                    m.next = "ACC"
                with m.Elif(self.dump):
                    m.d.comb += [c.dump.eq(1) for c in cores]
                    m.next = "WAIT"
            with m.State("ACC"):  # a core is busy from the cycle after its command
                with m.If(~any_busy):
                    for k, c in enumerate(cores):
                        mine = settling & ~hold_r & (active == k)
                        mode = Mux(~settling, FIRE_MODES["window"],
                                   Mux(mine, Mux(absorb, FIRE_MODES["absorb"], FIRE_MODES["settle"]),
                                       FIRE_MODES["hold"]))
                        m.d.comb += [c.fire.eq(1), c.fire_mode.eq(mode)]
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += self.firing.eq(1)
                with m.If(~any_busy):
                    with m.If(~settling):
                        if T:
                            m.d.sync += t.eq(t + 1)
                    with m.Elif(~hold_r & ~done):
                        with m.If(more):
                            m.d.sync += absorb.eq(0)
                        with m.Else():
                            m.d.sync += [active.eq(active + 1), absorb.eq(1)]
                    m.next = "IDLE"
            with m.State("WAIT"):
                with m.If(~any_busy):
                    m.next = "IDLE"
        return m
