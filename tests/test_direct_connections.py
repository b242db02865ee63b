"""The scripts' direct connections (``_direct``): one per thread and per process, retried
after a dropped connection, reloading scripts the server forgot, and never reading the
reply of an interrupted call as the next call's."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import multiprocessing

import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis

from optuna_redis import RedisStorage

DIST = FloatDistribution(0, 1)


@pytest.fixture
def storage(redis_url: str, prefix: str) -> RedisStorage:
    storage = RedisStorage(redis_url, prefix=prefix)
    if storage._scripts.direct is None:
        pytest.skip("this client keeps redis-py's command path (e.g. a cluster)")
    return storage


def _run_trials(storage: RedisStorage, study_id: int, n: int, value: float) -> None:
    for _ in range(n):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_param(trial_id, "x", value, DIST)
        assert storage.get_trial(trial_id).params == {"x": value}
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value])


def _child(storage: RedisStorage, study_id: int) -> None:
    _run_trials(storage, study_id, 150, 0.25)


def test_a_forked_child_opens_its_own_connection(storage: RedisStorage) -> None:
    """A worker forked from a process that used the storage must not share its socket:
    both would read each other's replies."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    _run_trials(storage, study_id, 1, 0.5)  # the parent's connection exists before the fork
    child = multiprocessing.get_context("fork").Process(target=_child, args=(storage, study_id))
    child.start()
    _run_trials(storage, study_id, 150, 0.5)
    child.join(60)
    assert child.exitcode == 0
    trials = storage.get_all_trials(study_id)
    assert len(trials) == 301
    assert sorted(t.value for t in trials).count(0.25) == 150
    assert all(t.params["x"] == t.value for t in trials)


def test_threads_share_a_storage(storage: RedisStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda i: _run_trials(storage, study_id, 20, i / 10), range(6)))
    trials = storage.get_all_trials(study_id)
    assert len(trials) == 120
    assert all(t.params["x"] == t.value for t in trials)


def test_a_server_that_forgot_the_scripts_gets_them_again(
    storage: RedisStorage, redis_client: redis.Redis
) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    _run_trials(storage, study_id, 1, 0.5)
    redis_client.script_flush()  # as after a restart or a failover to a new server
    _run_trials(storage, study_id, 1, 0.5)
    assert storage.get_n_trials(study_id, TrialState.COMPLETE) == 2


def test_a_connection_the_server_closed_is_reopened(
    storage: RedisStorage, redis_client: redis.Redis
) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    _run_trials(storage, study_id, 1, 0.5)
    redis_client.client_kill_filter(_type="normal", skipme=True)
    _run_trials(storage, study_id, 1, 0.5)
    assert storage.get_n_trials(study_id, TrialState.COMPLETE) == 2


def test_an_interrupted_call_leaves_no_reply_for_the_next(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted after sending, the call's reply is still on its way: the connection is
    closed, or the next call would take that reply for its own."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    trial_id = storage.create_new_trial(study_id)
    original = redis.connection.AbstractConnection.read_response
    interrupt = [True]

    def read_response(conn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if interrupt[0]:
            interrupt[0] = False
            raise KeyboardInterrupt
        return original(conn, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", read_response)
    with pytest.raises(KeyboardInterrupt):
        storage.set_trial_param(trial_id, "x", 0.5, DIST)
    # The write may or may not have run; what the next calls read is their own reply.
    storage.set_trial_user_attr(trial_id, "k", "v")
    trial = storage.get_trial(trial_id)
    assert trial.user_attrs == {"k": "v"} and trial.params in ({}, {"x": 0.5})
    assert storage.get_all_trials(study_id, deepcopy=False)[0].user_attrs == {"k": "v"}


def test_remove_session_closes_this_threads_connection(storage: RedisStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    storage.create_new_trial(study_id)
    conn = storage._scripts.direct._connection()
    assert conn._sock is not None
    storage.remove_session()
    assert conn._sock is None
    assert len(storage.get_all_trials(study_id)) == 1  # and the next call reconnects


def test_an_optimize_after_remove_session(storage: RedisStorage) -> None:
    study = optuna.create_study(storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    storage.remove_session()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(study.trials) == 6


def test_a_call_is_packed_as_redis_py_packs_it(storage: RedisStorage) -> None:
    # The direct path packs with hiredis itself; the bytes are redis-py's, for every kind
    # of argument the scripts get (str keys, non-ASCII ones too, ints, bytes).
    conn = storage._scripts.direct._connection()
    sent: list[bytes] = []
    conn.send_packed_command = lambda packed, check_health=True: sent.extend(packed)
    conn.read_response = lambda: 1
    command = ("EVALSHA", "ab" * 20, 2, "k:é{x}", "k2", 7, -3, b"\x00\xff\r\n", "")
    assert storage._scripts.direct._round_trip(conn, *command) == 1
    # (redis-py's own pure-Python packer, the one it uses without hiredis.)
    encoder = redis.connection.Encoder("utf-8", "strict", decode_responses=False)
    python_packer = redis.connection.PythonRespSerializer(6000, encoder.encode)
    assert b"".join(sent) == b"".join(python_packer.pack(*command))
