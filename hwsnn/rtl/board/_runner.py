"""SampleRunner: plays one sample's source events from the frame buffer into the Network and
collects the answer: the readout's V after the last step, its argmax, the cycle count and the
spike count of every spiking core.

The buffer holds 24-bit records (index u16 with bit 15 = end of step, value i8; see
`_protocol`). For step t < steps: pulse `step`, feed the records up to the next end-of-step
record on `inp` (the last event has `last`; the steps after the records get only `last`),
wait until the network is idle. Before the first step: `init`. The readout core's monitor
writes V into one register per output neuron at every fire pass, so after the last step they
hold the final V. Counters: 32 bits, wrap (2^32 cycles at 100 MHz is 43 s per sample).
"""

from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ._protocol import MARKER

__all__ = ["SampleRunner"]


class SampleRunner(wiring.Component):
    """`net`: the Network component (a submodule of the caller); `readout`: its readout core
    index; `spiking`: the indices of its spiking cores; `addr_bits`: buffer address width."""

    def __init__(self, net, readout, spiking, n_out, addr_bits):
        self.net, self.readout, self.spiking, self.n_out = net, readout, list(spiking), n_out
        v_bits = net.configs[readout].v_bits
        sig = {"start": In(1), "steps": In(16), "n_records": In(addr_bits + 1), "done": Out(1),
               "rd_addr": Out(addr_bits), "rd_data": In(24),
               "cycles": Out(32), "ovf": Out(1), "cls": Out(16)}
        for i in range(n_out):
            sig[f"v{i}"] = Out(signed(v_bits))
        for j in range(len(self.spiking)):
            sig[f"spikes{j}"] = Out(32)
        super().__init__(sig)

    def elaborate(self, platform):
        m = Module()
        net = self.net
        v = [getattr(self, f"v{i}") for i in range(self.n_out)]
        spikes = [getattr(self, f"spikes{j}") for j in range(len(self.spiking))]
        running = Signal()
        m.d.comb += self.done.eq(0)
        with m.If(running):
            m.d.sync += self.cycles.eq(self.cycles + 1)
            with m.If(net.ovf):
                m.d.sync += self.ovf.eq(1)
        for j, k in enumerate(self.spiking):  # |y| of every neuron update, one per cycle per core
            mon = getattr(net, f"mon{k}")
            with m.If(running & mon.valid & ~mon.dump & (mon.y != 0)):
                m.d.sync += spikes[j].eq(spikes[j] + 1)
        mon = getattr(net, f"mon{self.readout}")
        with m.If(running & mon.valid & ~mon.dump):
            with m.Switch(mon.index):
                for i in range(self.n_out):
                    with m.Case(i):
                        m.d.sync += v[i].eq(mon.v)

        ptr = Signal.like(self.n_records)      # next record to feed
        advance = Signal()
        m.d.comb += self.rd_addr.eq(Mux(advance, ptr + 1, ptr))  # read data follows ptr
        t = Signal(16)
        word = self.rd_data
        is_marker = (word[:16] & MARKER) != 0
        at_end = ptr >= self.n_records
        n_in = net.inp.payload.index.shape().width
        xb = net.inp.payload.value.shape().width
        best, i_arg = Signal(signed(v[0].shape().width)), Signal(range(max(2, self.n_out + 1)))
        with m.FSM(name="runner"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [self.cycles.eq(0), self.ovf.eq(0), ptr.eq(0), t.eq(0), running.eq(1)]
                    m.d.sync += [s.eq(0) for s in spikes]
                    m.next = "INIT"
            with m.State("INIT"):
                m.d.comb += net.init.eq(1)
                m.next = "WAIT"
            with m.State("WAIT"):  # the network is busy from the cycle after a command
                with m.If(~net.busy):
                    with m.If(t == self.steps):
                        m.d.sync += running.eq(0)
                        m.next = "ARGMAX0"
                    with m.Else():
                        m.next = "STEP"
            with m.State("STEP"):
                m.d.comb += net.step.eq(1)
                m.d.sync += t.eq(t + 1)
                m.next = "FEED"
            with m.State("FEED"):
                last = at_end | is_marker
                m.d.comb += [net.inp.valid.eq(1), net.inp.payload.last.eq(last),
                             net.inp.payload.index.eq(Mux(last, 0, word[:n_in])),
                             net.inp.payload.value.eq(Mux(last, 0, word[16:16 + xb]))]
                with m.If(net.inp.ready):
                    with m.If(~at_end):
                        m.d.comb += advance.eq(1)
                        m.d.sync += ptr.eq(ptr + 1)
                    with m.If(last):
                        m.next = "WAIT"
            with m.State("ARGMAX0"):  # first maximum wins (numpy argmax)
                m.d.sync += [best.eq(v[0]), self.cls.eq(0), i_arg.eq(1)]
                m.next = "ARGMAX"
            with m.State("ARGMAX"):
                with m.If(i_arg == self.n_out):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    cand = Array(v)[i_arg]
                    with m.If(cand > best):
                        m.d.sync += [best.eq(cand), self.cls.eq(i_arg)]
                    m.d.sync += i_arg.eq(i_arg + 1)
        return m
