"""cocotb bench for a Ca-LIF hwsnn.rtl.Network: per sample `init`, the T window steps, then
settle steps until the network says `settled`; records every neuron's V, S, y from the
monitors at every step, and the settle core before each step.

A batch is aligned as the golden run aligns it: after core L's last settle pass of a sample,
`pad[sample, L]` extra steps with `hold` (every core unchanged, still shown on its monitor).
Inputs change and are sampled at the falling clock edge. Imports only cocotb and numpy (it
runs inside the simulator process).
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time


class CaLIFBench:
    def __init__(self, dut, d):
        self.dut, self.d = dut, d
        self.ncores = int(d["ncores"])
        self.ib, self.xb = int(d["in_index_bits"]), int(d["x_bits"])
        self.max_cycles = int(d["max_cycles"])
        self.mons = [getattr(dut, f"mon{k}__valid") for k in range(self.ncores)]

    def pack(self, index, value, last):
        return (int(index) | ((int(value) & ((1 << self.xb) - 1)) << self.ib)
                | (int(last) << (self.ib + self.xb)))

    async def command(self, name, events=(), hold=0):
        """Pulse `name`, feed `events` (+ marker) on inp for a step, collect monitors until idle."""
        dut = self.dut
        getattr(dut, name).value = 1
        dut.hold.value = hold
        await FallingEdge(dut.clk)
        getattr(dut, name).value = 0
        dut.hold.value = 0
        queue = [self.pack(i, v, 0) for i, v in events] + [self.pack(0, 0, 1)] if name == "step" else []
        seen, cycles = [], 1
        while True:
            if queue:
                dut.inp__payload.value = queue[0]
                dut.inp__valid.value = 1
                if int(dut.inp__ready.value):
                    queue.pop(0)
            else:
                dut.inp__valid.value = 0
            for k, mv in enumerate(self.mons):
                if int(mv.value):
                    p = f"mon{k}__"
                    seen.append((k, int(getattr(dut, p + "index").value), getattr(dut, p + "v").value.to_signed(),
                                 getattr(dut, p + "s").value.to_signed(), getattr(dut, p + "y").value.to_signed(),
                                 int(getattr(dut, p + "ovf").value), int(getattr(dut, p + "dump").value)))
            if not int(dut.busy.value) and not queue:
                return seen, cycles
            if name == "step" and not queue and not int(dut.firing.value):
                start = get_sim_time("ns")
                await RisingEdge(dut.firing)
                await FallingEdge(dut.clk)
                cycles += round((get_sim_time("ns") - start) / 10)
                continue
            if cycles > self.max_cycles:
                raise AssertionError(f"'{name}' still busy after {cycles} cycles (hang?)")
            await FallingEdge(dut.clk)
            cycles += 1


@cocotb.test()
async def calif_run(dut):
    d = np.load(os.environ["HWSNN_BENCH_DATA"])
    T, batch, ncores = int(d["T"]), int(d["batch"]), int(d["ncores"])
    max_steps = int(d["max_steps"])
    sizes = [int(d[f"n{k}"]) for k in range(ncores)]
    pad = d["pad"]
    ev = {}
    for b, t, i, v in zip(d["ev_sample"], d["ev_step"], d["ev_index"], d["ev_value"]):
        ev.setdefault((int(b), int(t)), []).append((int(i), int(v)))
    res = {f"{var}{k}": np.zeros((batch, max_steps, n), dtype=np.int64)
           for k, n in enumerate(sizes) for var in ("V", "S", "Y", "OVF", "SEEN")}
    res.update({f"D{var}{k}": np.zeros((batch, n), dtype=np.int64) for k, n in enumerate(sizes) for var in "VS"})
    res["phase"] = np.full((batch, max_steps), -2, dtype=np.int64)  # -1 window, k settle core, -3 hold
    res["nsteps"] = np.zeros(batch, dtype=np.int64)
    res["cycles"] = np.zeros((batch, max_steps), dtype=np.int64)
    bench = CaLIFBench(dut, d)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value, dut.init.value, dut.step.value, dut.hold.value, dut.dump.value = 1, 0, 0, 0, 0
    dut.inp__valid.value, dut.inp__payload.value, dut.out__ready.value = 0, 0, 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    for b in range(batch):
        await bench.command("init")
        t, prev = 0, 0

        async def record(phase, hold=0):
            nonlocal t
            if t >= max_steps:
                raise AssertionError(f"sample {b}: more than {max_steps} steps (settle phase does not end?)")
            seen, cycles = await bench.command("step", ev.get((b, t), ()), hold)
            res["phase"][b, t], res["cycles"][b, t] = phase, cycles
            for k, i, v, s, y, o, dmp in seen:
                res[f"V{k}"][b, t, i], res[f"S{k}"][b, t, i], res[f"Y{k}"][b, t, i] = v, s, y
                res[f"OVF{k}"][b, t, i] = o
                res[f"SEEN{k}"][b, t, i] += 1 + 100 * dmp  # a dump record here is an error
            t += 1

        for _ in range(T):
            await record(-1)
        while True:
            k = int(dut.settle_core.value)
            for _ in range(int(pad[b, prev]) if k > prev else 0):  # align with the batch
                await record(-3, hold=1)
            if int(dut.settled.value):
                break
            prev = k
            await record(k)
        res["nsteps"][b] = t
        seen, _ = await bench.command("dump")  # the V and S memories after the last step
        for k, i, v, s, y, o, dmp in seen:
            if not dmp:
                raise AssertionError(f"core {k}: a monitor record without the dump flag during dump")
            res[f"DV{k}"][b, i], res[f"DS{k}"][b, i] = v, s
    np.savez(os.environ["HWSNN_BENCH_OUT"], **res)
    for k in range(ncores):
        for b in range(batch):
            bad = res[f"SEEN{k}"][b, :res["nsteps"][b]] != 1
            if bad.any():
                t, i = map(int, np.argwhere(bad)[0])
                raise AssertionError(f"core {k}: neuron {i} reported {int(res[f'SEEN{k}'][b, t, i])} times "
                                     f"at sample {b}, step {t} (expected once)")
