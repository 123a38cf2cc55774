"""The golden simulator: the oracle every executor is compared with, bit for bit.

`run(graph, x, steps)` gives per-step V, S, y of every neuron node (a Trace);
`count(graph, x)` gives the closed-form count semantics in one pass.
"""

from ._count import count
from ._encode import release
from ._step import Network, run
from ._trace import Trace
from .verify import Comparison, Divergence, compare, verify

__all__ = ["run", "count", "Network", "Trace", "release", "compare", "verify", "Comparison", "Divergence"]
