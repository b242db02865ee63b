"""A trial is alive from the moment it exists: a worker killed anywhere in a trial's life,
even before Optuna's heartbeat thread has recorded a beat, leaves a trial the others fail
and re-run; a process using ask()/tell() keeps its trials alive for as long as it lives."""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages import fail_stale_trials
from optuna.trial import TrialState
import pytest
import redis

import _liveness_workers
import _workers
from optuna_redis import RedisStorage
from optuna_redis._keys import trial_id_of

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = [
    pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning"),
    pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning"),
]

INTERVAL, GRACE = 1, 2


def _storage(url: str, prefix: str, **kwargs) -> RedisStorage:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RedisStorage(
            url, prefix=prefix, heartbeat_interval=INTERVAL, grace_period=GRACE, **kwargs
        )


def _objective(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -10, 10) ** 2


def _kill_at(url: str, prefix: str, point: str) -> None:
    """Run a worker of the study "live" up to ``point`` and SIGKILL it there."""
    results = _workers.SPAWN.Queue()
    entered = _workers.SPAWN.Event()
    args = (url, prefix, "live", point, INTERVAL, GRACE, entered)
    worker = _workers.start_process("_liveness_workers.stop_in_trial", args, results, 0)
    try:
        if not entered.wait(60):
            raise AssertionError(f"the worker never reached {point!r}: {results.get(timeout=5)}")
    finally:
        worker.kill()
        worker.join(10)
    assert worker.exitcode is not None and worker.exitcode < 0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("claimed", [False, True], ids=["created", "claimed"])
@pytest.mark.parametrize("point", _liveness_workers.POINTS)
def test_a_worker_killed_anywhere_in_a_trial_leaves_it_failed_and_rerun_once(
    redis_url: str, prefix: str, redis_client: redis.Redis, point: str, claimed: bool
) -> None:
    storage = _storage(
        redis_url, prefix, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback()
    )
    study = optuna.create_study(study_name="live", storage=storage)
    study_id = study._study_id
    if claimed:
        study.enqueue_trial({"x": 3.0})  # the worker claims this WAITING trial
    doomed = trial_id_of(study_id, 0)

    _kill_at(redis_url, prefix, point)
    assert storage.get_trial(doomed).state == TrialState.RUNNING
    # Stale once its worker has been gone for the grace period (and its last beat, or its
    # process's, is older than that): allow for that and a wide margin.
    _workers.poll(
        lambda: storage._get_stale_trial_ids(study_id) == [doomed],
        GRACE + INTERVAL + 10,
        f"the trial of the worker killed at {point!r} to be stale",
    )

    # The next worker to start a trial fails it, and its callback enqueues one retry,
    # which that worker then runs.
    study.optimize(_objective, n_trials=1)
    trials = storage.get_all_trials(study_id)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    failed, retry = trials
    assert failed.datetime_complete is not None
    assert RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 0
    if claimed:  # the retry carries the enqueued params
        assert retry.params["x"] == 3.0
    assert storage._get_stale_trial_ids(study_id) == []
    fail_stale_trials(study)  # nothing left to fail: the retry is not run twice
    assert len(storage.get_all_trials(study_id)) == 2
    # Nothing is left of the trials' liveness once they are finished.
    assert redis_client.zcard(storage._keys.heartbeats(study_id)) == 0
    assert redis_client.hlen(storage._keys.claims(study_id)) == 0


@pytest.mark.timeout(120)
def test_a_live_ask_and_tell_process_keeps_its_trial_open(redis_url: str, prefix: str) -> None:
    """No heartbeat thread runs for a trial from ask(): its process vouches for it, and
    keeps doing so, while other workers look for stale trials, for 3 grace periods."""
    asker = _storage(redis_url, prefix)
    study = optuna.create_study(study_name="ask", storage=asker)
    trial = study.ask()
    trial.suggest_float("x", -10, 10)

    judge = _storage(redis_url, prefix)
    judged = optuna.load_study(study_name="ask", storage=judge)
    end = time.monotonic() + 3 * GRACE
    checks = 0
    while time.monotonic() < end:
        assert judge._get_stale_trial_ids(study._study_id) == []
        fail_stale_trials(judged)
        checks += 1
        time.sleep(0.1)
    assert checks > 10
    assert study.trials[0].state == TrialState.RUNNING
    study.tell(trial, 1.0)
    assert study.trials[0].state == TrialState.COMPLETE
    assert study.trials[0].value == 1.0


def test_a_trial_of_a_storage_without_heartbeats_is_never_stale(
    redis_url: str, prefix: str
) -> None:
    """A storage without heartbeat_interval promises nothing about its trials (as Optuna's
    storages): a heartbeat storage never fails them, however old."""
    plain = RedisStorage(redis_url, prefix=prefix)
    study = optuna.create_study(study_name="plain", storage=plain)
    study.ask()
    del plain, study
    judge = _storage(redis_url, prefix)
    judged = optuna.load_study(study_name="plain", storage=judge)
    time.sleep(GRACE + 0.5)
    assert judge._get_stale_trial_ids(judged._study_id) == []
    fail_stale_trials(judged)
    assert judged.trials[0].state == TrialState.RUNNING


def _liveness_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "optuna-redis-liveness"}


def test_the_process_beats_only_for_a_storage_that_claimed_a_trial_and_stops_with_it(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    before = _liveness_threads()  # other tests' storages may still have theirs
    storage = _storage(redis_url, prefix)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "beats")
    assert _liveness_threads() - before == set()  # nothing claimed yet
    storage.create_new_trial(study_id)
    storage.create_new_trial(study_id)
    (thread,) = _liveness_threads() - before  # one for the storage
    processes = storage._keys.processes(study_id)
    first = _workers.poll(
        lambda: redis_client.zrange(processes, 0, -1, withscores=True), 5, "a beat"
    )
    assert len(first) == 1
    _workers.poll(
        lambda: redis_client.zscore(processes, first[0][0]) > first[0][1], 5, "the next beat"
    )
    # A deleted study gets no beats (which would leave a key behind).
    storage.delete_study(study_id)
    time.sleep(2 * INTERVAL)
    assert not redis_client.exists(processes)
    # The thread ends with its storage.
    del storage
    gc.collect()
    _workers.poll(lambda: not thread.is_alive(), 5, "the beating thread to end")


def test_trials_finished_or_beaten_leave_no_claim(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    storage = _storage(redis_url, prefix)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "claims")
    claims = storage._keys.claims(study_id)
    running = [storage.create_new_trial(study_id) for _ in range(3)]
    done = optuna.trial.create_trial(value=1.0, params={}, distributions={})
    storage.create_new_trial(study_id, template_trial=done)  # not RUNNING: no claim
    assert sorted(redis_client.hkeys(claims)) == [b"0", b"1", b"2"]
    storage.record_heartbeat(running[0])  # judged by its own heartbeats from now on
    storage.set_trial_state_values(running[1], TrialState.COMPLETE, [0.0])
    assert redis_client.hkeys(claims) == [b"2"]
    storage.set_trial_state_values(running[2], TrialState.FAIL)
    assert redis_client.hlen(claims) == 0


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_vouches_for_its_trials_under_its_own_id(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    storage = _storage(redis_url, prefix)
    study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE], "fork")
    storage.create_new_trial(study_id)  # the parent's beating thread runs from now on
    parent = storage._liveness._id
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: claim a trial and say under which id
        code = 1
        try:
            storage.create_new_trial(study_id)
            os.write(write, storage._liveness._id.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child and child != parent
    claims = redis_client.hgetall(storage._keys.claims(study_id))
    assert claims == {b"0": parent.encode(), b"1": child.encode()}
    beaten = set(redis_client.zrange(storage._keys.processes(study_id), 0, -1))
    assert beaten == {parent.encode(), child.encode()}
