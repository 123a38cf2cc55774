"""cocotb bench for hwsnn.rtl.ILIFPipeline: drives one input word per cycle (run held high) and
records every cycle's spikes, both state banks of every layer, the bank in use and code_valid.
Inputs change at the falling edge; outputs are read 1 ps later (y is combinational in x)."""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, Timer


@cocotb.test()
async def ilif_run(dut):
    d = np.load(os.environ["HWSNN_BENCH_DATA"])
    words = [int(w, 16) for w in d["x_words"]]
    nl = int(d["nlayers"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value, dut.run.value, dut.x.value = 1, 0, 0
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    rec = {f"{v}{k}": [] for k in range(nl) for v in ("y", "v0_", "v1_", "s0_", "s1_", "bank")}
    rec["code_valid"] = []
    for c in range(len(words) + 1):
        await FallingEdge(dut.clk)
        if c < len(words):
            dut.x.value, dut.run.value = words[c], 1
        else:
            dut.run.value = 0
        await Timer(1, unit="ps")
        for k in range(nl):
            rec[f"y{k}"].append(f"{int(getattr(dut, f'y{k}').value):x}")
            rec[f"bank{k}"].append(int(getattr(dut, f"bank{k}").value))
            for j in (0, 1):
                rec[f"v{j}_{k}"].append(f"{int(getattr(dut, f'v{k}_b{j}').value):x}")
                rec[f"s{j}_{k}"].append(f"{int(getattr(dut, f's{k}_b{j}').value):x}")
        rec["code_valid"].append(int(dut.code_valid.value))
    rec["ovf"] = [int(dut.ovf.value)]
    np.savez(os.environ["HWSNN_BENCH_OUT"], **{k: np.array(v) for k, v in rec.items()})
