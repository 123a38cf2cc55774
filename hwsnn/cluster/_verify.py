"""`verify_sharded`: `hwsnn.backends.verify` over sample shards on a Pool, merged exactly."""

from ._shard import merge_comparisons, sample_ranges, take

__all__ = ["verify_sharded"]


def _setup(graph):
    return graph  # each worker unpickles the graph once; back ends cache builds by content hash


def _work(graph, shard):
    from .. import backends
    start, x, steps, specs, sim = shard
    for name, (run, delays, options) in specs.items():  # the driver's registry entries
        backends.register(name, run, delays, options)
    return start, backends.verify(graph, x, steps, backends=list(specs), sim=sim)


def verify_sharded(graph, x, steps, backends, pool, shards=None, sim=None):
    """{backend: Comparison} over all samples of x, split into `shards` (default: one per
    worker) contiguous shards run on `pool`; `sim` the RTL simulator."""
    from .. import backends as registry
    specs = {}
    for name in backends:
        registry.get_backend(name)  # unknown name: the usual one-line error, before any worker starts
        specs[name] = (registry.BACKENDS[name], registry.DELAYS.get(name), registry.OPTIONS.get(name, ()))
    n = next(iter(x.values())).shape[0] if isinstance(x, dict) else len(x)
    ranges = sample_ranges(n, shards or pool.size)
    items = [(a, take(x, a, b), steps, specs, sim) for a, b in ranges]
    labels = [f"shard {i} (samples {a}..{b - 1})" for i, (a, b) in enumerate(ranges)]
    out = pool.map(_work, items, setup=_setup, setup_args=(graph,), labels=labels)
    starts = [s for s, _ in out]
    order = graph.topo_order()
    return {name: merge_comparisons([r[name] for _, r in out], starts, order) for name in backends}
