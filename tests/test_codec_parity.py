"""The compiled codec against the reference, on the same inputs: same bytes, same trials."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial
import pytest

from optuna_redis import _codec_py
from optuna_redis import _record
from optuna_redis._distributions import StudyDistributions
from test_codec import BAD_JSON
from test_codec import frozen_trials
from test_codec import json_values

_codec_c = pytest.importorskip("optuna_redis._codec_c")

PARITY = settings(max_examples=150, deadline=None)


def _decoded(codec, record: bytes) -> str:
    trial = codec.decode_trial("p:s:{1}:t:0", 1 << 32, 0, record, StudyDistributions())
    # repr compares NaN equal to NaN, 1 unequal to 1.0 and True, and dict order.
    return repr(vars(trial))


@PARITY
@given(trial=frozen_trials())
def test_same_decoded_trial(trial: FrozenTrial) -> None:
    record = _record.encode_trial(trial)
    assert _decoded(_codec_c, record) == _decoded(_codec_py, record)


@PARITY
@given(trials=st.lists(frozen_trials(), min_size=1, max_size=5))
def test_bulk_decode_agrees(trials: list[FrozenTrial]) -> None:
    items = []
    for number, trial in enumerate(trials):
        items += (number, _record.encode_trial(trial))
    head = "p:s:{1}:t:"
    got = _codec_c.decode_trials(head, 1, items, StudyDistributions())
    want = _codec_py.decode_trials(head, 1, items, StudyDistributions())
    assert [(n, repr(vars(t))) for n, t in got] == [(n, repr(vars(t))) for n, t in want]


@PARITY
@given(
    trials=st.lists(st.one_of(st.none(), frozen_trials()), min_size=1, max_size=5),
    first=st.integers(0, 3),
)
def test_range_decode_agrees(trials: list, first: int) -> None:
    records = [None if t is None else _record.encode_trial(t) for t in trials]
    head = "p:s:{1}:t:"
    got: list = [None] * (first + len(records))
    want: list = [None] * (first + len(records))
    got_missing = _codec_c.decode_range(head, 1, first, records, StudyDistributions(), got)
    want_missing = _codec_py.decode_range(head, 1, first, records, StudyDistributions(), want)
    assert got_missing == want_missing
    assert [repr(vars(t)) if t else t for t in got] == [repr(vars(t)) if t else t for t in want]


@PARITY
@given(head=st.text(), first=st.integers(0, 2**32 - 1), count=st.integers(1, 30))
def test_same_mget_command(head: str, first: int, count: int) -> None:
    stop = min(first + count, 2**32)
    try:
        want = _codec_py.pack_mget(head, first, stop)
    except UnicodeEncodeError:  # a lone surrogate: redis-py cannot send that key either
        with pytest.raises(UnicodeEncodeError):
            _codec_c.pack_mget(head, first, stop)
        return
    assert _codec_c.pack_mget(head, first, stop) == want


@pytest.mark.parametrize("text", BAD_JSON, ids=repr)
def test_same_error_for_bad_json(text: bytes) -> None:
    errors = []
    for codec in (_codec_c, _codec_py):
        with pytest.raises(Exception) as info:
            codec.decode_attr(b"j" + text)
        errors.append((type(info.value), str(info.value)))
    assert errors[0] == errors[1]


@PARITY
@given(value=json_values)
def test_same_attr_value(value) -> None:
    encoded = _record.encode_attr(value)
    assert repr(_codec_c.decode_attr(encoded)) == repr(_codec_py.decode_attr(encoded))


@PARITY
@given(step=st.integers(-(2**63), 2**63 - 1), value=st.floats())
def test_same_intermediate_value(step: int, value: float) -> None:
    record = b"0" + _record.intermediate_entry(step, value)
    assert _decoded(_codec_c, record) == _decoded(_codec_py, record)


_POOL = {
    "a": FloatDistribution(0, 1),
    "b": IntDistribution(0, 9),
    "c": CategoricalDistribution(["x", "y"]),
    "d": FloatDistribution(-1, 1),
}
# A distribution a param entry may carry instead of the study's registered one.
_OTHER = {
    "a": FloatDistribution(0, 2),
    "b": IntDistribution(0, 5),
    "c": CategoricalDistribution(["y", "x"]),
    "d": FloatDistribution(-1, 1, step=0.5),
}
_entries = st.lists(
    st.tuples(st.sampled_from(sorted(_POOL)), st.booleans(), st.integers(0, 1)), max_size=6
)


def _recorded(state: str, entries: list[tuple[str, bool, int]]) -> bytes:
    parts = [state.encode()]
    for name, other, value in entries:
        dist_json = _record.encode_distribution(_OTHER[name]) if other else b""
        parts.append(_record.param_entry(name.encode(), float(value), dist_json))
    return b"".join(parts)


def _study_dists() -> StudyDistributions:
    dists = StudyDistributions()
    flat = []
    for name, dist in _POOL.items():
        flat += (name.encode(), _record.encode_distribution(dist))
    dists.register("p:s:{1}:dists", flat)
    return dists


@PARITY
@given(
    specs=st.lists(_entries, min_size=1, max_size=10),
    states=st.lists(st.sampled_from("0123"), min_size=10, max_size=10),
    split=st.integers(0, 10),
)
def test_bulk_decode_agrees_on_recurring_params(
    specs: list[list[tuple[str, bool, int]]], states: list[str], split: int
) -> None:
    """Trials over one small search space, as a study's are: the same params in the same
    order, prefixes of them (running trials), other orders, a param set twice in one
    record, a distribution other than the registered one; decoded in two batches that
    share the study's distributions, as a cold load and the syncs after it do."""
    items = []
    for number, entries in enumerate(specs):
        items += (number, _recorded(states[number], entries))
    head = "p:s:{1}:t:"
    cut = 2 * min(split, len(specs))
    got_dists, want_dists = _study_dists(), _study_dists()
    got = _codec_c.decode_trials(head, 1, items[:cut], got_dists)
    got += _codec_c.decode_trials(head, 1, items[cut:], got_dists)
    want = _codec_py.decode_trials(head, 1, items, want_dists)
    assert [(n, repr(vars(t))) for n, t in got] == [(n, repr(vars(t))) for n, t in want]
