"""get_all_trials of workload W, ours side by side with Optuna's storages and the raw fetch.

    OPTUNA_REDIS_BENCH_SIZES=1000,10000 python -m pytest benchmarks/test_get_all_trials.py

Each case is a pytest-benchmark group, so its table lists the backends next to each other.
"cold" builds a new storage object for every round (its cache starts empty); "raw" is the
lower bound: fetching our records from Redis with MGET, decoding nothing.

"rdb_raw" is ``RDBStorage`` on a SQLite file used directly, "rdb_cached" the same behind
``_CachedStorage``, as ``optuna.create_study`` wraps it. They run for n <= 10,000 only
(reading 100k trials from SQLite takes minutes); their study is written on first use, in
bulk, with the same trials. For them "another worker" is another ``RDBStorage`` on the file.
"""

from __future__ import annotations

from collections.abc import Callable
import random

from optuna.storages import BaseStorage
import pytest
import redis

import _workload
from _workload import Studies

ROUNDS = 5
# Reading the whole study from SQLite is slow: RDB cases run up to this size.
RDB_MAX_TRIALS = 10_000


def _ours(studies: Studies) -> tuple[BaseStorage, int]:
    return _workload.ours(studies.url, studies.ours_prefix), studies.ours_id


def _journal(studies: Studies) -> tuple[BaseStorage, int]:
    return _workload.journal_redis(studies.url, studies.journal_prefix), studies.journal_id


def _inmemory(studies: Studies) -> tuple[BaseStorage, int]:
    return studies.inmemory, studies.inmemory_id


def _rdb(make: Callable[[str], BaseStorage]) -> Callable[[Studies], tuple[BaseStorage, int]]:
    def backend(studies: Studies) -> tuple[BaseStorage, int]:
        url, study_id = studies.rdb()
        return make(url), study_id

    return backend


BACKENDS = {
    "ours": _ours,
    "journal_redis": _journal,
    "inmemory": _inmemory,
    "rdb_raw": _rdb(_workload.rdb_raw),
    "rdb_cached": _rdb(_workload.rdb_cached),
}
# The storage another worker writes through; by default one more of the reader's backend.
WRITERS = {"rdb_cached": "rdb_raw"}


def _skip_if_too_big(backend: str, studies: Studies) -> None:
    if backend.startswith("rdb") and studies.n > RDB_MAX_TRIALS:
        pytest.skip(f"RDBStorage is measured up to n={RDB_MAX_TRIALS}: one read takes minutes")


def _bench(benchmark, fn, rounds: int = ROUNDS, setup=None):  # noqa: ANN001
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "rdb_raw", "rdb_cached"])
def test_cold(benchmark, studies: Studies, backend: str) -> None:
    benchmark.group = f"cold get_all_trials, n={studies.n}"
    _skip_if_too_big(backend, studies)
    if backend.startswith("rdb"):
        studies.rdb()  # Written once, outside the timing.

    def cold() -> None:
        storage, study_id = BACKENDS[backend](studies)
        assert len(storage.get_all_trials(study_id, deepcopy=False)) >= studies.n

    _bench(benchmark, cold)


def test_cold_raw_fetch(benchmark, studies: Studies) -> None:
    benchmark.group = f"cold get_all_trials, n={studies.n}"
    storage, study_id = _ours(studies)
    keys = [storage._keys.trial(study_id, i) for i in range(studies.n)]
    client = redis.Redis.from_url(studies.url)

    _bench(benchmark, lambda: _workload.raw_fetch(client, keys))


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory", "rdb_raw", "rdb_cached"])
@pytest.mark.parametrize("deepcopy", [False, True], ids=["shared", "deepcopy"])
def test_warm_unchanged(benchmark, studies: Studies, backend: str, deepcopy: bool) -> None:
    benchmark.group = f"warm get_all_trials(deepcopy={deepcopy}), nothing changed, n={studies.n}"
    _skip_if_too_big(backend, studies)
    storage, study_id = BACKENDS[backend](studies)
    storage.get_all_trials(study_id, deepcopy=False)
    # RDBStorage has no cache: each of its rounds is a whole read.
    rounds = ROUNDS if backend == "rdb_raw" else 20
    _bench(benchmark, lambda: storage.get_all_trials(study_id, deepcopy=deepcopy), rounds=rounds)


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "rdb_raw", "rdb_cached"])
@pytest.mark.parametrize("k", [1, 100])
def test_warm_after_changes(benchmark, studies: Studies, backend: str, k: int) -> None:
    benchmark.group = f"warm get_all_trials after another worker wrote {k} trials, n={studies.n}"
    _skip_if_too_big(backend, studies)
    reader, study_id = BACKENDS[backend](studies)
    writer, _ = BACKENDS[WRITERS.get(backend, backend)](studies)
    reader.get_all_trials(study_id, deepcopy=False)
    rng = random.Random(k)

    def other_worker_writes() -> None:
        for n in range(k):
            _workload.write_like_a_worker(writer, study_id, _workload.workload_trial(rng, n))

    _bench(
        benchmark,
        lambda: reader.get_all_trials(study_id, deepcopy=False),
        setup=other_worker_writes,
    )


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory", "rdb_cached"])
def test_best_trial_after_a_change(benchmark, studies: Studies, backend: str) -> None:
    """``get_best_trial`` (``study.best_trial``, which Optuna's INFO logging reads after
    every trial) once another worker finished a trial (InMemory: once it wrote one)."""
    benchmark.group = f"get_best_trial after another worker wrote 1 trial, n={studies.n}"
    _skip_if_too_big(backend, studies)
    reader, study_id = BACKENDS[backend](studies)
    writer, _ = BACKENDS[WRITERS.get(backend, backend)](studies)
    reader.get_best_trial(study_id)
    rng = random.Random(3)

    def other_worker_writes() -> None:
        _workload.write_like_a_worker(writer, study_id, _workload.workload_trial(rng, 0))

    _bench(benchmark, lambda: reader.get_best_trial(study_id), setup=other_worker_writes)
