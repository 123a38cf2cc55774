"""cocotb bench for the generated `hwsnn_tb` wrapper: the clock, the stimulus and the records
all live in the simulator (see _fast_tb.py); this test only waits for `done` and fails when
the wrapper raised `err` (a command file error or a command that never finished)."""

import cocotb
from cocotb.triggers import RisingEdge


@cocotb.test()
async def network_fast(dut):
    if not int(dut.done.value):
        await RisingEdge(dut.done)
    if int(dut.err.value):  # cocotb fails the test on any exception
        raise AssertionError("the testbench wrapper raised err (see HWSNN_TB lines in sim.log)")
