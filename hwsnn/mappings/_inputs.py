"""Input checks of the executors (Lava, RTL), written apart from the golden simulator's on purpose: an
executor takes its inputs from the IR and the user, never through the oracle's code."""

import numpy as np

from hwsnn.errors import RangeError, ShapeError, SimulationError
from hwsnn.ir import fits, int_range

__all__ = ["check_input", "as_inputs"]


def check_input(name, node, x):
    """Input array x ((batch, *shape) or one sample) for Source `node` as int64 (batch, *shape)."""
    x = np.asarray(x)
    if x.ndim == len(node.shape):
        x = x[None]
    if tuple(x.shape[1:]) != tuple(node.shape):
        raise ShapeError(f"input '{name}': expected shape (batch, {', '.join(map(str, node.shape))}), "
                         f"not {tuple(x.shape)}")
    if x.dtype.kind not in "iub" and (x.dtype.kind != "f" or not np.all(x == np.round(x))):
        raise SimulationError(f"input '{name}': values must be integers, not dtype {x.dtype}")
    x = x.astype(np.int64)
    if not fits(x, node.x_bits):
        lo, hi = int_range(node.x_bits)
        raise RangeError(f"input '{name}': values must fit int{node.x_bits} [{lo}, {hi}], "
                         f"not [{int(x.min())}, {int(x.max())}]")
    hi = {"rate": node.T, "bits": 2 ** node.T - 1}.get(node.encoding)
    if hi is not None and (x.min(initial=0) < 0 or x.max(initial=0) > hi):
        raise RangeError(f"input '{name}': {node.encoding} encoding needs 0 <= q <= {hi}, "
                         f"not [{int(x.min())}, {int(x.max())}]")
    return x


def as_inputs(graph, x):
    """{source: int64 (batch, *shape)} from x ((batch, *shape) for one Source, or a dict)."""
    if isinstance(x, dict):
        missing = sorted(set(graph.sources) - set(x))
        if missing:
            raise SimulationError(f"no input given for source(s) {missing}")
        return {name: check_input(name, graph.nodes[name], x[name]) for name in graph.sources}
    if len(graph.sources) != 1:
        raise SimulationError(f"graph has sources {graph.sources}: pass inputs as a dict")
    name = graph.sources[0]
    return {name: check_input(name, graph.nodes[name], x)}
