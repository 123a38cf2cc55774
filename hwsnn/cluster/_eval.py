"""`evaluate`: accuracy, steps to equilibrium, spikes and SOPs of the golden simulator over an
input set of any size, read in chunks, run on a Pool (serial or Ray workers).

Every chunk is run once; per-sample results are put back at their index in the input, and
per-layer totals add up, so the result does not depend on the chunk size or worker count.
"""

from dataclasses import dataclass, field

import numpy as np

from ..errors import HwsnnError

__all__ = ["Evaluation", "evaluate"]


@dataclass
class Evaluation:
    samples: int
    steps: int
    pred: np.ndarray            # (samples,) argmax of the Readout's final V
    t_eq: np.ndarray            # (samples,) steps after which no state changed
    settled: np.ndarray         # (samples,) bool: t_eq is final (nothing in flight)
    sops: np.ndarray            # (samples,) synaptic operations (all layers)
    spikes: np.ndarray          # (samples,) spikes sent (all neuron layers)
    layers: dict = field(default_factory=dict)  # layer -> {"sops": int, "spikes": int} totals
    labels: np.ndarray = None

    @property
    def correct(self):
        return None if self.labels is None else int((self.pred == self.labels).sum())

    def summary(self):
        out = {"samples": self.samples, "steps": self.steps,
               "accuracy": None if self.labels is None else self.correct / self.samples,
               "correct": self.correct,
               "t_eq": {"mean": float(self.t_eq.mean()), "max": int(self.t_eq.max())},
               "settled": int(self.settled.sum()),
               "sops": {"total": int(self.sops.sum()), "per_sample": float(self.sops.mean())},
               "spikes": {"total": int(self.spikes.sum()), "per_sample": float(self.spikes.mean())},
               "layers": self.layers}
        return out


def _setup(graph, device):
    from ..sim import Network
    return Network(graph), device  # verified and prepared once per worker


def _work(state, shard):
    from ..energy import count_events
    from ..sim import run
    net, device = state
    start, x, steps = shard
    trace = run(net, x, steps, record=False, device=device)
    events = count_events(trace, x, net.graph)
    sops = sum(layer.counts["sops"] for layer in events.layers)
    spikes = sum(layer.counts["spikes"] for layer in events.layers)
    layers = {layer.name: {"sops": int(layer.counts["sops"].sum()),
                           "spikes": int(layer.counts["spikes"].sum())} for layer in events.layers}
    return start, trace.predict(), trace.t_eq, trace.settled, sops, spikes, layers


def evaluate(graph, chunks, steps, pool, labels=None, check=None, device=None):
    """Evaluate `graph` for `steps` steps on the samples of `chunks` (an ArrayChunks-like object
    with len() and .chunks(rows)), `rows` samples per shard. `labels`: (samples,) ints or None.
    `check(x)`: called on every chunk before it is sent (e.g. the IR's input range).
    `device`: where each worker's golden simulator runs ("cpu", "cuda")."""
    n = len(chunks)
    if n < 1:
        raise HwsnnError("the input set holds no samples")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise HwsnnError(f"labels must have shape ({n},) (one per input sample), not {labels.shape}")
    rows = chunks.rows
    pred, t_eq = np.zeros(n, np.int64), np.zeros(n, np.int64)
    settled = np.zeros(n, bool)
    sops, spikes = np.zeros(n, np.int64), np.zeros(n, np.int64)
    layers = {}

    def shards():
        for start, x in chunks.chunks(rows):
            if check is not None:
                check(x)
            yield start, x, steps

    work = pool.imap(_work, shards(), setup=_setup, setup_args=(graph, device), total=n,
                     labels=lambda i: f"chunk {i} (samples {i * rows}..{min(n, (i + 1) * rows) - 1})",
                     weight=lambda shard: len(shard[1]))
    for _, (start, p, t, s, so, sp, lay) in work:
        stop = start + len(p)
        pred[start:stop], t_eq[start:stop], settled[start:stop] = p, t, s
        sops[start:stop], spikes[start:stop] = so, sp
        for name, c in lay.items():
            acc = layers.setdefault(name, {"sops": 0, "spikes": 0})
            acc["sops"] += c["sops"]
            acc["spikes"] += c["spikes"]
    return Evaluation(n, steps, pred, t_eq, settled, sops, spikes, layers, labels)
