"""RTL back end: IR -> neuron-core configurations and memory images (`lower`), run in RTL
simulation against the golden simulator (`run`), Verilog emission and synthesis reports."""

from ._images import unroll
from ._lower import DELAY, RtlNetwork, chain, lower
from ._ilif import lower_ilif, run_ilif
from ._run import run, run_lowered, stated_delay, stats

__all__ = ["lower", "run", "run_lowered", "stats", "RtlNetwork", "chain", "unroll", "DELAY",
           "lower_ilif", "run_ilif", "stated_delay"]
