"""Calls retried after a lost reply (redis-py resends a command whose reply did not arrive):
the calls that must not run twice return their first result, and outages longer than
``retry_deadline`` end in a clear Optuna error."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import time
from typing import Any

from optuna.exceptions import StorageInternalError
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis
import redis.connection

from _redis_server import free_port
from optuna_redis import RedisStorage
from optuna_redis import RedisUnavailableError
from optuna_redis._scripts import load_sources

MIN = [StudyDirection.MINIMIZE]


class LoseReplies:
    """Once armed, the next reply is read from the socket and then dropped: the command
    ran on the server, but the client sees a broken connection, and redis-py retries."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = 0
        self.lost = 0
        original = redis.connection.AbstractConnection.read_response

        def read_response(conn: Any, *args: Any, **kwargs: Any) -> Any:
            reply = original(conn, *args, **kwargs)
            if self.armed:
                self.armed -= 1
                self.lost += 1
                raise redis.exceptions.ConnectionError("simulated lost reply")
            return reply

        monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", read_response)

    def once(self, call: Callable[[], Any]) -> Any:
        self.armed, self.lost = 1, 0
        try:
            return call()
        finally:
            assert self.lost == 1, "the call made no round trip"
            self.armed = 0


@pytest.fixture
def lose(monkeypatch: pytest.MonkeyPatch) -> LoseReplies:
    return LoseReplies(monkeypatch)


@pytest.fixture
def storage(redis_url: str, prefix: str, codec: Any) -> Iterator[RedisStorage]:
    s = RedisStorage(redis_url, prefix=prefix, retry_deadline=10)
    # Loaded up front, so the reply lost is the script's, not a NOSCRIPT one.
    for source in load_sources().values():
        s._client.script_load(source)
    yield s


def test_create_new_study_runs_once(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = lose.once(lambda: storage.create_new_study(MIN, "once"))
    assert [s.study_name for s in storage.get_all_studies()] == ["once"]
    assert storage.get_study_id_from_name("once") == study_id


def test_create_new_trial_runs_once(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = storage.create_new_study(MIN)
    trial_id = lose.once(lambda: storage.create_new_trial(study_id))
    assert storage.get_n_trials(study_id) == 1
    assert storage.get_trial(trial_id).number == 0


def test_finishing_a_trial_runs_once(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = storage.create_new_study(MIN)
    trial_id = storage.create_new_trial(study_id)
    # Run twice, the second run would raise UpdateFinishedTrialError.
    assert lose.once(lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0]))
    assert storage.get_trial(trial_id).state == TrialState.COMPLETE


def test_a_finish_leaves_no_request_key_and_a_second_one_is_refused(
    storage: RedisStorage, lose: LoseReplies
) -> None:
    # A finish is known again by its own entries, not by a request token kept for 10 min;
    # a FAIL keeps one (test_two_processes_failing_one_trial_at_once_retry_it_once).
    study_id = storage.create_new_study(MIN)
    tokens = f"{storage._keys.prefix}:r:*"
    trial_ids = [storage.create_new_trial(study_id) for _ in range(3)]
    created = set(storage._client.scan_iter(match=tokens))
    assert len(created) == 3  # create_trial's own
    assert lose.once(
        lambda: storage.set_trial_state_values(trial_ids[1], TrialState.COMPLETE, [2.0])
    )
    assert storage.set_trial_state_values(trial_ids[2], TrialState.PRUNED)
    assert set(storage._client.scan_iter(match=tokens)) == created
    assert lose.once(lambda: storage.set_trial_state_values(trial_ids[0], TrialState.FAIL))
    assert len(set(storage._client.scan_iter(match=tokens)) - created) == 1
    # Another finish of a finished trial is still refused, whatever its state or values.
    for trial_id, state, values in (
        (trial_ids[0], TrialState.FAIL, None),
        (trial_ids[1], TrialState.COMPLETE, [2.0]),
        (trial_ids[1], TrialState.PRUNED, None),
    ):
        with pytest.raises(UpdateFinishedTrialError):
            storage.set_trial_state_values(trial_id, state, values)
    assert storage.get_trial(trial_ids[1]).values == [2.0]


def test_two_processes_failing_one_trial_at_once_retry_it_once(
    storage: RedisStorage, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fail_stale_trials in two workers that judge one trial stale together: each sends a
    # FAIL, and the one told True retries the trial (RetryHeartbeatStaleTrialCallback). Their
    # completion times can be the same microsecond (the chaos soak once saw a trial retried
    # twice); the second must still be refused, so the FAIL carries a request token.
    from optuna_redis import _record

    stamp = _record.complete_now_entry()
    monkeypatch.setattr(_record, "complete_now_entry", lambda: stamp)
    other = RedisStorage(redis_url, prefix=storage._keys.prefix)
    study_id = storage.create_new_study(MIN)
    trial_id = storage.create_new_trial(study_id)
    assert storage.set_trial_state_values(trial_id, TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        other.set_trial_state_values(trial_id, TrialState.FAIL)
    assert storage.get_trial(trial_id).state == TrialState.FAIL


def test_claiming_a_waiting_trial_runs_once(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = storage.create_new_study(MIN)
    trial_id = storage.create_new_trial(study_id, template_trial=_waiting_template())
    # Run twice, the second run would say another worker holds the trial.
    assert lose.once(lambda: storage.set_trial_state_values(trial_id, TrialState.RUNNING))
    assert storage.get_trial(trial_id).state == TrialState.RUNNING


def test_delete_study_runs_once(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = storage.create_new_study(MIN)
    lose.once(lambda: storage.delete_study(study_id))  # a second run would raise KeyError
    assert storage.get_all_studies() == []


def test_appends_give_the_same_trial_when_resent(storage: RedisStorage, lose: LoseReplies) -> None:
    study_id = storage.create_new_study(MIN)
    trial_id = storage.create_new_trial(study_id)
    lose.once(lambda: storage.set_trial_intermediate_value(trial_id, 3, 0.5))
    lose.once(lambda: storage.set_trial_user_attr(trial_id, "k", [1, 2]))
    trial = storage.get_trial(trial_id)
    assert trial.intermediate_values == {3: 0.5}
    assert trial.user_attrs == {"k": [1, 2]}


def _waiting_template() -> Any:
    import optuna

    return optuna.trial.create_trial(state=TrialState.WAITING)


def test_an_outage_longer_than_the_deadline_is_a_storage_error(prefix: str) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    start = time.monotonic()
    with pytest.raises(RedisUnavailableError, match="retry_deadline is 0.5 s") as info:
        RedisStorage(url, prefix=prefix, retry_deadline=0.5)
    assert 0.5 <= time.monotonic() - start < 10
    assert isinstance(info.value, StorageInternalError)
    assert isinstance(info.value, redis.exceptions.ConnectionError)


def test_wrong_credentials_are_not_retried(redis_url: str, prefix: str) -> None:
    base = redis_url.split("://", 1)[1]
    start = time.monotonic()
    with pytest.raises(redis.exceptions.AuthenticationError):
        RedisStorage(f"redis://nobody:wrong@{base}", prefix=prefix, retry_deadline=30)
    assert time.monotonic() - start < 5


def test_retry_deadline_is_checked(redis_url: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="retry_deadline"):
        RedisStorage(redis_url, prefix=prefix, retry_deadline=-1)


def test_wait_replicas_is_checked(redis_url: str, prefix: str) -> None:
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="wait_replicas"):
            RedisStorage(redis_url, prefix=prefix, wait_replicas=bad)
    with pytest.raises(ValueError, match="wait_timeout"):
        RedisStorage(redis_url, prefix=prefix, wait_replicas=1, wait_timeout=0)
