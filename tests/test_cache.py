"""The per-study cache's rules on their own, with no Redis: changes applied in order,
filtered lists kept up to date from the changes, the best trial, missing records."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_redis import CorruptRecordError
from optuna_redis._cache import StudyCache
from optuna_redis._distributions import StudyDistributions

HEAD = "p:s:{1}:t:"
STATES = list(TrialState)
QUERIES = [
    (TrialState.RUNNING,),
    (TrialState.COMPLETE,),
    (TrialState.COMPLETE, TrialState.PRUNED),
    (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING),
    [TrialState.FAIL, TrialState.WAITING],
    {TrialState.WAITING},
]


def trial(number: int, state: TrialState = TrialState.RUNNING, value: float = 0.0) -> FrozenTrial:
    finished = state.is_finished()
    return FrozenTrial(
        number=number,
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        datetime_start=datetime.datetime(2026, 1, 1),
        datetime_complete=datetime.datetime(2026, 1, 2) if finished else None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=(1 << 32) | number,
    )


def cache_of(*trials: FrozenTrial) -> StudyCache:
    cache = StudyCache(StudyDistributions(), HEAD)
    cache.apply(len(trials), [(t.number, t) for t in trials])
    return cache


def test_apply_replaces_in_order_and_grows() -> None:
    cache = cache_of(trial(0), trial(1))
    cache.apply(3, [(1, trial(1, TrialState.WAITING)), (2, trial(2)), (1, trial(1))])
    assert [(t.number, t.state) for t in cache.snapshot()] == [
        (0, TrialState.RUNNING),
        (1, TrialState.RUNNING),
        (2, TrialState.RUNNING),
    ]


def test_handed_out_lists_are_never_mutated() -> None:
    cache = cache_of(trial(0), trial(1))
    snapshot = cache.snapshot()
    running = cache.filtered((TrialState.RUNNING,))
    assert cache.snapshot() is snapshot and cache.filtered([TrialState.RUNNING]) is running
    cache.apply(2, [(0, trial(0, TrialState.COMPLETE))])
    assert [t.state for t in snapshot] == [TrialState.RUNNING] * 2
    assert [t.number for t in running] == [0, 1]
    assert [t.number for t in cache.filtered((TrialState.RUNNING,))] == [1]
    assert cache.snapshot() is not snapshot


def test_a_trial_counted_but_never_written_is_an_error_naming_its_key() -> None:
    cache = cache_of(trial(0))
    cache.apply(3, [(2, trial(2))])  # trial 1 is counted, its record never came
    with pytest.raises(CorruptRecordError, match=r"p:s:\{1\}:t:1' is missing"):
        cache.snapshot()
    cache.apply(3, [(1, trial(1))])  # a later change brings it
    assert len(cache.snapshot()) == 3


def test_missing_records_of_a_cold_load_are_reported_unless_a_change_brings_them() -> None:
    cache = StudyCache(StudyDistributions(), HEAD, seq=5, n_trials=2)
    cache.trials[0] = trial(0)
    cache.note_missing([1])
    with pytest.raises(CorruptRecordError, match="is missing"):
        cache.snapshot()
    cache.apply(2, [(1, trial(1))])
    assert [t.number for t in cache.snapshot()] == [0, 1]


def test_a_change_beyond_the_trial_count_is_refused() -> None:
    cache = cache_of(trial(0))
    with pytest.raises(CorruptRecordError, match=r"out of range at Redis key 'p:s:\{1\}:t:4'"):
        cache.apply(1, [(4, trial(4))])


def test_best_ties_go_to_the_lower_number_and_follow_changes() -> None:
    cache = cache_of(trial(0), trial(1), trial(2))
    with pytest.raises(ValueError, match="No trials are completed yet"):
        cache.best(StudyDirection.MINIMIZE)
    cache.apply(
        3, [(2, trial(2, TrialState.COMPLETE, 1.0)), (1, trial(1, TrialState.COMPLETE, 1.0))]
    )
    assert cache.best(StudyDirection.MINIMIZE).number == 1
    assert cache.best(StudyDirection.MAXIMIZE).number == 1
    cache.apply(4, [(3, trial(3, TrialState.COMPLETE, -5.0)), (0, trial(0, TrialState.FAIL))])
    assert cache.best(StudyDirection.MINIMIZE).number == 3
    assert cache.best(StudyDirection.MAXIMIZE).number == 1


CHANGES = st.lists(
    st.lists(st.tuples(st.integers(0, 40), st.sampled_from(STATES)), max_size=12),
    min_size=1,
    max_size=15,
)


@given(batches=CHANGES, first=st.integers(0, 40))
def test_filtered_and_best_always_equal_a_scan(batches: list, first: int) -> None:
    """Whatever the order of changes, each read equals a filter of (and min/max over) all
    trials, whether the filtered lists are remade from the changes or anew. As in Redis,
    a finished trial never changes again."""
    cache = cache_of(*(trial(n) for n in range(first)))
    n_trials = first
    values = iter(range(10**6))
    finished: set[int] = set()
    for batch in batches:
        changes = []
        for number, state in batch:
            if number in finished:
                continue
            if state.is_finished():
                finished.add(number)
            n_trials = max(n_trials, number + 1)
            changes.append((number, trial(number, state, float(next(values) % 7))))
        # Every number below n_trials must exist: fill the gaps as new RUNNING trials.
        have = {n for n, _ in changes} | set(range(len(cache.trials)))
        changes = [(n, trial(n)) for n in range(n_trials) if n not in have] + changes
        cache.apply(n_trials, changes)
        every = cache.snapshot()
        assert [t.number for t in every] == list(range(n_trials))
        for states in QUERIES:
            got = cache.filtered(states)
            want = [t for t in every if t.state in states]
            assert [(t.number, t.state) for t in got] == [(t.number, t.state) for t in want]
            assert all(a is b for a, b in zip(got, want, strict=True))
        complete = [t for t in every if t.state == TrialState.COMPLETE]
        if complete:
            assert cache.best(StudyDirection.MINIMIZE) is min(complete, key=lambda t: t.value)
            assert cache.best(StudyDirection.MAXIMIZE) is max(complete, key=lambda t: t.value)
