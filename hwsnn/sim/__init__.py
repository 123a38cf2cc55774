"""The golden simulator: the oracle every executor is compared with, bit for bit.

`run(graph, x, steps)` gives per-step V, S, y of every neuron node (a Trace);
`count(graph, x)` gives the closed-form count semantics in one pass. It imports only `hwsnn.ir`;
`hwsnn.backends.verify` holds the executors to it.
"""

from ._count import count
from ._encode import release
from ._step import Network, run
from hwsnn.ir import Trace

__all__ = ["run", "count", "Network", "Trace", "release"]
