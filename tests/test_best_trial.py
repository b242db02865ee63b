"""get_best_trial from the cache: kept up to date from the changed trials (Optuna's INFO
logging asks for it after every trial), and always what min/max over the trials give."""

from __future__ import annotations

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from optuna_redis import RedisStorage
from optuna_redis import _cache


def _expected(storage: RedisStorage, study_id: int, maximize: bool) -> int:
    complete = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    pick = max if maximize else min
    return pick(complete, key=lambda t: t.value).number


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    maximize=st.booleans(),
    ops=st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from([-1.0, 0.0, 2.0, 7.5]), st.booleans()),
        min_size=1,
        max_size=30,
    ),
)
def test_best_trial_equals_min_or_max_over_the_trials(
    redis_url: str, prefix: str, codec, maximize: bool, ops: list
) -> None:
    """Trials finish out of order, with tied values, some failing; a reader that asked
    before keeps its answer equal to a scan (ties to the lower number)."""
    direction = StudyDirection.MAXIMIZE if maximize else StudyDirection.MINIMIZE
    writer = RedisStorage(redis_url, prefix=prefix)
    reader = RedisStorage(redis_url, prefix=prefix)
    study_id = writer.create_new_study([direction])
    running = [writer.create_new_trial(study_id) for _ in range(8)]
    for pick, value, fail in ops:
        if not running:
            running = [writer.create_new_trial(study_id) for _ in range(4)]
        trial_id = running.pop(pick % len(running))
        if fail:
            writer.set_trial_state_values(trial_id, TrialState.FAIL)
        else:
            writer.set_trial_state_values(trial_id, TrialState.COMPLETE, [value])
        if reader.get_n_trials(study_id, TrialState.COMPLETE) == 0:
            with pytest.raises(ValueError):
                reader.get_best_trial(study_id)
            continue
        assert reader.get_best_trial(study_id).number == _expected(reader, study_id, maximize)
    cold = RedisStorage(redis_url, prefix=prefix)
    if cold.get_n_trials(study_id, TrialState.COMPLETE):
        assert cold.get_best_trial(study_id).number == reader.get_best_trial(study_id).number


def test_best_trial_scans_the_trials_once(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    scans = []
    original = _cache._Extremes.__init__

    def counting(self, trials):  # noqa: ANN001, ANN202
        scans.append(len(trials))
        original(self, trials)

    monkeypatch.setattr(_cache._Extremes, "__init__", counting)
    for i in range(30):
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [10.0 - i % 7])
        best = storage.get_best_trial(study_id)
        assert best.value == min(10.0 - j % 7 for j in range(i + 1))
    assert scans == [1]
    # A deleted study is forgotten with its cache.
    storage.delete_study(study_id)
    with pytest.raises(KeyError):
        storage.get_best_trial(study_id)
