"""Sharding on a real local Ray instance (2 workers): merged results equal one worker's."""

import os
import subprocess
import sys

import numpy as np
import pytest

try:
    import ray  # noqa: F401
except ImportError:  # under HWSNN_REQUIRE_BACKENDS=1 (CI) a missing Ray fails the run
    if os.environ.get("HWSNN_REQUIRE_BACKENDS") == "1":
        raise ImportError("HWSNN_REQUIRE_BACKENDS=1: Ray is missing: pip install 'hwsnn[cluster]'")
    pytest.skip("Ray is not installed: pip install 'hwsnn[cluster]'", allow_module_level=True)

import shard_helpers  # noqa: E402
from randnets import random_stbif_net  # noqa: E402

from hwsnn.cluster import Pool, merge_comparisons, sample_ranges, verify_sharded  # noqa: E402
from hwsnn.errors import ClusterError  # noqa: E402
from hwsnn import backends as backends_mod

sys.path.insert(0, os.path.dirname(__file__))


@pytest.fixture(scope="module")
def pool():
    with Pool(workers=2, progress=False) as p:
        yield p


@pytest.fixture
def corrupt(monkeypatch):
    monkeypatch.setitem(backends_mod.BACKENDS, "corrupt", "shard_helpers:corrupt_backend")
    monkeypatch.setitem(backends_mod.DELAYS, "corrupt", None)  # it runs the graph as given


def _net_and_inputs(batch=12):
    graph = random_stbif_net(3, depth=2)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (batch, *graph.nodes["in"].shape))
    x[:, 0] = np.arange(batch)  # a tag per sample (see shard_helpers.corrupt_backend)
    return graph, x


def test_sample_ranges_cover_every_sample_once():
    for n in (1, 2, 7, 360):
        for k in (1, 2, 3, 8, 500):
            r = sample_ranges(n, k)
            assert r[0][0] == 0 and r[-1][1] == n and all(a < b for a, b in r)
            assert all(b == c for (_, b), (c, _) in zip(r, r[1:]))


def test_verify_two_shards_equals_one_worker(pool, corrupt):
    graph, x = _net_and_inputs()
    one = backends_mod.verify(graph, x, 9, backends=["golden", "corrupt"])
    two = verify_sharded(graph, x, 9, ["golden", "corrupt"], pool)
    assert pool.size == 2
    for name in ("golden", "corrupt"):
        assert two[name].compared_values == one[name].compared_values > 0
        assert two[name].mismatches == one[name].mismatches
        assert two[name].per_variable == one[name].per_variable
        assert two[name].first == one[name].first
    assert one["golden"].mismatches == 0
    # the earliest divergence is in the second shard (sample 7, step 1), at its global index
    first = two["corrupt"].first
    assert (first.sample, first.step, first.variable) == (7, 1, "V")
    assert two["corrupt"].mismatches >= 2


def test_merge_is_exact_for_any_shard_count(corrupt):
    graph, x = _net_and_inputs()
    one = backends_mod.verify(graph, x, 9, backends=["corrupt"])["corrupt"]
    for k in (1, 3, 12):
        with Pool(progress=False) as serial:
            merged = verify_sharded(graph, x, 9, ["corrupt"], serial, shards=k)["corrupt"]
        assert (merged.compared_values, merged.mismatches, merged.first) == \
            (one.compared_values, one.mismatches, one.first)


def test_merge_rejects_mixed_backends():
    a, b = backends_mod.Comparison("lava"), backends_mod.Comparison("rtl")
    with pytest.raises(ClusterError, match="different back ends"):
        merge_comparisons([a, b], [0, 1], [])


def test_killed_worker_is_retried_once(pool, tmp_path):
    out = pool.map(shard_helpers.die_once, [0, 1, 2], setup=lambda m: m,
                   setup_args=(str(tmp_path / "died"),))
    assert out == [0, 10, 20] and (tmp_path / "died").exists()


def test_shard_that_kills_its_worker_twice_fails_naming_it(pool):
    with pytest.raises(ClusterError, match=r"shard 1 failed twice: its worker died"):
        pool.map(shard_helpers.die_always, [0, 1, 2])


def test_pool_stops_the_ray_it_started():
    code = ("from hwsnn.cluster import Pool\n"
            "with Pool(workers=1, progress=False) as p:\n"
            "    assert p.map(lambda s, i: i + 1, [1, 2]) == [2, 3]\n"
            "import ray; print(ray.is_initialized())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("False")


@pytest.mark.slow
def test_sweep_two_workers_gives_the_serial_rows(pool):
    from hwsnn.cluster import sweep_sharded
    from hwsnn.study import sweep
    methods, steps = ["stbif", "qcfs", "calif"], [2, 4]
    serial = sweep(methods, steps, n_test=40)
    sharded = sweep_sharded(methods, steps, pool, n_test=40)

    def strip(rows):  # wall time is the only field that may differ
        return [{k: v for k, v in r.items() if k != "seconds_per_image"} for r in rows]

    assert [(r["method"], r["T"]) for r in sharded] == [(m, t) for m in methods for t in steps]
    assert strip(sharded) == strip(serial)
