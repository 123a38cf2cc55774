"""RTL back end: IR -> neuron-core configurations and memory images (`lower`), run in RTL
simulation against the golden simulator (`run`), Verilog emission and synthesis reports."""

from ._lower import DELAY, RtlNetwork, chain, lower, unroll
from ._ilif import lower_ilif, run_ilif
from ._run import run, stats

__all__ = ["lower", "run", "stats", "RtlNetwork", "chain", "unroll", "DELAY", "lower_ilif", "run_ilif"]
