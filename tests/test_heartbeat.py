"""Heartbeats: argument checks, the server clock, stale trials of killed workers."""

from __future__ import annotations

import time
import warnings

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages import fail_stale_trials
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis

import _workers
from optuna_redis import RedisStorage
from optuna_redis._keys import trial_id_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def _server_now(client: redis.Redis) -> float:
    seconds, microseconds = client.time()
    return seconds + microseconds / 1e6


@pytest.mark.parametrize("name", ["heartbeat_interval", "grace_period"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_invalid_heartbeat_arguments(redis_url: str, prefix: str, name: str, value) -> None:
    kwargs = {"heartbeat_interval": 1, name: value}
    with pytest.raises(ValueError):
        RedisStorage(redis_url, prefix=prefix, **kwargs)


def test_heartbeat_disabled_by_default(storage: RedisStorage) -> None:
    assert storage.get_heartbeat_interval() is None
    assert storage.get_heartbeat_stale_trial_callback() is None
    assert not optuna.storages._heartbeat.is_heartbeat_enabled(storage)


def _stale_after(
    redis_url: str, prefix: str, redis_client: redis.Redis, ages: list[float], **kwargs
) -> list[bool]:
    """For each age, whether a RUNNING trial whose last heartbeat is that old is stale."""
    storage = RedisStorage(redis_url, prefix=prefix, **kwargs)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    trial_ids = [storage.create_new_trial(study_id) for _ in ages]
    for trial_id in trial_ids:  # judged by their own heartbeats from the first one on
        storage.record_heartbeat(trial_id)
    now = _server_now(redis_client)
    key = storage._keys.heartbeats(study_id)
    redis_client.zadd(key, {str(i): now - age for i, age in enumerate(ages)})
    stale = set(storage._get_stale_trial_ids(study_id))
    return [trial_id in stale for trial_id in trial_ids]


def test_grace_period_defaults_to_twice_the_interval(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    ages = [1, 4, 9, 11, 100]
    assert _stale_after(redis_url, prefix, redis_client, ages, heartbeat_interval=5) == [
        False,
        False,
        False,
        True,
        True,
    ]
    assert _stale_after(
        redis_url, prefix, redis_client, ages, heartbeat_interval=5, grace_period=3
    ) == [False, True, True, True, True]


def test_failed_trial_callback_is_deprecated(redis_url: str, prefix: str) -> None:
    callback = RetryHeartbeatStaleTrialCallback()
    with pytest.warns(FutureWarning):
        storage = RedisStorage(
            redis_url, prefix=prefix, heartbeat_interval=1, failed_trial_callback=callback
        )
    assert storage.get_heartbeat_stale_trial_callback() is callback
    with pytest.warns(FutureWarning):  # Optuna's own deprecated getter.
        assert storage.get_failed_trial_callback() is callback

    with pytest.raises(ValueError):
        RedisStorage(
            redis_url,
            prefix=prefix,
            heartbeat_interval=1,
            heartbeat_stale_trial_callback=callback,
            failed_trial_callback=callback,
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Optuna marks heartbeats experimental; only the deprecation must be gone.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RedisStorage(
            redis_url, prefix=prefix, heartbeat_interval=1, heartbeat_stale_trial_callback=callback
        )
    assert storage.get_heartbeat_stale_trial_callback() is callback


def test_heartbeat_uses_server_clock(
    redis_url: str, prefix: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = RedisStorage(redis_url, prefix=prefix, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage)
    study_id = study._study_id
    key = storage._keys.heartbeats(study_id)
    recent, old, silent, finished = (storage.create_new_trial(study_id) for _ in range(4))

    # A client clock far off does not matter: the score is the Redis server's TIME.
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: 0.0)
        storage.record_heartbeat(recent)
    score = redis_client.zscore(key, "0")
    assert score is not None
    assert 0 <= _server_now(redis_client) - score < 5

    storage.record_heartbeat(old)
    redis_client.zadd(key, {"1": _server_now(redis_client) - 1000})
    storage.record_heartbeat(finished)
    assert storage.set_trial_state_values(finished, TrialState.COMPLETE, [1.0])
    assert redis_client.zscore(key, "3") is None  # Finishing drops the heartbeat.
    storage.record_heartbeat(finished)  # No error, and no heartbeat for a finished trial.
    assert redis_client.zscore(key, "3") is None
    # Even with an ancient heartbeat left behind, a finished trial is never stale.
    redis_client.zadd(key, {"3": _server_now(redis_client) - 1000})

    # `silent` never sent a heartbeat: like RDBStorage, such a trial is not stale.
    assert storage._get_stale_trial_ids(study_id) == [old]
    fail_stale_trials(study)
    states = [t.state for t in storage.get_all_trials(study_id)]
    assert states == [TrialState.RUNNING, TrialState.FAIL, TrialState.RUNNING, TrialState.COMPLETE]
    assert storage.get_trial(old).datetime_complete is not None
    assert storage._get_stale_trial_ids(study_id) == []

    with pytest.raises(KeyError):
        storage.record_heartbeat(trial_id_of(study_id, 99))
    with pytest.raises(KeyError):
        storage.record_heartbeat(trial_id_of(study_id + 1000, 0))
    with pytest.raises(KeyError):
        storage.record_heartbeat(-1)


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -10, 10) ** 2


@pytest.mark.timeout(120)
def test_killed_worker_trial_is_failed_and_retried(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    storage = RedisStorage(
        redis_url,
        prefix=prefix,
        heartbeat_interval=1,
        grace_period=2,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
    )
    study = optuna.create_study(study_name="hb", storage=storage)
    study_id = study._study_id
    key = storage._keys.heartbeats(study_id)
    doomed = trial_id_of(study_id, 0)

    results = _workers.SPAWN.Queue()
    started = _workers.SPAWN.Event()
    worker = _workers.start_process(
        "optimize_and_hang", (redis_url, prefix, "hb", started), results, 0
    )
    try:
        assert started.wait(60), "the worker never started its trial"
        # Its heartbeat thread starts with the trial; wait for the first beat.
        _workers.poll(lambda: redis_client.zscore(key, "0") is not None, 10)
        assert storage.get_trial(doomed).state == TrialState.RUNNING
    finally:
        worker.kill()
        worker.join(10)
    assert worker.exitcode is not None and worker.exitcode < 0

    last_beat = redis_client.zscore(key, "0")
    _workers.poll(lambda: storage._get_stale_trial_ids(study_id) == [doomed], 15)
    assert _server_now(redis_client) - last_beat > 2

    # The next worker asking for a trial fails the stale one, its callback enqueues a retry,
    # and the worker then runs that retry.
    study.optimize(_objective, n_trials=1)

    failed, retry = storage.get_all_trials(study_id)
    assert failed.number == 0
    assert failed.state == TrialState.FAIL
    assert failed.datetime_complete is not None
    assert failed.user_attrs == {"worker": "doomed"}
    assert retry.number == 1
    assert retry.state == TrialState.COMPLETE
    assert retry.system_attrs["failed_trial"] == 0
    assert retry.system_attrs["retry_history"] == [0]
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 0
    assert RetryHeartbeatStaleTrialCallback.retry_history(retry) == [0]
    assert retry.params == failed.params
    assert retry.user_attrs == failed.user_attrs
    assert retry.value == failed.params["x"] ** 2

    assert storage.get_all_trials(study_id, states=(TrialState.RUNNING, TrialState.WAITING)) == []
    assert redis_client.zcard(key) == 0
    assert storage._get_stale_trial_ids(study_id) == []


@pytest.mark.timeout(120)
def test_concurrent_fail_stale_trials_fail_each_once(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    n_stale, n_fresh, n_done, n_procs = 300, 20, 20, 4
    storage = RedisStorage(redis_url, prefix=prefix)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "stale")
    ids = [storage.create_new_trial(study_id) for _ in range(n_stale + n_fresh + n_done)]
    stale, fresh, done = ids[:n_stale], ids[n_stale:-n_done], ids[-n_done:]
    for trial_id in done:
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
    now = _server_now(redis_client)
    key = storage._keys.heartbeats(study_id)
    numbers = {tid: storage.get_trial_number_from_id(tid) for tid in ids}
    redis_client.zadd(key, {str(numbers[t]): now - 100 for t in stale + done})
    redis_client.zadd(key, {str(numbers[t]): now + 1000 for t in fresh})

    counter = f"{prefix}:callback-calls"
    barrier = _workers.SPAWN.Barrier(n_procs)
    calls = _workers.run_processes(
        [("fail_stale", (redis_url, prefix, "stale", counter, barrier, 3))] * n_procs
    )

    assert sum(calls) == n_stale
    per_trial = {int(k): int(v) for k, v in redis_client.hgetall(counter).items()}
    assert per_trial == {numbers[t]: 1 for t in stale}
    trials = {t._trial_id: t for t in storage.get_all_trials(study_id)}
    assert all(trials[t].state == TrialState.FAIL for t in stale)
    assert all(trials[t].state == TrialState.RUNNING for t in fresh)
    assert all(trials[t].state == TrialState.COMPLETE for t in done)


def test_heartbeat_interval_is_experimental_like_rdb(redis_url: str, prefix: str) -> None:
    with pytest.warns(optuna.exceptions.ExperimentalWarning, match="heartbeat_interval"):
        RedisStorage(redis_url, prefix=prefix, heartbeat_interval=1)
