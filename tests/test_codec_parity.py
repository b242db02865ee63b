"""The compiled codec against the reference, on the same inputs: same bytes, same trials."""

from __future__ import annotations

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.trial import FrozenTrial
import pytest

from optuna_redis import _codec_py
from optuna_redis._distributions import StudyDistributions
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
def test_same_record_bytes_and_same_decoded_trial(trial: FrozenTrial) -> None:
    record = _codec_py.encode_trial(trial)
    assert _codec_c.encode_trial(trial) == record
    assert _decoded(_codec_c, record) == _decoded(_codec_py, record)


@PARITY
@given(trials=st.lists(frozen_trials(), min_size=1, max_size=5))
def test_bulk_decode_agrees(trials: list[FrozenTrial]) -> None:
    items = []
    for number, trial in enumerate(trials):
        items += (number, _codec_py.encode_trial(trial))
    head = "p:s:{1}:t:"
    got = _codec_c.decode_trials(head, 1, items, StudyDistributions())
    want = _codec_py.decode_trials(head, 1, items, StudyDistributions())
    assert [(n, repr(vars(t))) for n, t in got] == [(n, repr(vars(t))) for n, t in want]


@PARITY
@given(value=json_values)
def test_same_attr_bytes(value) -> None:
    encoded = _codec_py.encode_attr(value)
    assert _codec_c.encode_attr(value) == encoded
    assert repr(_codec_c.decode_attr(encoded)) == repr(_codec_py.decode_attr(encoded))


@PARITY
@given(step=st.integers(-(2**63), 2**63 - 1), value=st.floats())
def test_same_intermediate_entry(step: int, value: float) -> None:
    assert _codec_c.intermediate_entry(step, value) == _codec_py.intermediate_entry(step, value)
