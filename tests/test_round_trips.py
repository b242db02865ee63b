"""Reads cost what changed: round trips of warm reads, counted by the Redis server."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from _round_trips import RoundTrips
from optuna_redis import RedisStorage


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> RoundTrips:
    return RoundTrips(monkeypatch)


def _study(storage: RedisStorage, n: int) -> int:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    for i in range(n):
        trial = optuna.trial.create_trial(
            params={"x": i / n}, distributions={"x": FloatDistribution(0, 1)}, value=float(i)
        )
        storage.create_new_trial(study_id, trial)
    return study_id


def test_warm_read_with_nothing_changed_is_one_round_trip(
    storage: RedisStorage, round_trips: RoundTrips
) -> None:
    study_id = _study(storage, 50)
    storage.get_all_trials(study_id)  # cold: fills the cache
    storage.get_study_directions(study_id)
    assert round_trips.of(lambda: storage.get_all_trials(study_id, deepcopy=False)) == 1
    assert round_trips.of(lambda: storage.get_all_trials(study_id, deepcopy=True)) == 1
    assert round_trips.of(lambda: storage.get_n_trials(study_id, TrialState.COMPLETE)) == 1
    assert round_trips.of(lambda: storage.get_best_trial(study_id)) == 1


def test_read_after_another_worker_finished_a_trial_is_one_round_trip(
    storage: RedisStorage, round_trips: RoundTrips, redis_url: str, prefix: str
) -> None:
    study_id = _study(storage, 50)
    other = RedisStorage(redis_url, prefix=prefix)
    trial_id = other.create_new_trial(study_id)
    assert len(storage.get_all_trials(study_id)) == 51
    other.set_trial_state_values(trial_id, TrialState.COMPLETE, [-1.0])

    trials: list = []
    assert round_trips.of(lambda: trials.extend(storage.get_all_trials(study_id))) == 1
    assert trials[-1].state == TrialState.COMPLETE and trials[-1].value == -1.0
    assert storage.get_best_trial(study_id).number == 50


def test_cached_lists_are_never_changed_and_filters_follow_changes(
    storage: RedisStorage, redis_url: str, prefix: str
) -> None:
    study_id = _study(storage, 5)
    other = RedisStorage(redis_url, prefix=prefix)
    running = other.create_new_trial(study_id)

    all_before = storage.get_all_trials(study_id, deepcopy=False)
    complete_before = storage.get_all_trials(
        study_id, deepcopy=False, states=(TrialState.COMPLETE,)
    )
    running_before = storage.get_all_trials(study_id, deepcopy=False, states=[TrialState.RUNNING])
    assert [t._trial_id for t in running_before] == [running]
    # Nothing changed: the same lists again.
    assert storage.get_all_trials(study_id, deepcopy=False) is all_before

    other.set_trial_state_values(running, TrialState.COMPLETE, [0.5])
    assert len(storage.get_all_trials(study_id, deepcopy=False)) == 6
    assert len(storage.get_all_trials(study_id, states=(TrialState.COMPLETE,))) == 6
    assert storage.get_all_trials(study_id, states={TrialState.RUNNING}) == []
    # What was handed out before the change is as it was.
    assert len(all_before) == 6 and all_before[-1].state == TrialState.RUNNING
    assert len(complete_before) == 5
    assert [t._trial_id for t in running_before] == [running]
