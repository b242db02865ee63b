"""The compiled bulk encoder of copies against the reference, on the same trials: the same
records, the same new distributions, the same digest, the same errors.

The compiled twin writes the common shapes itself and hands the rest to the reference,
so the trials here are drawn from every shape the codec tests know (hypothesis), plus the
recurring ones a copy sees (workload W, chunk after chunk), and bad ones.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from typing import Any

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import distribution_to_json
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_redis import _bulk_py
from optuna_redis import _codec_py
from optuna_redis._distributions import StudyDistributions
from test_codec import frozen_trials
from test_codec import make_trial

_bulk_c = pytest.importorskip("optuna_redis._bulk_c")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from _workload import workload_trials  # noqa: E402

PARITY = settings(max_examples=150, deadline=None)
TWINS = (_bulk_py, _bulk_c)


def _encoded(twin: Any, chunks: list[list[FrozenTrial]], known: dict[str, bytes]) -> list:
    encoder = twin.TrialsEncoder(dict(known))
    return [encoder.encode(chunk) for chunk in chunks] + [encoder.known]


def _outcome(call: Any) -> Any:
    """What a call returns, or the type and message of what it raises."""
    try:
        return ("returned", call())
    except Exception as e:
        return ("raised", type(e), str(e))


def _assert_twins_agree(chunks: list[list[FrozenTrial]], known: dict[str, bytes]) -> None:
    py, c = (_outcome(lambda t=t: _encoded(t, chunks, known)) for t in TWINS)
    assert c == py
    trials = [t for chunk in chunks for t in chunk]
    py, c = (_outcome(lambda t=t: t.trials_digest(trials)) for t in TWINS)
    assert c == py


@PARITY
@given(trials=st.lists(frozen_trials(), min_size=1, max_size=6), split=st.integers(1, 6))
def test_same_records_and_digest(trials: list[FrozenTrial], split: int) -> None:
    for number, trial in enumerate(trials):
        trial.number = number
    _assert_twins_agree([trials[:split], trials[split:]], {})


@PARITY
@given(trials=st.lists(frozen_trials(), min_size=1, max_size=4))
def test_same_records_when_the_study_has_other_distributions(trials: list[FrozenTrial]) -> None:
    """Names the study already holds under another distribution: full entries (or the
    same incompatibility error)."""
    known = {}
    for trial in trials:
        for name in trial.distributions:
            known[name] = distribution_to_json(FloatDistribution(-1e9, 1e9)).encode()
    _assert_twins_agree([trials], known)


def test_workload_w_chunk_after_chunk() -> None:
    """What a copy sees: one search space, a new distribution object per trial (as a
    journal replays them), memos reused across chunks. The records decode to the trials."""
    trials = list(workload_trials(2500))
    chunks = [trials[i : i + 1000] for i in range(0, len(trials), 1000)]
    _assert_twins_agree(chunks, {})
    pairs, records = _bulk_c.TrialsEncoder({}).encode(trials)
    dists = StudyDistributions()
    dists.register("dists", [item for pair in pairs for item in pair])
    for number, (trial, record) in enumerate(zip(trials, records, strict=True)):
        decoded = _codec_py.decode_trial("k", number, number, record, dists)
        assert decoded.params == trial.params
        assert decoded.intermediate_values == trial.intermediate_values
        assert decoded.user_attrs == trial.user_attrs
        assert decoded.datetime_start == trial.datetime_start


def test_a_changed_distribution_mid_copy() -> None:
    """A param whose distribution changes from one trial to the next, and back."""
    a, b = FloatDistribution(0, 1), FloatDistribution(0, 2)
    c1, c2 = CategoricalDistribution([1, 2]), CategoricalDistribution([1.0, 2.0])
    trials = [
        make_trial(params={"x": 0.5, "c": 1}, distributions={"x": a, "c": c1}),
        make_trial(params={"x": 0.5, "c": 1.0}, distributions={"x": b, "c": c2}),
        make_trial(params={"x": 0.5, "c": 2}, distributions={"x": a, "c": c1}),
    ]
    _assert_twins_agree([trials], {})


BAD_TRIALS = {
    "NaN objective value": make_trial(values=[float("nan")]),
    "objective value not a float": make_trial(values=["a"]),
    "attr JSON cannot hold": make_trial(user_attrs={"a": object()}),
    "attr key not a str": make_trial(system_attrs={1: 2}),
    "param not among the choices": make_trial(
        params={"c": "z"}, distributions={"c": CategoricalDistribution(["a"])}
    ),
    "log float at zero": make_trial(
        params={"x": 0.0}, distributions={"x": FloatDistribution(1e-5, 1.0, log=True)}
    ),
    "int param beyond 64 bits": make_trial(
        params={"n": 2**70}, distributions={"n": IntDistribution(0, 2**80)}
    ),
    "int param beyond a double": make_trial(
        params={"n": 10**400}, distributions={"n": IntDistribution(0, 10**401)}
    ),
    "NaN float param": make_trial(
        params={"x": float("nan")}, distributions={"x": FloatDistribution(0, 1)}
    ),
    "step not an int": make_trial(intermediate_values={"a": 1.0}),
    "step a bool": make_trial(intermediate_values={True: 1.0}),
    "step beyond 64 bits": make_trial(intermediate_values={2**64: 1.0}),
    "intermediate value an int": make_trial(intermediate_values={1: 2}),
    "state not a TrialState": make_trial(state=1),  # type: ignore[arg-type]
    "param without a distribution": make_trial(params={"x": 1.0}),
    "values a tuple": make_trial(values=(1.0, 2.0)),  # type: ignore[arg-type]
    "attr with NaN": make_trial(user_attrs={"a": [float("nan"), None]}),
    "attr None": make_trial(user_attrs={"a": None}),
    "datetime not a datetime": make_trial(datetime_start="2026-01-01"),  # type: ignore[arg-type]
}


@pytest.mark.parametrize("case", list(BAD_TRIALS))
def test_same_error_or_bytes_for_bad_trials(case: str) -> None:
    _assert_twins_agree([[BAD_TRIALS[case]]], {})


def test_names_orjson_refuses() -> None:
    """A lone surrogate in a param name or attr key: stored by the storage, digested by
    the standard library's JSON."""
    trial = make_trial(
        params={"\udfff": 0.5},
        distributions={"\udfff": FloatDistribution(0, 1)},
        user_attrs={"\ud800": 1},
    )
    _assert_twins_agree([[trial]], {})
    assert _bulk_c.trials_digest([trial]) != _bulk_c.trials_digest([make_trial()])


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_same_records_in_any_local_zone(zone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Naive datetimes are stored in UTC: written here when local time is UTC, else by
    the reference."""
    start = datetime.datetime(2026, 3, 8, 1, 30, 0, 250)
    trials = [
        make_trial(datetime_start=start, datetime_complete=start + datetime.timedelta(hours=1)),
        make_trial(datetime_start=start.replace(microsecond=0), datetime_complete=None),
        make_trial(datetime_start=start.replace(tzinfo=datetime.timezone.utc)),
    ]
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        _assert_twins_agree([trials], {})
    finally:
        monkeypatch.undo()
        time.tzset()


def test_states_and_missing_fields() -> None:
    trials = [make_trial(state=s, values=None) for s in TrialState]
    for number, trial in enumerate(trials):
        trial.number = number
    _assert_twins_agree([trials], {})
