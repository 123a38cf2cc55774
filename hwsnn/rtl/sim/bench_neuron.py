"""cocotb bench for the combinational NeuronUnit: applies every vector of the data file and
checks v_out, s_out, y, ovf against the expected values (the golden rule, computed in pytest)."""

import os

import cocotb
import numpy as np
from cocotb.triggers import Timer

IN_PORTS = ("v", "i", "theta", "s", "leak")
OUT_PORTS = ("v_out", "s_out", "y", "ovf")


def _mask(value, width):
    return int(value) & ((1 << width) - 1)


@cocotb.test()
async def neuron_vectors(dut):
    data = np.load(os.environ["HWSNN_BENCH_DATA"])
    ins = [p for p in IN_PORTS if f"in_{p}" in data]
    n = len(data[f"in_{ins[0]}"])
    handles = {p: getattr(dut, p) for p in ins}
    widths = {p: len(h) for p, h in handles.items()}
    got = {p: np.zeros(n, dtype=np.int64) for p in OUT_PORTS}
    for k in range(n):
        for p in ins:
            handles[p].value = _mask(data[f"in_{p}"][k], widths[p])
        await Timer(1, unit="ns")
        for p in OUT_PORTS:
            val = getattr(dut, p).value
            got[p][k] = int(val) if p == "ovf" else val.to_signed()
    np.savez(os.environ["HWSNN_BENCH_OUT"], **got)
    bad = {p: int((got[p] != data[f"exp_{p}"]).sum()) for p in OUT_PORTS}
    if any(bad.values()):
        p = next(p for p in OUT_PORTS if bad[p])
        k = int(np.argmax(got[p] != data[f"exp_{p}"]))
        vec = {q: int(data[f"in_{q}"][k]) for q in ins}
        raise AssertionError(f"{sum(bad.values())} mismatches {bad}; first: vector {k} {vec}: "
                             f"{p} expected {int(data[f'exp_{p}'][k])}, got {int(got[p][k])}")
