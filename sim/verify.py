"""Cross-backend verification: run the golden simulator and a back end on the same inputs and
compare every recorded variable (V, S, y) of every node at every step, at atol = 0."""

import importlib
from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import BackendError, HwsnnError

from ._step import run as golden_run

__all__ = ["Divergence", "Comparison", "compare", "verify", "BACKENDS", "get_backend"]

# name -> "module:function" with signature run(graph, x, steps) -> Trace. A back end states its
# delays by setting `trace.graph` to the graph it actually ran; golden is rerun on that graph.
BACKENDS = {
    "golden": "hwsnn.sim._step:run",
    "lava": "hwsnn.mappings.lava:run",
    "rtl": "hwsnn.mappings.rtl:run",
}


@dataclass
class Divergence:
    node: str
    step: int
    sample: int
    neuron: tuple
    variable: str
    golden: int
    other: int

    def __str__(self):
        return (f"node '{self.node}', step {self.step}, sample {self.sample}, neuron {self.neuron}, "
                f"{self.variable}: golden {self.golden} vs {self.other}")


@dataclass
class Comparison:
    backend: str
    compared_values: int = 0
    mismatches: int = 0
    first: Divergence = None
    per_variable: dict = field(default_factory=dict)

    @property
    def ok(self):
        return self.mismatches == 0 and self.compared_values > 0

    def to_dict(self):
        return {"compared_values": self.compared_values, "mismatches": self.mismatches,
                "first_divergence": None if self.first is None else vars(self.first)}


def compare(golden, other, backend="other"):
    """Compare two Traces on everything the golden trace recorded. The first divergence is the
    earliest step; ties go to the earlier node in the golden trace's order, then V, S, y."""
    result = Comparison(backend)
    if golden.steps != other.steps or golden.batch != other.batch:
        raise BackendError(f"{backend}: ran {other.steps} steps x {other.batch} samples, "
                           f"golden {golden.steps} x {golden.batch}")
    best = None
    order = {n: i for i, n in enumerate(golden.V)}
    for node, var, gold in golden.variables():
        theirs = getattr(other, var).get(node)
        if theirs is None:
            raise BackendError(f"{backend}: no {var} recorded for node '{node}'")
        theirs = np.asarray(theirs)
        if theirs.shape != gold.shape:
            raise BackendError(f"{backend}: node '{node}' {var} has shape {theirs.shape}, "
                               f"golden {gold.shape}")
        diff = gold.astype(np.int64) != theirs.astype(np.int64)
        n_bad = int(diff.sum())
        result.compared_values += gold.size
        result.mismatches += n_bad
        result.per_variable[f"{node}.{var}"] = n_bad
        if n_bad:
            idx = np.argwhere(diff)
            idx = idx[np.lexsort(idx.T[::-1])][0]  # earliest step, then sample, then neuron
            key = (int(idx[0]), order.get(node, 0), "VSy".index(var))
            if best is None or key < best[0]:
                best = (key, Divergence(node, int(idx[0]), int(idx[1]), tuple(int(i) for i in idx[2:]),
                                        var, int(gold[tuple(idx)]), int(theirs[tuple(idx)])))
    result.first = None if best is None else best[1]
    return result


def get_backend(name):
    if name not in BACKENDS:
        raise HwsnnError(f"backend must be one of {sorted(BACKENDS)}, not {name!r}")
    module, func = BACKENDS[name].split(":")
    return getattr(importlib.import_module(module), func)


def verify(graph, x, steps, backends=("lava",)):
    """Run golden and each back end on `x` for `steps`; return {backend: Comparison}.
    Golden is rerun on `trace.graph`, so the back end's stated delays are part of the comparison."""
    results = {}
    for name in backends:
        trace = get_backend(name)(graph, x, steps)
        ran = trace.graph if trace.graph is not None else graph
        results[name] = compare(golden_run(ran, x, steps), trace, name)
    return results
