"""cocotb bench for hwsnn.rtl.Network: runs every sample for `steps` steps and records, from the
monitors, every neuron's V, S, y (and overflow flag) at every step, plus cycle counts.

Inputs and outputs change and are sampled at the falling clock edge (the design only uses the
rising edge), which reads the same on Icarus and Verilator.
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time


def _signed(handle):
    return handle.value.to_signed()


class NetworkBench:
    def __init__(self, dut, d):
        self.dut, self.d = dut, d
        self.ncores = int(d["ncores"])
        self.mons = [getattr(dut, f"mon{k}__valid") for k in range(self.ncores)]
        self.ib, self.xb = int(d["in_index_bits"]), int(d["x_bits"])
        self.max_cycles = int(d["max_cycles"])

    def pack(self, index, value, last):
        return (int(index) | ((int(value) & ((1 << self.xb) - 1)) << self.ib)
                | (int(last) << (self.ib + self.xb)))

    async def command(self, name, events=()):
        """Pulse command `name`, feed `events` (+ marker) on inp, record monitors until idle."""
        dut = self.dut
        getattr(dut, name).value = 1
        await FallingEdge(dut.clk)
        getattr(dut, name).value = 0
        queue = [self.pack(i, v, 0) for i, v in events] + [self.pack(0, 0, 1)] if name == "step" else []
        seen, cycles = [], 1
        while True:
            if queue:  # ready depends only on the core's state: it holds for this cycle
                dut.inp__payload.value = queue[0]
                dut.inp__valid.value = 1
                if int(dut.inp__ready.value):
                    queue.pop(0)  # taken at the rising edge that ends this cycle
            else:
                dut.inp__valid.value = 0
            for k, mv in enumerate(self.mons):
                if int(mv.value):
                    p = f"mon{k}__"
                    seen.append((k, int(getattr(dut, p + "index").value), _signed(getattr(dut, p + "v")),
                                 _signed(getattr(dut, p + "s")), _signed(getattr(dut, p + "y")),
                                 int(getattr(dut, p + "ovf").value)))
            if not int(dut.busy.value) and not queue:
                return seen, cycles
            if name == "step" and not queue and not int(dut.firing.value):
                # accumulating, nothing left to feed, monitors silent: skip to the fire phase
                start = get_sim_time("ns")
                await RisingEdge(dut.firing)
                await FallingEdge(dut.clk)
                cycles += round((get_sim_time("ns") - start) / 10)
                continue
            if cycles > self.max_cycles:
                raise AssertionError(f"'{name}' still busy after {cycles} cycles (hang?) at {self.where}, "
                                     f"inp valid/ready {dut.inp__valid.value}/{dut.inp__ready.value}, "
                                     f"queue {len(queue)}")
            await FallingEdge(dut.clk)
            cycles += 1


@cocotb.test()
async def network_run(dut):
    d = np.load(os.environ["HWSNN_BENCH_DATA"])
    steps, batch, ncores = int(d["steps"]), int(d["batch"]), int(d["ncores"])
    sizes = [int(d[f"n{k}"]) for k in range(ncores)]
    ev = {}
    for b, t, i, v in zip(d["ev_sample"], d["ev_step"], d["ev_index"], d["ev_value"]):
        ev.setdefault((int(b), int(t)), []).append((int(i), int(v)))
    res = {}
    for k, n in enumerate(sizes):
        for var in ("V", "S", "Y", "OVF", "SEEN"):
            res[f"{var}{k}"] = np.zeros((batch, steps, n), dtype=np.int64)
        res[f"sops{k}"] = np.zeros((batch, steps), dtype=np.int64)
        res[f"acc_cycles{k}"] = np.zeros((batch, steps), dtype=np.int64)
    res["cycles"] = np.zeros((batch, steps), dtype=np.int64)
    bench = NetworkBench(dut, d)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value, dut.init.value, dut.step.value = 1, 0, 0
    for name in ("hold", "dump"):  # newer Network commands this bench does not use (rtl-hw)
        if hasattr(dut, name):
            getattr(dut, name).value = 0
    dut.inp__valid.value, dut.inp__payload.value, dut.out__ready.value = 0, 0, 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    for b in range(batch):
        bench.where = f"sample {b}, init"
        await bench.command("init")
        before = [(int(getattr(dut, f"sops{k}").value), int(getattr(dut, f"acc_cycles{k}").value))
                  for k in range(ncores)]
        for t in range(steps):
            bench.where = f"sample {b}, step {t}"
            seen, cycles = await bench.command("step", ev.get((b, t), ()))
            res["cycles"][b, t] = cycles
            for k, i, v, s, y, o in seen:
                res[f"V{k}"][b, t, i], res[f"S{k}"][b, t, i], res[f"Y{k}"][b, t, i] = v, s, y
                res[f"OVF{k}"][b, t, i] = o
                res[f"SEEN{k}"][b, t, i] += 1
            for k in range(ncores):
                now = (int(getattr(dut, f"sops{k}").value), int(getattr(dut, f"acc_cycles{k}").value))
                res[f"sops{k}"][b, t] = (now[0] - before[k][0]) % (1 << 32)
                res[f"acc_cycles{k}"][b, t] = (now[1] - before[k][1]) % (1 << 32)
                before[k] = now
    np.savez(os.environ["HWSNN_BENCH_OUT"], **res)
    for k in range(ncores):
        bad = res[f"SEEN{k}"] != 1
        if bad.any():
            b, t, i = map(int, np.argwhere(bad)[0])
            raise AssertionError(f"core {k}: neuron {i} reported {int(res[f'SEEN{k}'][b, t, i])} times "
                                 f"at sample {b}, step {t} (expected once)")
