"""get_all_trials(states=...) served from the cache: the filtered lists are brought up to
date from the changed trials only, and must always equal a filter of all the trials."""

from __future__ import annotations

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest

from optuna_redis import RedisStorage
from optuna_redis import _cache

QUERIES = [
    (TrialState.WAITING,),
    (TrialState.RUNNING,),
    (TrialState.COMPLETE,),
    (TrialState.COMPLETE, TrialState.PRUNED),
    (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
    (TrialState.FAIL, TrialState.WAITING, TrialState.RUNNING),
]
OPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "enqueue", "finish", "claim", "attr", "read"]),
        st.integers(0, 50),
        st.sampled_from([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]),
    ),
    min_size=1,
    max_size=40,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS)
def test_filtered_reads_equal_a_filter_of_all_trials(
    redis_url: str, prefix: str, codec, ops: list
) -> None:
    writer = RedisStorage(redis_url, prefix=prefix)
    reader = RedisStorage(redis_url, prefix=prefix)
    study_id = writer.create_new_study([StudyDirection.MINIMIZE])
    ids: list[int] = []

    def check() -> None:
        every = reader.get_all_trials(study_id, deepcopy=False)
        for states in QUERIES:
            got = reader.get_all_trials(study_id, deepcopy=False, states=states)
            assert [t.number for t in got] == [t.number for t in every if t.state in states]

    for op, pick, final in ops:
        try:
            if op == "create":
                ids.append(writer.create_new_trial(study_id))
            elif op == "enqueue":
                waiting = optuna.trial.create_trial(state=TrialState.WAITING)
                ids.append(writer.create_new_trial(study_id, template_trial=waiting))
            elif ids and op == "finish":
                values = [1.0] if final == TrialState.COMPLETE else None
                writer.set_trial_state_values(ids[pick % len(ids)], final, values)
            elif ids and op == "claim":
                writer.set_trial_state_values(ids[pick % len(ids)], TrialState.RUNNING)
            elif ids and op == "attr":
                writer.set_trial_system_attr(ids[pick % len(ids)], "k", pick)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            pass  # a finished trial, or claiming a running one: nothing changed
        if op == "read" or pick % 3 == 0:
            check()
    check()
    # The reader's lists agree with a cold load too.
    cold = RedisStorage(redis_url, prefix=prefix)
    for states in QUERIES:
        assert [t.number for t in cold.get_all_trials(study_id, states=states)] == [
            t.number for t in reader.get_all_trials(study_id, states=states)
        ]


def _spy_on_refiltered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """A list that gets, for each filtered list brought up to date from now on, whether
    it was remade from the changes (True) or left to be filtered anew (False)."""
    remade: list[bool] = []
    original = _cache._refiltered

    def spy(*args):  # noqa: ANN002, ANN202
        result = original(*args)
        remade.append(result is not None)
        return result

    monkeypatch.setattr(_cache, "_refiltered", spy)
    return remade


def test_a_filtered_read_after_a_change_is_remade_from_the_change(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After k changes, the filtered list is remade from the k changed trials: the
    unchanged ones are not filtered again (which made each trial of a long optimize
    cost O(n))."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    done = optuna.trial.create_trial(state=TrialState.COMPLETE, value=1)
    for _ in range(50):
        storage.create_new_trial(study_id, template_trial=done)
    before = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    remade = _spy_on_refiltered(monkeypatch)
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.5])
    after = storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
    assert [t.number for t in after] == [t.number for t in before] + [50]
    assert remade == [True]


def test_a_set_holding_the_running_trial_is_remade_from_the_change(
    storage: RedisStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TPESampler(constant_liar=True) reads (COMPLETE, PRUNED, RUNNING) once per trial while
    the running trial changes inside that set: the list is still remade from the changed
    trials (replaced, inserted or removed), never filtered anew."""
    liar = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    done = optuna.trial.create_trial(state=TrialState.COMPLETE, value=1)
    for _ in range(50):
        storage.create_new_trial(study_id, template_trial=done)
    failed = storage.create_new_trial(study_id)
    running = storage.create_new_trial(study_id)
    storage.get_all_trials(study_id, deepcopy=False, states=liar)
    remade = _spy_on_refiltered(monkeypatch)
    dist = optuna.distributions.FloatDistribution(0, 1)
    storage.set_trial_param(running, "x", 0.25, dist)  # changes inside the set
    storage.set_trial_state_values(failed, TrialState.FAIL)  # leaves the set
    after = storage.get_all_trials(study_id, deepcopy=False, states=liar)
    assert [t.number for t in after] == list(range(50)) + [51]
    assert after[-1].params == {"x": 0.25}
    newest = storage.create_new_trial(study_id)  # enters the set
    storage.set_trial_state_values(running, TrialState.COMPLETE, [0.5])
    after = storage.get_all_trials(study_id, deepcopy=False, states=liar)
    assert [t.number for t in after] == list(range(50)) + [51, 52]
    assert [t.state for t in after[-2:]] == [TrialState.COMPLETE, TrialState.RUNNING]
    assert after[-1]._trial_id == newest
    assert remade == [True, True]
