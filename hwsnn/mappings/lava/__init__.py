"""Lava back end: the integer IR as Lava processes with fixed-point PyLoihiProcessModels.

`run(graph, x, steps)` runs a batch under Lava's runtime (Loihi2SimCfg(select_tag="fixed_pt"),
RunSteps) and returns a Trace shaped like the golden run's; `trace.graph` is the graph with the
delays Lava ran (1 on every edge leaving a Source or neuron, Loihi style). `lower` builds the
processes only. Lava is imported lazily: without lava-nc, `run` raises BackendUnavailableError.

By default a graph runs grouped (`_group`): a few Lava processes (`run(groups=n)`) each host
many IR nodes, same rules, same records; `groups=0` (and Ca-LIF graphs, and model overrides)
give one process per IR node (`lower`).

A graph of CUBALIF neurons (Loihi's) runs Loihi-native instead (`_native`): on Lava's own LIF,
Dense and Conv processes with their bit-accurate models; `native_reason(graph)` says why a
graph cannot.
"""

from ._compat import INSTALL_HINT, install, require_lava

install()  # before anything imports lava (procs/ does): the Python 3.11 import fix

from ._lower import LavaNetwork, lower
from ._native import is_native, native_reason, run_native
from ._group import DEFAULT_GROUPS, execute_grouped, lower_grouped
from ._run import GROUP_ABOVE, MODEL_OVERRIDES, execute, run

__all__ = ["run", "lower", "execute", "LavaNetwork", "require_lava", "INSTALL_HINT",
           "MODEL_OVERRIDES", "native_reason", "is_native", "run_native", "lower_grouped",
           "execute_grouped", "GROUP_ABOVE", "DEFAULT_GROUPS"]
