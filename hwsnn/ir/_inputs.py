"""The input range an IR was compiled for, and the check that inputs lie inside it."""

import numpy as np

from ..errors import RangeError

__all__ = ["check_input_range"]


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
