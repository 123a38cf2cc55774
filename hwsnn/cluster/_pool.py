"""`Pool`: run shards of work in this process, on a local Ray instance, or on a Ray cluster.

    with Pool(workers=2) as pool:                    # starts Ray here, stops it at the end
        results = pool.map(work, shards, setup=load, setup_args=(path,))

`setup(*setup_args)` runs once per worker (the worker keeps what it returns, e.g. a built
simulator model); `work(state, shard)` runs once per shard. Results come back in shard order.
A worker that dies is replaced and its shard retried once; a second death fails the run with
a ClusterError naming the shard. An HwsnnError raised by `work` is re-raised as it is.
Without `workers` and `address` everything runs serially in this process (no Ray needed).
"""

import os
import sys

from ..errors import ClusterError, HwsnnError

__all__ = ["Pool", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'hwsnn[cluster]' (Ray)"
ATTEMPTS = 2  # a shard runs at most twice: once, and once more after its worker died


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--workers and --address need Ray, which is not installed: "
                           f"{INSTALL_HINT}") from None
    return ray


class _Worker:
    """Ray actor body: holds the state `setup` built, runs shards on it."""

    def __init__(self, setup, setup_args):
        self.state = setup(*setup_args) if setup is not None else None

    def run(self, work, shard):
        return work(self.state, shard)


class Pool:
    def __init__(self, workers=None, address=None, progress=None, desc="shards"):
        if workers is not None and (isinstance(workers, bool) or int(workers) < 1):
            raise ClusterError(f"--workers must be an integer >= 1, not {workers!r}")
        self.workers = None if workers is None else int(workers)
        self.address = address
        self.distributed = self.workers is not None or address is not None
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.desc = desc
        self._ray = None
        self._started = False  # this Pool started the Ray instance, so it stops it

    # lifecycle -------------------------------------------------------------------------------
    def __enter__(self):
        if self.distributed:
            self._start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _start(self):
        ray = self._ray = _import_ray()
        if ray.is_initialized():
            return  # the caller's own Ray session: use it, leave it running
        opts = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        try:
            if self.address:
                ray.init(address=self.address, **opts)
            else:  # local workers see the driver's import path (scripts, test helpers)
                env = {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
                ray.init(num_cpus=self.workers, runtime_env={"env_vars": env}, **opts)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
            raise ClusterError(f"cannot start {where}: {exc}") from None
        self._started = True

    def close(self):
        if self._ray is not None and self._started and self._ray.is_initialized():
            self._ray.shutdown()  # stops the head and every worker process it started
        self._started = False

    @property
    def size(self):
        """Number of workers shards are spread over (1 when serial)."""
        if not self.distributed:
            return 1
        if self.workers is not None:
            return self.workers
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    # work ------------------------------------------------------------------------------------
    def map(self, work, shards, setup=None, setup_args=(), labels=None):
        """[work(state, shard) for shard in shards], in shard order."""
        shards = list(shards)
        out = [None] * len(shards)
        for i, result in self.imap(work, shards, setup, setup_args, labels, total=len(shards)):
            out[i] = result
        return out

    def imap(self, work, shards, setup=None, setup_args=(), labels=None, total=None, weight=None):
        """Yield (index, work(state, shard)) as shards finish. `shards` may be a lazy iterator:
        one shard per worker is held at a time. `labels`: a list or a function of
        the index naming a shard in errors; `weight(shard)`: progress units (default 1)."""
        name = labels if callable(labels) else (
            (lambda i: labels[i]) if labels is not None else (lambda i: f"shard {i}"))
        weight = weight or (lambda shard: 1)
        bar = self._bar(total)
        try:
            if not self.distributed:
                state = setup(*setup_args) if setup is not None else None
                for i, shard in enumerate(shards):
                    result = work(state, shard)
                    bar.update(weight(shard))
                    yield i, result
                return
            yield from self._imap_ray(work, iter(shards), setup, setup_args, name, bar, weight)
        finally:
            bar.close()

    def _bar(self, total):
        from tqdm import tqdm
        return tqdm(total=total, desc=self.desc, disable=not self.progress, leave=False)

    def _imap_ray(self, work, shards, setup, setup_args, name, bar, weight):
        ray = self._ray
        actor_cls = ray.remote(num_cpus=1, max_restarts=0)(_Worker)
        work_ref = ray.put(work)
        actors = [actor_cls.remote(setup, setup_args) for _ in range(self.size)]
        pending, attempts, held, counter = {}, {}, {}, iter(range(1 << 62))

        def submit(slot, i):
            attempts[i] = attempts.get(i, 0) + 1
            pending[actors[slot].run.remote(work_ref, held[i])] = (slot, i)

        def feed(slot):
            shard = next(shards, None)
            if shard is not None:
                i = next(counter)
                held[i] = shard
                submit(slot, i)

        try:
            for slot in range(len(actors)):
                feed(slot)
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                slot, i = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, HwsnnError):
                        raise cause from None
                    raise ClusterError(f"{name(i)} failed: {cause!r}") from None
                except ray.exceptions.RayActorError as exc:
                    if attempts[i] >= ATTEMPTS:
                        raise ClusterError(f"{name(i)} failed twice: its worker died "
                                           f"({type(exc).__name__})") from None
                    actors[slot] = actor_cls.remote(setup, setup_args)  # a fresh worker
                    submit(slot, i)
                    continue
                bar.update(weight(held.pop(i)))
                feed(slot)
                yield i, result
        finally:
            for a in actors:
                ray.kill(a)
