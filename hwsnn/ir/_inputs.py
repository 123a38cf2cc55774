"""The input range an IR was compiled for, the check that inputs lie inside it, and the random
inputs a run takes when the user gives none (`hwsnn verify`, `hwsnn energy`)."""

import numpy as np

from ..errors import RangeError, SimulationError
from ._bits import int_range

__all__ = ["check_input_range", "input_range", "random_inputs"]


def check_input_range(graph, x):
    """Raise RangeError unless every integer input lies in graph.meta["input_range"] [lo, hi]
    (recorded by `hwsnn compile --input-range`; the range analysis proved the registers only
    for it). `x`: one array (single Source) or {source: array}. No recorded range: no check."""
    rng = graph.meta.get("input_range")
    if rng is None:
        return
    lo, hi = (int(v) for v in rng)
    arrays = x if isinstance(x, dict) else {s: x for s in graph.sources[:1]}
    for name, a in arrays.items():
        a = np.asarray(a)
        if a.size and (a.min() < lo or a.max() > hi):
            raise RangeError(f"input '{name}': values in [{a.min()}, {a.max()}] lie outside the "
                             f"input range [{lo}, {hi}] this IR was compiled for "
                             f"(--input-range {lo},{hi}); quantize inputs into it")


def input_range(graph, source, required=True):
    """(lo, hi) of the recorded meta["input_range"] ([lo, hi], or {source: [lo, hi]}) for `source`,
    within what the Source accepts (x_bits; rate: 0..T; bits: 0..2^T - 1). No recorded range:
    SimulationError when `required`, else the whole accepted range."""
    rec = graph.meta.get("input_range")
    if isinstance(rec, dict):
        rec = rec.get(source)
    node = graph.nodes[source]
    alo, ahi = int_range(node.x_bits)
    if node.encoding == "rate":
        alo, ahi = max(alo, 0), min(ahi, node.T)
    elif node.encoding == "bits":
        alo, ahi = max(alo, 0), min(ahi, 2 ** node.T - 1)
    if rec is None:
        if required:
            raise SimulationError(f"graph '{graph.name}' records no meta['input_range'] for source "
                                  f"'{source}': pass --input")
        return alo, ahi
    lo, hi = (int(v) for v in rec)
    lo, hi = max(lo, alo), min(hi, ahi)
    if lo > hi:
        raise SimulationError(f"source '{source}': meta['input_range'] {list(rec)} has no value the "
                              f"source accepts ([{alo}, {ahi}]): pass --input")
    return lo, hi


def random_inputs(graph, batch, seed=0, required=True):
    """{source: (batch, *shape) int64}: uniform random integers in each Source's `input_range`
    (numpy default_rng(seed), Sources in graph order)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in graph.sources:
        lo, hi = input_range(graph, name, required)
        out[name] = rng.integers(lo, hi + 1, (batch, *graph.nodes[name].shape), dtype=np.int64)
    return out
