"""iLIF pipeline (SpikeConverter): one clock cycle per time step, one unit per layer.

Every layer has a period of 2T cycles: accumulate (p < T): V = 2V + I, the bias added at
p = T - 1; generate (p >= T): V = 2V, y = V >= theta, V -= y*theta, S = 2S + y (S: the output
code, MSB first). Layer k starts kT cycles after layer 0 (inter-layer direct delivery: layer k
accumulates the spikes layer k - 1 generates in the same cycle, delay 0). A horner Readout
accumulates V = 2V + I while the last layer generates.

State is double-buffered: sample s uses bank s % 2, so a new sample enters every 2T cycles
while the previous sample's state stays readable. The first accumulate cycle of a window
starts the bank afresh (V = I, S = 0), exactly the golden initial state V = S = 0.

Widths: I is summed exactly (Amaranth widens); V is stored in `v_bits` and saturates there
with `ovf` set (the golden simulator raises RangeError in that case); S is T + 1 bits.
Weights are constants: each layer's neurons work in parallel (an adder tree per neuron).
"""

from dataclasses import dataclass

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hwsnn.errors import MappingError

__all__ = ["ILIFLayer", "ILIFPipeline"]


@dataclass(eq=False)
class ILIFLayer:
    """One layer: W (n, n_in) integer, theta and bias (n,), v_bits; kind "ilif" or "readout"."""

    name: str
    kind: str
    W: np.ndarray
    theta: np.ndarray
    bias: np.ndarray
    v_bits: int

    @property
    def n(self):
        return self.W.shape[0]


class ILIFPipeline(wiring.Component):
    """Layers `layers` (ILIFLayer, in order; an optional readout last), window length `T`.

    Ports: `x` (n_in spikes of this cycle, MSB-first bits of the current sample), `run`
    (advance one step per cycle while high), `v{k}_b{j}`, `s{k}_b{j}` (bank j of layer k, neuron
    n at bits n*w ...), `y{k}` (this cycle's spikes), `bank{k}` (bank layer k works on), `ovf`,
    `code_valid` (the last ILIF layer finished a sample's code this cycle).
    """

    def __init__(self, layers, T, n_in):
        layers = list(layers)
        if T < 1:
            raise MappingError(f"ILIFPipeline: T must be >= 1, not {T}")
        for k, layer in enumerate(layers):
            prev = n_in if k == 0 else layers[k - 1].n
            if layer.W.shape[1] != prev:
                raise MappingError(f"ILIFPipeline: layer '{layer.name}' must take {prev} inputs, "
                                   f"not {layer.W.shape[1]}")
            if layer.kind == "readout" and k != len(layers) - 1:
                raise MappingError(f"ILIFPipeline: readout '{layer.name}' must be the last layer")
        self.layers, self.T, self.n_in = layers, T, n_in
        sig = {"x": In(n_in), "run": In(1), "ovf": Out(1), "code_valid": Out(1)}
        for k, layer in enumerate(layers):
            for j in (0, 1):
                sig[f"v{k}_b{j}"] = Out(layer.n * layer.v_bits)
                sig[f"s{k}_b{j}"] = Out(layer.n * (T + 1))
            sig[f"y{k}"] = Out(layer.n)
            sig[f"bank{k}"] = Out(1)
        super().__init__(sig)

    def _layer(self, m, k, layer, x_in, start):
        """Registers and update of layer k; returns its spikes (this cycle)."""
        T, n = self.T, layer.n
        lo, hi = -(1 << (layer.v_bits - 1)), (1 << (layer.v_bits - 1)) - 1
        # phase counter: waits kT cycles (the pipeline fill), then cycles 0 .. 2T - 1
        delay = Signal(range(max(2, k * T + 1)), init=0)
        p = Signal(range(2 * T))
        bank = Signal()
        live = Signal()
        with m.If(start):
            with m.If(~live):
                with m.If(delay == k * T):
                    m.d.sync += [live.eq(1), p.eq(1 % (2 * T)), bank.eq(0)]
                with m.Else():
                    m.d.sync += delay.eq(delay + 1)
            with m.Else():
                with m.If(p == 2 * T - 1):
                    m.d.sync += [p.eq(0), bank.eq(~bank)]
                with m.Else():
                    m.d.sync += p.eq(p + 1)
        # this cycle's phase (the counter's value, or 0 on the very first live cycle)
        first = start & ~live & (delay == k * T)
        phase = Mux(first, 0, p)
        cur_bank = Mux(first, 0, bank)
        active = start & (live | first)
        m.d.comb += getattr(self, f"bank{k}").eq(cur_bank)
        V = [[Signal(signed(layer.v_bits), name=f"l{k}_v{i}_b{j}") for i in range(n)] for j in (0, 1)]
        S = [[Signal(signed(T + 1), name=f"l{k}_s{i}_b{j}") for i in range(n)] for j in (0, 1)]
        ys = []
        ovf = Signal(name=f"l{k}_ovf")
        for i in range(n):
            I = sum((Mux(x_in[c], int(w), 0) for c, w in enumerate(layer.W[i]) if w), Const(0, signed(2)))
            y = Signal(name=f"l{k}_y{i}")
            for j in (0, 1):
                v, s = V[j][i], S[j][i]
                sel = active & (cur_bank == j)
                acc = Mux(phase == 0, 0, 2 * v) + I
                if layer.kind != "readout":
                    acc = acc + Mux(phase == T - 1, int(layer.bias[i]), 0)
                gen2 = 2 * v
                fire = gen2 >= int(layer.theta[i]) if layer.kind != "readout" else Const(0)
                gen = Mux(fire, gen2 - int(layer.theta[i]), gen2)
                new_v = Mux(phase < T, acc, gen) if layer.kind != "readout" else acc
                keep = (phase >= T) if layer.kind == "readout" else Const(0)
                with m.If(sel & ~keep):
                    m.d.sync += v.eq(Mux(new_v > hi, hi, Mux(new_v < lo, lo, new_v)))
                    with m.If((new_v > hi) | (new_v < lo)):
                        m.d.sync += ovf.eq(1)
                    if layer.kind != "readout":
                        m.d.sync += s.eq(Mux(phase < T, Mux(phase == 0, 0, s), 2 * s + fire))
                if layer.kind != "readout":
                    with m.If(sel & (phase >= T)):
                        m.d.comb += y.eq(fire)
            ys.append(y)
        for j in (0, 1):
            m.d.comb += [getattr(self, f"v{k}_b{j}").eq(Cat(V[j])), getattr(self, f"s{k}_b{j}").eq(Cat(S[j]))]
        spikes = Cat(ys)
        m.d.comb += getattr(self, f"y{k}").eq(spikes)
        return spikes, ovf, active & (phase == 2 * T - 1)

    def elaborate(self, platform):
        m = Module()
        x, ovfs, done = self.x, [], Const(0)
        for k, layer in enumerate(self.layers):
            x, ovf, end = self._layer(m, k, layer, x, self.run)
            ovfs.append(ovf)
            if layer.kind != "readout":
                done = end
        m.d.comb += [self.ovf.eq(Cat(ovfs).any()), self.code_valid.eq(done)]
        return m
