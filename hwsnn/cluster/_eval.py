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
    steps: int                  # steps run (the most any chunk ran, without --steps)
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


def _run_settled(net, x, cap, device, start):
    """A run of chunk x long enough for every sample to settle (doubling from 16 steps up to
    `cap`), or of the steps hwsnn.energy.plan_steps gives networks that never settle (a Ca-LIF
    window, the IR's meta steps for IF/iLIF). Once every sample has settled, nothing changes
    any more, so chunks that ran different step counts still give exact per-sample results."""
    from ..energy import plan_steps
    from ..errors import SimulationError
    from ..sim import run
    if net.calif_T or any(net.graph.nodes[n].type in ("IF", "ILIF") for n in net.graph.neurons):
        plan = plan_steps(net.graph, x, None, cap)
        return run(net, x, plan.steps, record=False, device=device)
    n = min(16, cap)
    while True:
        trace = run(net, x, n, record=False, device=device)
        if trace.settled.all():
            return trace
        if n >= cap:
            left = np.nonzero(~trace.settled)[0]
            raise SimulationError(f"graph '{net.graph.name}': {len(left)} samples (first: sample "
                                  f"{start + int(left[0])}) still change state after {cap} steps: "
                                  f"pass --steps, or a larger --settle-cap")
        n = min(2 * n, cap)


def _work(state, shard):
    from ..energy import count_events
    from ..sim import run
    net, device = state
    start, x, steps, cap = shard
    trace = (run(net, x, steps, record=False, device=device) if steps is not None
             else _run_settled(net, x, cap, device, start))
    events = count_events(trace, x, net.graph)
    sops = sum(layer.counts["sops"] for layer in events.layers)
    spikes = sum(layer.counts["spikes"] for layer in events.layers)
    layers = {layer.name: {"sops": int(layer.counts["sops"].sum()),
                           "spikes": int(layer.counts["spikes"].sum())} for layer in events.layers}
    return start, trace.predict(), trace.t_eq, trace.settled, sops, spikes, layers, trace.steps


def evaluate(graph, chunks, steps, pool, labels=None, check=None, device=None, cap=4096):
    """Evaluate `graph` for `steps` steps (None: until every sample settles, at most `cap`
    steps; see `_run_settled`) on the samples of `chunks` (an ArrayChunks-like object
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
            yield start, x, steps, cap

    work = pool.imap(_work, shards(), setup=_setup, setup_args=(graph, device), total=n,
                     labels=lambda i: f"chunk {i} (samples {i * rows}..{min(n, (i + 1) * rows) - 1})",
                     weight=lambda shard: len(shard[1]))
    ran = 0
    for _, (start, p, t, s, so, sp, lay, n_steps) in work:
        ran = max(ran, n_steps)
        stop = start + len(p)
        pred[start:stop], t_eq[start:stop], settled[start:stop] = p, t, s
        sops[start:stop], spikes[start:stop] = so, sp
        for name, c in lay.items():
            acc = layers.setdefault(name, {"sops": 0, "spikes": 0})
            acc["sops"] += c["sops"]
            acc["spikes"] += c["spikes"]
    return Evaluation(n, ran, pred, t_eq, settled, sops, spikes, layers, labels)
