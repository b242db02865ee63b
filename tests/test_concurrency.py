"""Guarantees that hold when many processes (or threads) share one study.

Each process builds its own ``RedisStorage`` from the URL (see ``_workers``), so they share
nothing but the Redis server: every race here is decided by the Lua scripts.
"""

from __future__ import annotations

import collections
import threading

import optuna
from optuna.exceptions import DuplicatedStudyError
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

import _workers
from optuna_redis import RedisStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _check_dense(trials: list[optuna.trial.FrozenTrial], n: int) -> None:
    assert sorted(t.number for t in trials) == list(range(n))
    assert len({t._trial_id for t in trials}) == n
    by_id = sorted(trials, key=lambda t: t._trial_id)
    assert [t.number for t in by_id] == list(range(n))


@pytest.mark.timeout(120)
def test_stress_optimize_with_enqueued_trials(redis_url: str, prefix: str) -> None:
    n_workers, n_trials, n_enqueued = 8, 60, 40
    storage = RedisStorage(redis_url, prefix=prefix)
    study = optuna.create_study(study_name="stress", storage=storage)
    for i in range(n_enqueued):
        study.enqueue_trial({"x": i - 20})

    barrier = _workers.SPAWN.Barrier(n_workers)
    _workers.run_processes(
        [
            ("optimize", (redis_url, prefix, "stress", n_trials, seed, barrier))
            for seed in range(n_workers)
        ]
    )

    # Every optimize() call runs exactly n_trials trials, each either a popped WAITING trial
    # (Study._pop_waiting_trial_id) or a new one; every ask scans the WAITING trials first
    # and 480 asks > 40 enqueued, so all enqueued trials are popped and the study holds
    # exactly n_workers * n_trials trials, the enqueued ones among them.
    fresh = RedisStorage(redis_url, prefix=prefix)
    trials = fresh.get_all_trials(study._study_id)
    total = n_workers * n_trials
    assert len(trials) == total
    assert fresh.get_n_trials(study._study_id) == total
    _check_dense(trials, total)
    assert collections.Counter(t.state for t in trials) == {TrialState.COMPLETE: total}
    assert all(t.datetime_start is not None and t.datetime_complete for t in trials)

    enqueued = [t for t in trials if "fixed_params" in t.system_attrs]
    assert len(enqueued) == n_enqueued
    # Enqueued first, so they hold the first numbers, in enqueue order.
    assert sorted(t.number for t in enqueued) == list(range(n_enqueued))
    for t in enqueued:
        assert t.system_attrs["fixed_params"] == {"x": t.number - 20}
        assert t.params["x"] == t.number - 20
        assert t.value == (t.number - 20) ** 2 + t.params["y"]
    for t in trials:
        assert t.value == t.params["x"] * t.params["x"] + t.params["y"]


@pytest.mark.timeout(120)
def test_same_study_name_created_once(redis_url: str, prefix: str) -> None:
    n = 12
    barrier = _workers.SPAWN.Barrier(n)
    results = _workers.run_processes(
        [("create_study", (redis_url, prefix, "same", barrier)) for _ in range(n)]
    )
    winners = [study_id for kind, study_id in results if kind == "id"]
    assert len(winners) == 1
    assert sum(kind == "duplicated" for kind, _ in results) == n - 1

    storage = RedisStorage(redis_url, prefix=prefix)
    studies = [s for s in storage.get_all_studies() if s.study_name == "same"]
    assert [s._study_id for s in studies] == winners
    assert storage.get_study_id_from_name("same") == winners[0]
    with pytest.raises(DuplicatedStudyError):
        storage.create_new_study([StudyDirection.MINIMIZE], "same")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("finish", [False, True])
def test_waiting_trial_claimed_once(redis_url: str, prefix: str, finish: bool) -> None:
    n_procs, n_waiting = 6, 200
    storage = RedisStorage(redis_url, prefix=prefix)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "queue")
    template = optuna.trial.create_trial(state=TrialState.WAITING)
    trial_ids = [storage.create_new_trial(study_id, template) for _ in range(n_waiting)]

    barrier = _workers.SPAWN.Barrier(n_procs)
    results = _workers.run_processes(
        [("claim", (redis_url, prefix, trial_ids, barrier, finish)) for _ in range(n_procs)]
    )

    wins = collections.Counter(tid for won in results for tid in won)
    assert set(wins) == set(trial_ids)
    assert set(wins.values()) == {1}
    expected = TrialState.COMPLETE if finish else TrialState.RUNNING
    for t in RedisStorage(redis_url, prefix=prefix).get_all_trials(study_id):
        assert t.state == expected
        assert t.datetime_start is not None


@pytest.mark.timeout(120)
def test_no_write_lands_after_finish(redis_url: str, prefix: str) -> None:
    rounds = 5
    storage = RedisStorage(redis_url, prefix=prefix)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "finish-race")
    trial_ids = [storage.create_new_trial(study_id) for _ in range(rounds)]
    started = [_workers.SPAWN.Event() for _ in range(rounds)]
    values = [r + 0.25 for r in range(rounds)]

    results = _workers.run_processes(
        [
            ("finish_when_started", (redis_url, prefix, trial_ids, started, values)),
            ("write_until_finished", (redis_url, prefix, trial_ids, started, 20.0)),
        ]
    )
    finished, writes = results
    assert finished == [True] * rounds

    fresh = RedisStorage(redis_url, prefix=prefix)
    for trial_id, value, (succeeded, failed) in zip(trial_ids, values, writes, strict=True):
        assert failed == len(succeeded)  # Writes are numbered 0, 1, ... in order.
        assert len(succeeded) > 30
        trial = fresh.get_trial(trial_id)
        assert trial.state == TrialState.COMPLETE
        assert trial.values == [value]
        assert trial.datetime_complete is not None

        landed = set()
        for step, v in trial.intermediate_values.items():
            assert v == float(step)
            landed.add(step)
        for key, v in trial.user_attrs.items():
            assert key == f"a{v}"
            landed.add(v)
        for name, v in trial.params.items():
            i = int(name[1:])
            assert v == i / 1e6
            landed.add(i)
        # Exactly the writes the writer saw succeed: none lost, none after the finish.
        assert landed == set(succeeded)
        assert failed not in landed
        kinds = collections.Counter(_workers.WRITE_KINDS[i % 3] for i in succeeded)
        assert len(trial.intermediate_values) == kinds["intermediate"]
        assert len(trial.user_attrs) == kinds["user_attr"]
        assert len(trial.params) == kinds["param"]


@pytest.mark.timeout(120)
def test_threads_share_one_storage_with_n_jobs(redis_url: str, prefix: str) -> None:
    storage = RedisStorage(redis_url, prefix=prefix)
    study = optuna.create_study(
        study_name="n-jobs", storage=storage, sampler=optuna.samplers.RandomSampler(0)
    )
    study.optimize(_workers.objective, n_trials=8 * 30, n_jobs=8)

    trials = RedisStorage(redis_url, prefix=prefix).get_all_trials(study._study_id)
    assert len(trials) == 240
    _check_dense(trials, 240)
    assert all(t.state == TrialState.COMPLETE for t in trials)


@pytest.mark.timeout(120)
def test_threads_share_one_storage(redis_url: str, prefix: str) -> None:
    n_threads, n_trials = 8, 30
    storage = RedisStorage(redis_url, prefix=prefix)
    optuna.create_study(study_name="threads", storage=storage)
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            study = optuna.load_study(
                study_name="threads",
                storage=storage,
                sampler=optuna.samplers.RandomSampler(seed),
            )
            barrier.wait(30)
            study.optimize(_workers.objective, n_trials=n_trials)
        except BaseException as e:  # Reported by the main thread.
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    study_id = storage.get_study_id_from_name("threads")
    total = n_threads * n_trials
    for s in (storage, RedisStorage(redis_url, prefix=prefix)):
        trials = s.get_all_trials(study_id)
        assert len(trials) == total
        _check_dense(trials, total)
        assert all(t.state == TrialState.COMPLETE for t in trials)
