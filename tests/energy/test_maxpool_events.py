"""Event counts of a MaxPool2d layer, checked by hand on a small case and against the
definitions (docs in hwsnn/energy/_pool.py) on a random max-pool graph."""

import numpy as np

from hwsnn import ir, sim
from hwsnn.energy import count_events
from hwsnn.energy._pool import window_members


def _graph():
    """Source (1, 2, 3) -> MaxPool2d k2 s1 (windows [0..1]x[0..1] and [0..1]x[1..2]) -> Dense."""
    mp = ir.MaxPool2d((1, 1, 2), (1, 2, 3), (2, 2), (1, 1), (0, 0), False, s_bits=8)
    nodes = {"in": ir.Source((1, 2, 3), "rate", T=4, x_bits=8), "mp": mp, "f": ir.Flatten(),
             "d": ir.Dense(np.array([[1, 1]])), "out": ir.Readout((1,))}
    edges = [ir.Edge("in", "mp"), ir.Edge("mp", "f"), ir.Edge("f", "d"), ir.Edge("d", "out")]
    return ir.Graph(nodes, edges, "pool")


def test_window_members_by_hand():
    m = window_members(_graph().nodes["mp"])
    # inputs (row, col): columns 0 and 2 lie in one window, column 1 in both
    assert m.tolist() == [[1, 0], [1, 1], [0, 1], [1, 0], [1, 1], [0, 1]]


def test_counts_by_hand():
    g = _graph()
    x = np.array([[[[1, 0, 2], [0, 0, 0]]]])  # rate: 1 spike at input 0, 2 at input 2
    tr = sim.run(g, x, 5)
    layer = next(l for l in count_events(tr, x).layers if l.name == "mp")
    c = {k: int(v[0]) for k, v in layer.counts.items() if v is not None}
    # events: input 0 once (1 window), input 2 twice (1 window); 4 reads + 3 compares a window
    assert c["pool_compares"] == 3 * 3
    assert c["state_reads"] == 3 + 3 * 4
    # outputs: window 0 max goes 0 -> 1 (one spike), window 1 max 0 -> 1 -> 2 (two spikes)
    assert c["spikes"] == 3 and c["state_writes"] == 3 + 3
    assert c["sops"] == c["weight_reads"] == c["input_macs"] == 0
    assert c["updates"] == 5 * 2
    # rate releases floor((t+1)q/4) - floor(tq/4): q=1 at t=3, q=2 at t=1 and t=3
    assert c["active_updates"] == 3 and c["idle_updates"] == 7
    assert layer.ann["compares"] == 2 * 3 and layer.ann["macs"] == 0
    d = next(l for l in count_events(tr, x).layers if l.name == "out")
    assert int(d.counts["sops"][0]) == 3  # the pool's 3 spikes reach one readout weight each
