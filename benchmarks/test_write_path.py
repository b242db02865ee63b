"""The write path of one trial of workload W (create, 10 params, 10 intermediate values,
attrs, finish), ours side by side with JournalRedis and InMemory; and ours in round trips.

    python -m pytest benchmarks/test_write_path.py
"""

from __future__ import annotations

import random

from optuna.study import StudyDirection
import pytest

import _workload

TRIALS_PER_ROUND = 50


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory"])
def test_write_trials(benchmark, redis_url: str, backend: str) -> None:
    benchmark.group = f"write {TRIALS_PER_ROUND} trials of workload W, call by call"
    prefix = _workload.new_prefix()
    try:
        storage = _workload.storage_for(backend, redis_url, prefix)
        study_id = storage.create_new_study([StudyDirection.MINIMIZE], "w")
        rng = random.Random(0)
        trials = [_workload.workload_trial(rng, n) for n in range(TRIALS_PER_ROUND)]

        def write() -> None:
            for trial in trials:
                _workload.write_like_a_worker(storage, study_id, trial)

        benchmark.pedantic(write, rounds=5, iterations=1)
    finally:
        _workload.drop_prefix(redis_url, prefix)


def test_round_trips_per_storage_call(redis_url: str) -> None:
    """Every write call of ours is one round trip (a script run by SHA)."""
    prefix = _workload.new_prefix()
    try:
        storage = _workload.ours(redis_url, prefix)
        study_id = storage.create_new_study([StudyDirection.MINIMIZE], "w")
        _workload.write_like_a_worker(
            storage, study_id, _workload.workload_trial(random.Random(0), 0)
        )
        trial = _workload.workload_trial(random.Random(1), 1)
        with _workload.round_trips() as sent:
            _workload.write_like_a_worker(storage, study_id, trial)
        calls = 1 + len(trial.params) + len(trial.intermediate_values)
        calls += len(trial.user_attrs) + len(trial.system_attrs) + 1
        print(f"\nours: {sent[0]} round trips for {calls} storage calls of one trial")
        assert sent[0] == calls
    finally:
        _workload.drop_prefix(redis_url, prefix)
