"""get_all_trials of workload W, ours side by side with Optuna's storages and the raw fetch.

    OPTUNA_REDIS_BENCH_SIZES=1000,10000 python -m pytest benchmarks/test_get_all_trials.py

Each case is a pytest-benchmark group, so its table lists the backends next to each other.
"cold" builds a new storage object for every round (its cache starts empty); "raw" is the
lower bound: fetching our records from Redis with MGET, decoding nothing.
"""

from __future__ import annotations

import random

from optuna.storages import BaseStorage
import pytest
import redis

import _workload
from _workload import Studies

ROUNDS = 5


def _ours(studies: Studies) -> tuple[BaseStorage, int]:
    return _workload.ours(studies.url, studies.ours_prefix), studies.ours_id


def _journal(studies: Studies) -> tuple[BaseStorage, int]:
    return _workload.journal_redis(studies.url, studies.journal_prefix), studies.journal_id


def _inmemory(studies: Studies) -> tuple[BaseStorage, int]:
    return studies.inmemory, studies.inmemory_id


BACKENDS = {"ours": _ours, "journal_redis": _journal, "inmemory": _inmemory}


def _bench(benchmark, fn, rounds: int = ROUNDS, setup=None):  # noqa: ANN001
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.parametrize("backend", ["ours", "journal_redis"])
def test_cold(benchmark, studies: Studies, backend: str) -> None:
    benchmark.group = f"cold get_all_trials, n={studies.n}"

    def cold() -> None:
        storage, study_id = BACKENDS[backend](studies)
        assert len(storage.get_all_trials(study_id, deepcopy=False)) >= studies.n

    _bench(benchmark, cold)


def test_cold_raw_fetch(benchmark, studies: Studies) -> None:
    benchmark.group = f"cold get_all_trials, n={studies.n}"
    storage, study_id = _ours(studies)
    keys = [storage._keys.trial(study_id, i) for i in range(studies.n)]
    client = redis.Redis.from_url(studies.url)

    def raw() -> None:
        for lo in range(0, len(keys), 5000):
            client.mget(keys[lo : lo + 5000])

    _bench(benchmark, raw)


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory"])
@pytest.mark.parametrize("deepcopy", [False, True], ids=["shared", "deepcopy"])
def test_warm_unchanged(benchmark, studies: Studies, backend: str, deepcopy: bool) -> None:
    benchmark.group = f"warm get_all_trials(deepcopy={deepcopy}), nothing changed, n={studies.n}"
    storage, study_id = BACKENDS[backend](studies)
    storage.get_all_trials(study_id, deepcopy=False)
    _bench(benchmark, lambda: storage.get_all_trials(study_id, deepcopy=deepcopy), rounds=20)


@pytest.mark.parametrize("backend", ["ours", "journal_redis"])
@pytest.mark.parametrize("k", [1, 100])
def test_warm_after_changes(benchmark, studies: Studies, backend: str, k: int) -> None:
    benchmark.group = f"warm get_all_trials after another worker wrote {k} trials, n={studies.n}"
    reader, study_id = BACKENDS[backend](studies)
    writer, _ = BACKENDS[backend](studies)
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
