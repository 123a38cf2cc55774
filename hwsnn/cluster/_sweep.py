"""`sweep_sharded`: the study's configurations (method, step budget T) spread over a Pool.

Each configuration is one shard, run by `hwsnn.study.evaluate` exactly as the serial
`sweep` runs it; rows come back in the serial order (methods, then budgets).
"""

__all__ = ["sweep_sharded"]


def _setup(n_test):
    from ..examples import digits_data
    _, _, x, y = digits_data()  # once per worker
    return (x, y) if n_test is None else (x[:n_test], y[:n_test])


def _work(data, config):
    from ..methods import get
    from ..study import evaluate
    name, T = config
    x, y = data
    return evaluate(get(name), T, x, y)


def sweep_sharded(methods, steps, pool, n_test=None, progress=None):
    """Rows of `evaluate` for every method in `methods` and budget in `steps`, on `pool`."""
    configs = [(m, T) for m in methods for T in steps]
    rows = [None] * len(configs)
    labels = [f"configuration {m} T={T}" for m, T in configs]
    for i, row in pool.imap(_work, configs, setup=_setup, setup_args=(n_test,), labels=labels,
                            total=len(configs)):
        rows[i] = row
        if progress:
            progress(row)
    return rows
