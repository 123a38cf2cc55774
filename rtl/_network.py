"""Network: a chain of NeuronCores joined by spike-event FIFOs, run one time step at a time.

A step (pulse `step`) is two global phases: every core accumulates the events in its input
FIFO (the spikes its predecessor fired in the previous step; core 0 reads `inp`, the source
events of the previous step, ended by a `last` marker), then every core fires into the next
core's FIFO. So every synapse edge has delay 1: the network computes `graph.with_delays(1)`.
Each FIFO holds n + 1 events (every neuron spikes once, plus the marker), so a fire phase
never blocks. `init` empties the FIFOs and resets every core's state (V = v0, S = 0,
step = 0); each core then sends a marker (its "spikes of step -1").
"""

from amaranth.hdl import Cat, Module, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from hwsnn.errors import MappingError

from ._core import NeuronCore, event_layout, monitor_signature

__all__ = ["Network"]


class Network(wiring.Component):
    """Cores `configs` (CoreConfig list, in order); core k+1 takes core k's spikes as input.

    Ports: `inp` (events into core 0), `out` (events of the last core), `init`, `step`,
    `busy`, `ovf`, and per core k: `mon{k}` (its monitor), `sops{k}`, `acc_cycles{k}`.
    """

    def __init__(self, configs, *, counters=True, _mutate_ge=False):
        configs = list(configs)
        if not configs:
            raise MappingError("Network: needs at least one core, not 0")
        for a, b in zip(configs, configs[1:]):
            if b.n_in != a.n or b.x_bits != 2:
                raise MappingError(f"Network: core '{b.name}' must take {a.n} spike inputs (x_bits 2) "
                                   f"from core '{a.name}', not {b.n_in} (x_bits {b.x_bits})")
        self.configs, self.counters, self._mutate_ge = configs, counters, _mutate_ge
        first, last = configs[0], configs[-1]
        sig = {"inp": In(stream.Signature(event_layout(first.in_index_bits, first.x_bits))),
               "out": Out(stream.Signature(event_layout(last.out_index_bits, 2))),
               "init": In(1), "step": In(1), "busy": Out(1), "ovf": Out(1),
               "firing": Out(1)}  # the fire phase of a step is under way
        for k, c in enumerate(configs):
            sig[f"mon{k}"] = Out(monitor_signature(c.out_index_bits, c.v_bits, c.s_bits))
            sig[f"sops{k}"] = Out(32)
            sig[f"acc_cycles{k}"] = Out(32)
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        cores = []
        for k, cfg in enumerate(self.configs):
            core = NeuronCore(cfg, counters=self.counters, _mutate_ge=self._mutate_ge)
            m.submodules[f"core{k}"] = core
            cores.append(core)
            wiring.connect(m, wiring.flipped(getattr(self, f"mon{k}")), core.mon)
            m.d.comb += [getattr(self, f"sops{k}").eq(core.sops),
                         getattr(self, f"acc_cycles{k}").eq(core.acc_cycles)]
        wiring.connect(m, wiring.flipped(self.inp), cores[0].inp)
        wiring.connect(m, cores[-1].out, wiring.flipped(self.out))
        flush = Signal()
        for k, (a, b) in enumerate(zip(cores, cores[1:])):
            width = event_layout(a.cfg.out_index_bits, 2).size
            fifo = SyncFIFOBuffered(width=width, depth=a.cfg.n + 1)
            m.submodules[f"fifo{k}"] = ResetInserter(flush)(fifo)  # init empties the FIFOs
            m.d.comb += [fifo.w_data.eq(a.out.payload.as_value()), fifo.w_en.eq(a.out.valid),
                         a.out.ready.eq(fifo.w_rdy),
                         b.inp.payload.as_value().eq(fifo.r_data), b.inp.valid.eq(fifo.r_rdy),
                         fifo.r_en.eq(b.inp.ready)]
        any_busy = Signal()
        m.d.comb += any_busy.eq(Cat(c.busy for c in cores).any())
        m.d.comb += self.ovf.eq(Cat(c.ovf for c in cores).any())
        with m.FSM(name="ctrl") as fsm:
            m.d.comb += self.busy.eq(~fsm.ongoing("IDLE"))
            with m.State("IDLE"):
                with m.If(self.init):
                    m.d.comb += [c.init.eq(1) for c in cores] + [flush.eq(1)]
                    m.next = "WAIT"
                with m.Elif(self.step):
                    m.d.comb += [c.acc.eq(1) for c in cores]
                    m.next = "ACC"
            with m.State("ACC"):  # a core is busy from the cycle after its command
                with m.If(~any_busy):
                    m.d.comb += [c.fire.eq(1) for c in cores]
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += self.firing.eq(1)
                with m.If(~any_busy):
                    m.next = "IDLE"
            with m.State("WAIT"):
                with m.If(~any_busy):
                    m.next = "IDLE"
        return m
