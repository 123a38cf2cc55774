"""cocotb benches for hwsnn.rtl and their runners (Icarus or Verilator via cocotb_tools.runner).

Bench modules (`bench_*.py`) import only cocotb and numpy and are loaded by the simulator as
top-level modules; the runners (`_*_bench.py`) build the Verilog, pass data through npz files
and read the measurements back.
"""

from ._runner import BUILD_ROOT, SIMULATORS, check_simulator, default_sim

__all__ = ["SIMULATORS", "BUILD_ROOT", "check_simulator", "default_sim"]
