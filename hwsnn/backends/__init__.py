"""The executors and the check that holds them to the oracle.

The registry knows every executor: its `run(graph, x, steps, **options) -> Trace` (the Trace's
`graph` is the graph it ran), the delays it documents (`DELAYS`) and the options it takes
(`OPTIONS`). `verify` runs the golden simulator and each back end on the same inputs and
compares every recorded variable at every step (`compare`, atol = 0). Neither side imports the
other: the oracle (`hwsnn.sim`) imports only `hwsnn.ir`, the executors (`hwsnn.mappings`,
`hwsnn.rtl`) never import `hwsnn.sim`; this module sits above both.

A new back end registers with `register(name, run, delays, options)`.
"""

import importlib

from hwsnn.errors import BackendError, HwsnnError

from ._compare import VARIABLES, Comparison, Divergence, check_graph, compare

__all__ = ["BACKENDS", "DELAYS", "OPTIONS", "register", "get_backend", "run", "stated_graph",
           "verify", "compare", "check_graph", "Comparison", "Divergence", "VARIABLES"]

# name -> "module:function" (or the function): run(graph, x, steps, **options) -> Trace
BACKENDS = {
    "golden": "hwsnn.sim:run",
    "lava": "hwsnn.mappings.lava:run",
    "rtl": "hwsnn.mappings.rtl:run",
}

# name -> the delay of every edge leaving a Source or neuron in the graph the back end runs:
# None (the given delays), an int, or a function graph -> that delay ("module:function" allowed)
DELAYS = {
    "golden": None,
    "lava": 1,  # hwsnn.mappings.lava.run(delay=1), Loihi-style
    "rtl": "hwsnn.mappings.rtl:stated_delay",  # iLIF pipeline 0, the core chain 1
}

# name -> keyword options its run takes (verify passes those it is given, no others)
OPTIONS = {
    "golden": (),
    "lava": (),
    "rtl": ("sim",),  # "icarus", "verilator", None: Verilator when installed
}


def _resolve(entry):
    if not isinstance(entry, str):
        return entry
    module, func = entry.split(":")
    return getattr(importlib.import_module(module), func)


def register(name, run, delays=None, options=()):
    """Add (or replace) back end `name`: `run` a callable or "module:function"."""
    BACKENDS[name], DELAYS[name], OPTIONS[name] = run, delays, tuple(options)


def get_backend(name):
    if name not in BACKENDS:
        raise HwsnnError(f"backend must be one of {sorted(BACKENDS)}, not {name!r}")
    return _resolve(BACKENDS[name])


def run(name, graph, x, steps, **options):
    """Run back end `name`; options it does not take (OPTIONS) are dropped, None ones too."""
    takes = OPTIONS.get(name, ())
    kw = {k: v for k, v in options.items() if k in takes and v is not None}
    return get_backend(name)(graph, x, steps, **kw)


def stated_graph(name, graph):
    """The graph back end `name` documents that it runs for `graph` (its delays, `DELAYS`)."""
    if name not in DELAYS:
        raise BackendError(f"backend {name!r} states no delays: add it to hwsnn.backends.DELAYS")
    delay = _resolve(DELAYS[name])
    delay = delay(graph) if callable(delay) else delay
    return graph if delay is None else graph.with_delays(delay)


def verify(graph, x, steps, backends=("lava",), *, sim=None):
    """Run golden and each back end on `x` for `steps`; return {backend: Comparison}.
    `sim`: the RTL simulator ("icarus", "verilator"; None: Verilator when installed).
    Each back end must report (`trace.graph`) exactly the graph it documents it runs
    (`stated_graph`: the given graph with its delays), else BackendError; golden runs on that."""
    golden_run = get_backend("golden")
    results, golden = {}, {}
    for name in backends:
        expected = stated_graph(name, graph)
        trace = run(name, graph, x, steps, sim=sim)
        check_graph(expected, trace.graph, name)
        key = tuple(e.delay for e in expected.edges)
        if key not in golden:
            golden[key] = golden_run(expected, x, steps)
        results[name] = compare(golden[key], trace, name)
        cores = (getattr(trace, "rtl", None) or {}).get("cores")
        if cores and all("layout" in c for c in cores):
            results[name].layouts = {c["node"]: c["layout"] for c in cores}
    return results
