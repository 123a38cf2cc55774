"""The comparison behind `hwsnn.backends.verify`: the golden run and a back end's run on the same
inputs, compared on every recorded variable (V, S, y) of every node at every step, at atol = 0.

What `verify` does not let through:
- a back end whose trace ran another graph: `trace.graph` must equal the given graph exactly
  (node types, params, arrays, edges, meta), edge delays aside, and those only as the back end
  documents them (`DELAYS`); golden runs on that documented graph, never on `trace.graph`;
- a non-integer array on either side (float, bool): integers are compared as they are, by
  value (numpy `==` between integer dtypes of any widths and signedness is exact), never cast;
- values the back end did not read from its state: `trace.valid` masks them out, and they are
  not counted (see hwsnn.ir.Trace); a comparison of 0 values is not a pass;
- the state memories read back after the last step (`trace.final_readback`, RTL) are compared
  with golden's final V and S as variables "V(readback)", "S(readback)".
"""

from dataclasses import dataclass, field

import numpy as np

from hwsnn.errors import BackendError

__all__ = ["Divergence", "Comparison", "compare", "check_graph", "VARIABLES"]

VARIABLES = ("V", "S", "y", "U", "V(readback)", "S(readback)")  # tie order of first divergence


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
    per_variable: dict = field(default_factory=dict)  # "node.var" -> mismatches
    layouts: dict = None  # RTL: {node: "shared-kernel" or "dense"}, the core layout it ran
    steps: int = 0  # steps compared (a Ca-LIF run: its window plus the settle steps it ran)

    @property
    def ok(self):
        return self.mismatches == 0 and self.compared_values > 0

    def to_dict(self):
        out = {"steps": self.steps, "compared_values": self.compared_values, "mismatches": self.mismatches,
               "first_divergence": None if self.first is None else vars(self.first)}
        if self.layouts is not None:
            out["layouts"] = self.layouts
        return out


# --- the graph a back end ran ------------------------------------------------------------

def _same(a, b):
    """Exact equality of IR values: arrays by shape and integer values, containers item by item,
    scalars by type and value."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype.kind == b.dtype.kind and bool(np.array_equal(a, b)))
    if isinstance(a, dict) or isinstance(b, dict):
        return (type(a) is type(b) and list(a) == list(b)
                and all(_same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def _difference(want, got):
    """How `got` differs from `want` (an IR param or array): " is ..." or "[i, j] is ..."."""
    if not isinstance(want, np.ndarray):
        return f" is {got!r} in the graph it ran, not {want!r}"
    if not isinstance(got, np.ndarray) or got.shape != want.shape or got.dtype.kind != want.dtype.kind:
        show = lambda a: (f"a {a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray)  # noqa: E731
                          else repr(a))
        return f" is {show(got)} in the graph it ran, not {show(want)}"
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(got != want)), want.shape))
    at = f"[{', '.join(map(str, idx))}]" if idx else ""
    return f"{at} is {got[idx]} in the graph it ran, not {want[idx]}"


def check_graph(expected, ran, backend="other"):
    """BackendError naming the first node, field or edge where `ran` differs from `expected`."""
    if ran is None:
        raise BackendError(f"{backend}: the trace does not say which graph it ran (trace.graph)")
    if ran is expected:
        return
    if list(ran.nodes) != list(expected.nodes):
        raise BackendError(f"{backend}: ran nodes {list(ran.nodes)}, the graph has {list(expected.nodes)}")
    for name, want in expected.nodes.items():
        got = ran.nodes[name]
        if got is want:
            continue
        if type(got) is not type(want):
            raise BackendError(f"{backend}: node '{name}' is a {type(got).__name__} in the graph it "
                               f"ran, not a {type(want).__name__}")
        for kind, w, g in (("param", want.scalars(), got.scalars()), ("array", want.arrays(), got.arrays())):
            for key in w:
                if not _same(w[key], g[key]):
                    raise BackendError(f"{backend}: node '{name}' {kind} {key}"
                                       f"{_difference(w[key], g[key])}")
    if len(ran.edges) != len(expected.edges):
        raise BackendError(f"{backend}: ran {len(ran.edges)} edges, the graph has {len(expected.edges)}")
    for k, (w, g) in enumerate(zip(expected.edges, ran.edges)):
        if (g.src, g.dst) != (w.src, w.dst):
            raise BackendError(f"{backend}: edge {k} is '{g.src}' -> '{g.dst}' in the graph it ran, "
                               f"not '{w.src}' -> '{w.dst}'")
        if not _same(g.delay, w.delay):
            raise BackendError(f"{backend}: edge '{w.src}' -> '{w.dst}' has delay {g.delay!r} in the "
                               f"graph it ran, not the documented {w.delay!r}")
    if not _same(ran.meta, expected.meta):
        raise BackendError(f"{backend}: the graph it ran has meta {ran.meta!r}, not {expected.meta!r}")


# --- the comparison ----------------------------------------------------------------------

def _integers(arr, who, node, var):
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iu":
        raise BackendError(f"{who}: node '{node}' {var} must be an integer array, not dtype {arr.dtype}")
    return arr


def _valid(trace, node, var, shape, who):
    m = trace.mask(node, var)
    if m is None:
        return None
    m = np.asarray(m)
    if m.dtype != bool:
        raise BackendError(f"{who}: node '{node}' {var} validity mask must be bool, not dtype {m.dtype}")
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise BackendError(f"{who}: node '{node}' {var} validity mask has shape {m.shape}, which "
                           f"does not broadcast to {shape}") from None


def _first(diff):
    """Index of the earliest (C order: step, sample, neuron) True in `diff`."""
    return np.unravel_index(int(np.argmax(diff)), diff.shape)


def compare(golden, other, backend="other"):
    """Compare two Traces on everything the golden trace recorded, V, S, y of each node at each
    step where `other` marks them valid, then `other.final_readback` against golden's final
    state. The first divergence is the earliest step; ties go to the earlier node in the golden
    trace's order, then V, S, y, V(readback), S(readback). The traces' graphs are not looked at
    (`verify` checks them with `check_graph`), so the runs of two graphs can be compared too."""
    result = Comparison(backend, steps=golden.steps)
    if golden.steps != other.steps or golden.batch != other.batch:
        raise BackendError(f"{backend}: ran {other.steps} steps x {other.batch} samples, "
                           f"golden {golden.steps} x {golden.batch}")
    order = {n: i for i, n in enumerate(golden.V)}
    best = None

    def add(node, var, gold, theirs, step_of):
        nonlocal best
        if theirs.shape != gold.shape:
            raise BackendError(f"{backend}: node '{node}' {var} has shape {theirs.shape}, "
                               f"golden {gold.shape}")
        diff = gold != theirs
        masks = [m for m in (_valid(golden, node, var, gold.shape, "golden"),
                             _valid(other, node, var, gold.shape, backend)) if m is not None]
        for m in masks:
            diff &= m
        n_bad = int(diff.sum())
        result.compared_values += int(np.logical_and.reduce(masks).sum()) if masks else gold.size
        result.mismatches += n_bad
        result.per_variable[f"{node}.{var}"] = n_bad
        if n_bad:
            idx = _first(diff)
            step, sample, neuron = step_of(idx)
            key = (step, order.get(node, len(order)), VARIABLES.index(var))
            if best is None or key < best[0]:
                best = (key, Divergence(node, step, sample, neuron, var,
                                        int(gold[idx]), int(theirs[idx])))

    per_step = lambda idx: (int(idx[0]), int(idx[1]), tuple(int(i) for i in idx[2:]))  # noqa: E731
    for node, var, gold in golden.variables():
        theirs = getattr(other, var).get(node)
        if theirs is None:
            raise BackendError(f"{backend}: no {var} recorded for node '{node}'")
        add(node, var, _integers(gold, "golden", node, var), _integers(theirs, backend, node, var),
            per_step)
    last = lambda idx: (golden.steps - 1, int(idx[0]), tuple(int(i) for i in idx[1:]))  # noqa: E731
    for node, read in other.final_readback.items():
        for var, theirs in read.items():
            name = f"{var}(readback)"
            if name not in VARIABLES or node not in golden.final:
                raise BackendError(f"{backend}: read back {var} of node '{node}', which golden "
                                   f"has no final state of")
            add(node, name, _integers(golden.final[node][var], "golden", node, name),
                _integers(theirs, backend, node, name), last)
    result.first = None if best is None else best[1]
    return result
