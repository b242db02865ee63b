"""Codec unit tests, run against every codec implementation through the ``codec`` fixture.

A trial record is one Redis string: a state byte and a log of ``tag | u32 length | payload``
entries (see the ``_codec_py`` docstring). Round trips encode a trial, hand the bytes to
``decode_trial`` as GET would return them (or build the record the way the server does, by
appending entries and rewriting the state byte) and require the original back exactly,
doubles bit for bit. Decoding garbage must raise ``CorruptRecordError`` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pickle
import random
import struct
import time
from typing import Any

from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import distribution_to_json
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_redis import CorruptRecordError
from optuna_redis import _record
from optuna_redis._distributions import StudyDistributions

KEY = "optuna-test:s:{7}:t:3"
STUDY_ID = 7
NUMBER = 3
TRIAL_ID = (STUDY_ID << 32) | NUMBER

HYPOTHESIS_TRIALS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HYPOTHESIS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NAN = float("nan")
INF = float("inf")
UTC = datetime.timezone.utc
IST = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
NST = datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))

# ---------------------------------------------------------------- helpers


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a: Any, b: Any, exact_nan: bool = True) -> bool:
    """Deep equality that tells types apart (True vs 1 vs 1.0) and compares floats by bits.

    With ``exact_nan=False`` any two NaNs are equal (JSON text keeps no NaN sign or payload).
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if not exact_nan and math.isnan(a) and math.isnan(b):
            return True
        return bits(a) == bits(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k], exact_nan) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, exact_nan) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime.datetime):
        return (
            a == b
            and (a.tzinfo is None) == (b.tzinfo is None)
            and a.utcoffset() == b.utcoffset()
            and a.isoformat() == b.isoformat()
        )
    if isinstance(a, BaseDistribution):
        return same(vars(a), vars(b), exact_nan=False)
    return a == b


def assert_same_trial(got: FrozenTrial, want: FrozenTrial) -> None:
    assert isinstance(got, FrozenTrial)
    assert got.number == want.number
    assert got._trial_id == want._trial_id
    assert got.state is want.state
    assert same(got.values, want.values), (got.values, want.values)
    assert same(got.datetime_start, want.datetime_start)
    assert same(got.datetime_complete, want.datetime_complete)
    # Params keep the order they were set in; categorical choices went through JSON.
    assert list(got.params) == list(want.params)
    for name, value in want.params.items():
        dist = want.distributions[name]
        exact = not isinstance(dist, CategoricalDistribution)
        assert same(got.params[name], value, exact_nan=exact), (name, got.params[name], value)
    assert list(got.distributions) == list(want.params)
    for name in want.params:
        assert same(got.distributions[name], want.distributions[name]), name
    # Dicts keep the order of first insertion into the log.
    assert list(got.intermediate_values) == list(want.intermediate_values)
    assert same(got.intermediate_values, want.intermediate_values)
    assert same(got.user_attrs, want.user_attrs, exact_nan=False)
    assert same(got.system_attrs, want.system_attrs, exact_nan=False)


def make_trial(
    state: TrialState = TrialState.COMPLETE,
    values: list[float] | None = None,
    datetime_start: datetime.datetime | None = None,
    datetime_complete: datetime.datetime | None = None,
    params: dict[str, Any] | None = None,
    distributions: dict[str, BaseDistribution] | None = None,
    user_attrs: dict[str, Any] | None = None,
    system_attrs: dict[str, Any] | None = None,
    intermediate_values: dict[int, float] | None = None,
) -> FrozenTrial:
    return FrozenTrial(
        number=NUMBER,
        state=state,
        value=None,
        values=values,
        datetime_start=datetime_start,
        datetime_complete=datetime_complete,
        params=params or {},
        distributions=distributions or {},
        user_attrs=user_attrs or {},
        system_attrs=system_attrs or {},
        intermediate_values=intermediate_values or {},
        trial_id=TRIAL_ID,
    )


U32 = struct.Struct("<I")
TAGS = b"DCVPIUA"


def entry(tag: bytes, payload: bytes) -> bytes:
    return tag + U32.pack(len(payload)) + payload


def named(name: bytes, rest: bytes) -> bytes:
    return U32.pack(len(name)) + name + rest


def parse(record: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The test's own reader of the documented layout: (state byte, [(tag, payload)])."""
    entries = []
    pos = 1
    while pos < len(record):
        (length,) = U32.unpack_from(record, pos + 1)
        entries.append((record[pos : pos + 1], record[pos + 5 : pos + 5 + length]))
        pos += 5 + length
    assert pos == len(record)
    return record[:1], entries


def build(state: bytes, entries: list[tuple[bytes, bytes]]) -> bytes:
    return state + b"".join(entry(t, p) for t, p in entries)


def roundtrip(codec, trial: FrozenTrial, cache: StudyDistributions | None = None) -> FrozenTrial:
    record = _record.encode_trial(trial)
    assert type(record) is bytes
    return decode(codec, record, cache)


def decode(codec, record: Any, cache: StudyDistributions | None = None) -> FrozenTrial:
    dists = StudyDistributions() if cache is None else cache
    return codec.decode_trial(KEY, TRIAL_ID, NUMBER, record, dists)


def rich_trial() -> FrozenTrial:
    return make_trial(
        state=TrialState.COMPLETE,
        values=[1.5, -0.0],
        datetime_start=datetime.datetime(2024, 1, 2, 3, 4, 5, 123456),
        datetime_complete=datetime.datetime(2024, 1, 2, 3, 4, 6, 1),
        params={"x": 0.25, "n": 3, "c": "b"},
        distributions={
            "x": FloatDistribution(0.0, 1.0),
            "n": IntDistribution(0, 10),
            "c": CategoricalDistribution(["a", "b", None]),
        },
        user_attrs={"u": [1, {"k": "v"}]},
        system_attrs={"s": 2.5},
        intermediate_values={0: 1.0, 1: 0.5},
    )


def assert_corrupt(codec, record: Any) -> CorruptRecordError:
    with pytest.raises(CorruptRecordError) as info:
        decode(codec, record)
    assert KEY in str(info.value)
    return info.value


def decodes_or_corrupt(codec, record: Any) -> None:
    """Garbage either decodes to a FrozenTrial or raises CorruptRecordError naming the key."""
    try:
        got = decode(codec, record)
    except CorruptRecordError as e:
        assert KEY in str(e)
    else:
        assert isinstance(got, FrozenTrial)


# ---------------------------------------------------------------- round trips


def test_rich_trial_roundtrip(codec) -> None:
    trial = rich_trial()
    assert_same_trial(roundtrip(codec, trial), trial)


@pytest.mark.parametrize("state", list(TrialState))
def test_every_state_roundtrips(codec, state: TrialState) -> None:
    values = [1.0] if state == TrialState.COMPLETE else None
    trial = make_trial(state=state, values=values)
    got = roundtrip(codec, trial)
    assert got.state is state
    assert_same_trial(got, trial)


def test_minimal_trial(codec) -> None:
    trial = make_trial(state=TrialState.RUNNING)
    got = roundtrip(codec, trial)
    assert_same_trial(got, trial)
    assert got.values is None
    assert got.datetime_start is None and got.datetime_complete is None
    assert got.params == {} and got.distributions == {}
    assert _record.encode_trial(trial) == b"0"


DISTRIBUTIONS = [
    (FloatDistribution(-1.0, 1.0), 0.3),
    (FloatDistribution(-1.0, 1.0), -0.0),
    (FloatDistribution(1e-8, 1e8, log=True), 3.3e-7),
    (FloatDistribution(0.0, 1.0, step=0.1), 0.7000000000000001),
    (FloatDistribution(-5.5, 5.5, step=0.5), -5.5),
    (FloatDistribution(2.0, 2.0), 2.0),
    (FloatDistribution(5e-324, 1.7976931348623157e308), 1e300),
    (IntDistribution(-10, 10), -7),
    (IntDistribution(1, 1024, log=True), 512),
    (IntDistribution(0, 100, step=5), 35),
    (IntDistribution(-(2**52), 2**52), 2**52 - 1),
    (CategoricalDistribution([None, True, 7, 1.5, "s"]), None),
    (CategoricalDistribution([None, True, 7, 1.5, "s"]), True),
    (CategoricalDistribution([None, True, 7, 1.5, "s"]), 7),
    (CategoricalDistribution([None, True, 7, 1.5, "s"]), 1.5),
    (CategoricalDistribution([None, True, 7, 1.5, "s"]), "s"),
    (CategoricalDistribution([False, -3]), False),
    (CategoricalDistribution([False, -3]), -3),
    (CategoricalDistribution([NAN, INF, -INF, -0.0, 2**70]), NAN),
    (CategoricalDistribution([NAN, INF, -INF, -0.0, 2**70]), INF),
    (CategoricalDistribution([NAN, INF, -INF, -0.0, 2**70]), -INF),
    (CategoricalDistribution([NAN, INF, -INF, -0.0, 2**70]), -0.0),
    (CategoricalDistribution([NAN, INF, -INF, -0.0, 2**70]), 2**70),
    (CategoricalDistribution(["", "ü", "\x00", '"quoted"', "\ud800"]), "\x00"),
    (CategoricalDistribution(["", "ü", "\x00", '"quoted"', "\ud800"]), "\ud800"),
    (CategoricalDistribution([1]), 1),
]


@pytest.mark.parametrize(("dist", "value"), DISTRIBUTIONS, ids=lambda x: repr(x)[:40])
def test_distribution_roundtrip(codec, dist: BaseDistribution, value: Any) -> None:
    trial = make_trial(params={"p": value}, distributions={"p": dist})
    got = roundtrip(codec, trial)
    assert_same_trial(got, trial)
    assert type(got.distributions["p"]) is type(dist)
    assert distribution_to_json(got.distributions["p"]) == distribution_to_json(dist)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(got.params["p"])
    else:
        assert type(got.params["p"]) is type(value)


def test_all_distributions_in_one_trial(codec) -> None:
    params = {f"p{i}": value for i, (_, value) in enumerate(DISTRIBUTIONS)}
    dists = {f"p{i}": dist for i, (dist, _) in enumerate(DISTRIBUTIONS)}
    trial = make_trial(params=params, distributions=dists)
    assert_same_trial(roundtrip(codec, trial), trial)


SPECIAL_FLOATS = [NAN, -NAN, INF, -INF, 0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308]
NAN_PAYLOAD = struct.unpack("<d", struct.pack("<Q", 0x7FF0_0000_DEAD_BEEF))[0]
NEG_NAN = struct.unpack("<d", struct.pack("<Q", 0xFFF8_0000_0000_0001))[0]


@pytest.mark.parametrize("x", [*SPECIAL_FLOATS, NAN_PAYLOAD, NEG_NAN], ids=repr)
def test_intermediate_values_bit_exact(codec, x: float) -> None:
    trial = make_trial(intermediate_values={0: x, -1: 1.0, 2**63 - 1: x, -(2**63): x})
    got = roundtrip(codec, trial)
    assert list(got.intermediate_values) == [0, -1, 2**63 - 1, -(2**63)]
    for step, value in trial.intermediate_values.items():
        assert bits(got.intermediate_values[step]) == bits(value)


@pytest.mark.parametrize("x", [INF, -INF, 0.0, -0.0, 5e-324, 1e308, -1.5], ids=repr)
def test_values_bit_exact(codec, x: float) -> None:
    trial = make_trial(values=[x, -x, 1.0])
    got = roundtrip(codec, trial)
    assert [bits(v) for v in got.values] == [bits(x), bits(-x), bits(1.0)]


@pytest.mark.parametrize("x", [f for f in SPECIAL_FLOATS if not math.isnan(f)], ids=repr)
def test_float_param_bit_exact(codec, x: float) -> None:
    # The codec stores the internal repr as raw bits (Optuna itself refuses NaN params).
    trial = make_trial(params={"x": x}, distributions={"x": FloatDistribution(-1.0, 1.0)})
    got = roundtrip(codec, trial)
    assert bits(got.params["x"]) == bits(x)


def test_multi_objective_values(codec) -> None:
    values = [float(i) - 3.5 for i in range(17)]
    assert roundtrip(codec, make_trial(values=values)).values == values
    assert roundtrip(codec, make_trial(values=[])).values == []


@pytest.mark.parametrize(
    "dt",
    [
        datetime.datetime(2020, 5, 6, 7, 8, 9),
        datetime.datetime(2020, 5, 6, 7, 8, 9, 1),
        datetime.datetime(2020, 5, 6, 7, 8, 9, 999999),
        datetime.datetime(1, 1, 1),
        datetime.datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime.datetime(2020, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        datetime.datetime(2020, 5, 6, 7, 8, 9, tzinfo=IST),
        datetime.datetime(2020, 5, 6, 7, 8, 9, 5, tzinfo=NST),
    ],
    ids=lambda d: d.isoformat(),
)
def test_datetimes(codec, dt: datetime.datetime) -> None:
    trial = make_trial(datetime_start=dt, datetime_complete=dt)
    got = roundtrip(codec, trial)
    assert same(got.datetime_start, dt)
    assert same(got.datetime_complete, dt)
    assert got.datetime_start.utcoffset() == dt.utcoffset()


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"])
def local_tz(request, monkeypatch) -> Any:
    """This process's local time zone, for the length of a test."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# UTC instants around the 2026 DST changes of New York (Mar 8, Nov 1), Europe (Mar 29,
# Oct 25) and Lord Howe (Apr 5, Oct 4: half an hour), and elsewhere in the year.
UTC_INSTANTS = [
    datetime.datetime(2026, month, day, hour, minute, second, micro)
    for month, day, hour in [
        (3, 8, 6),
        (3, 8, 7),
        (11, 1, 5),
        (11, 1, 6),
        (3, 29, 1),
        (10, 25, 1),
        (4, 4, 14),
        (4, 4, 15),
        (10, 3, 15),
        (10, 3, 16),
    ]
    for minute, second, micro in [(0, 0, 0), (29, 59, 999999), (30, 0, 1), (59, 59, 0)]
] + [datetime.datetime(2024, 2, 29, 23, 59, 59), datetime.datetime(1970, 1, 1)]


def test_utc_datetimes_read_back_in_local_time(codec, local_tz) -> None:
    """What format 3 writes for a naive datetime ("Z": UTC) is read back as the reader's
    local time, naive, as Python's astimezone() gives it."""
    for utc in UTC_INSTANTS:
        raw = utc.isoformat().encode() + b"Z"
        got = decode(codec, b"0" + _record._entry(b"D", raw)).datetime_start
        want = utc.replace(tzinfo=datetime.timezone.utc).astimezone().replace(tzinfo=None)
        assert got == want and got.tzinfo is None, (local_tz, raw)


def test_naive_datetimes_are_stored_in_utc(codec, local_tz) -> None:
    now = datetime.datetime.now()
    raw = _record._datetime(now)
    assert (
        raw
        == now.astimezone(datetime.timezone.utc).replace(tzinfo=None).isoformat().encode() + b"Z"
    )
    assert roundtrip(codec, make_trial(datetime_start=now)).datetime_start == now


def test_format_2_naive_datetimes_are_read_as_they_are(codec, local_tz) -> None:
    for raw in [b"2020-05-06T07:08:09", b"2020-05-06T07:08:09.000001"]:
        got = decode(codec, b"0" + _record._entry(b"D", raw)).datetime_start
        assert got == datetime.datetime.fromisoformat(raw.decode()) and got.tzinfo is None


NAMES = ["", " ", "ü", "名前", "\x00", "a\nb", "p:x", "u:y", "{x}", ":", "\ud800", "🎉" * 50]


def test_unicode_and_empty_names(codec) -> None:
    params = {name: float(i) for i, name in enumerate(NAMES)}
    dists = {name: FloatDistribution(0.0, 100.0) for name in NAMES}
    attrs = {name: name for name in NAMES}
    trial = make_trial(params=params, distributions=dists, user_attrs=attrs, system_attrs=attrs)
    assert_same_trial(roundtrip(codec, trial), trial)


def test_nested_json_attrs_and_large_ints(codec) -> None:
    attrs = {
        "nested": {"a": [1, 2, {"b": [None, True, False, "x", 1.25]}], "c": {}},
        "big": 2**64,
        "bigger": 10**40,
        "neg": -(2**63) - 1,
        "edge_u64": 2**64 - 1,
        "edge_i64": -(2**63),
        "deep_big": [{"x": [2**70, -(2**100)]}],
        "nonfinite": [NAN, INF, -INF, {"z": -0.0}],
        "str": "ü\x00\ud800",
        "empty": [],
        "zero": -0.0,
        "tiny": 5e-324,
    }
    trial = make_trial(user_attrs=attrs, system_attrs={"sys": attrs})
    got = roundtrip(codec, trial)
    assert_same_trial(got, trial)
    assert type(got.user_attrs["big"]) is int and got.user_attrs["big"] == 2**64
    assert bits(got.user_attrs["zero"]) == bits(-0.0)


def test_tuple_attr_becomes_list(codec) -> None:
    # JSON has no tuples; like Optuna's other storages, they come back as lists.
    got = roundtrip(codec, make_trial(user_attrs={"t": (1, (2, 3))}))
    assert got.user_attrs["t"] == [1, [2, 3]]


def test_attr_matches_stdlib_json_semantics(codec) -> None:
    # Optuna's reference storages write attrs with json.dumps; decoding the codec's bytes
    # gives the same value as a json.dumps/json.loads round trip, non-str keys included.
    for value in [
        {1: "a", False: "b", None: "c", 2.5: "d"},
        {INF: 1, -INF: 2},
        {NAN: 1},
        [1, "x", {"k": [2**65]}],
    ]:
        want = json.loads(json.dumps(value))
        got = codec.decode_attr(_record.encode_attr(value))
        assert same(got, want, exact_nan=False), (value, got, want)


def test_log_replay_like_the_server_writes_it(codec) -> None:
    """Build a record as the scripts do (create, APPEND entries, rewrite the state byte)."""
    dt0 = datetime.datetime(2024, 5, 6, 7, 8, 9, 10)
    dt1 = datetime.datetime(2024, 5, 6, 7, 9, 0, tzinfo=IST)
    fx = _record.encode_distribution(FloatDistribution(0.0, 10.0))
    fc = _record.encode_distribution(CategoricalDistribution(["a", "b"]))
    record = _record.encode_state(TrialState.WAITING)
    record = _record.encode_state(TrialState.RUNNING) + record[1:]
    record += _record.datetime_start_entry(dt0)
    record += _record.param_entry(b"x", 1.0, fx)
    record += _record.param_entry(b"c", 1.0, fc)
    record += _record.intermediate_entry(5, 0.5)
    record += _record.intermediate_entry(-2, 0.25)
    record += _record.user_attr_entry(b"k", "first")
    record += _record.system_attr_entry(b"k", {"sys": True})
    record += _record.intermediate_entry(5, -0.0)  # a later write replaces in place
    record += _record.user_attr_entry(b"k", "second")
    record += _record.param_entry(b"x", 2.0, fx)
    record = _record.encode_state(TrialState.COMPLETE) + record[1:]
    record += _record.values_entry([3.0]) + _record.datetime_complete_entry(dt1)
    got = decode(codec, record)
    assert got.state is TrialState.COMPLETE
    assert got.values == [3.0]
    assert same(got.datetime_start, dt0) and same(got.datetime_complete, dt1)
    assert list(got.params.items()) == [("x", 2.0), ("c", "b")]
    assert list(got.distributions) == ["x", "c"]
    assert list(got.intermediate_values) == [5, -2]
    assert bits(got.intermediate_values[5]) == bits(-0.0)
    assert got.user_attrs == {"k": "second"}
    assert got.system_attrs == {"k": {"sys": True}}


def test_param_order_is_first_insertion_order(codec) -> None:
    dist = _record.encode_distribution(FloatDistribution(0.0, 100.0))
    names = [f"param_{i:02d}" for i in range(40)]
    random.Random(0).shuffle(names)
    record = b"0" + b"".join(
        _record.param_entry(n.encode(), float(i), dist) for i, n in enumerate(names)
    )
    got = decode(codec, record)
    assert list(got.params) == names
    assert list(got.distributions) == names
    assert got.params == {n: float(i) for i, n in enumerate(names)}


def test_wire_format_matches_spec(codec) -> None:
    """The documented layout, byte for byte, so the compiled twin writes the same record."""
    dt = datetime.datetime(2024, 1, 2, 3, 4, 5, 6)
    fdist = FloatDistribution(0.0, 1.0)
    cdist = CategoricalDistribution(["a", "b"])
    trial = make_trial(
        state=TrialState.PRUNED,
        values=[1.5, -INF],
        datetime_start=dt,
        datetime_complete=dt,
        params={"x": 0.25, "c": "b"},
        distributions={"x": fdist, "c": cdist},
        user_attrs={"u": {"a": 1}},
        system_attrs={"s": NAN, "big": 2**64},
        intermediate_values={-3: 0.5},
    )
    # A naive datetime is the writer's local time, stored in UTC with a "Z".
    iso = dt.astimezone(UTC).replace(tzinfo=None).isoformat().encode() + b"Z"
    fjson = distribution_to_json(fdist).encode()
    cjson = distribution_to_json(cdist).encode()
    assert _record.encode_trial(trial) == build(
        b"2",
        [
            (b"D", iso),
            (b"C", iso),
            (b"V", struct.pack("<2d", 1.5, -INF)),
            (b"P", named(b"x", struct.pack("<d", 0.25) + fjson)),
            (b"P", named(b"c", struct.pack("<d", 1.0) + cjson)),
            (b"I", struct.pack("<qd", -3, 0.5)),
            (b"U", named(b"u", b'j{"a":1}')),
            (b"A", named(b"s", b"JNaN")),
            (b"A", named(b"big", b"J18446744073709551616")),
        ],
    )
    assert _record.encode_state(TrialState.WAITING) == b"4"
    assert _record.encode_name("ü", "x") == "ü".encode()
    assert _record.encode_name("\ud800", "x") == b"\xed\xa0\x80"
    assert _record.encode_distribution(fdist) == fjson
    assert _record.datetime_start_entry(dt) == entry(b"D", iso)
    assert _record.datetime_complete_entry(dt) == entry(b"C", iso)
    assert _record.values_entry([1.0, -0.0]) == entry(b"V", struct.pack("<2d", 1.0, -0.0))
    assert _record.values_entry([]) == entry(b"V", b"")
    assert _record.param_entry(b"n", 0.5, b"{}") == entry(b"P", named(b"n", bits(0.5) + b"{}"))
    assert _record.intermediate_entry(2**63 - 1, NAN_PAYLOAD) == entry(
        b"I", struct.pack("<q", 2**63 - 1) + bits(NAN_PAYLOAD)
    )
    assert _record.user_attr_entry(b"k", [1, "a"]) == entry(b"U", named(b"k", b'j[1,"a"]'))
    assert _record.system_attr_entry(b"k", INF) == entry(b"A", named(b"k", b"JInfinity"))
    assert _record.encode_attr(2**64 - 1) == b"j18446744073709551615"


def test_trial_id_and_number_come_from_arguments(codec) -> None:
    record = _record.encode_trial(rich_trial())
    got = codec.decode_trial("k", 12345, 99, record, StudyDistributions())
    assert got.number == 99 and got._trial_id == 12345


def test_decode_trials(codec) -> None:
    head = "p:s:{7}:t:"
    r0 = _record.encode_trial(rich_trial())
    r1 = _record.encode_trial(make_trial(state=TrialState.RUNNING))
    cache = StudyDistributions()
    out = codec.decode_trials(head, STUDY_ID, [1, r1, 0, r0], cache)
    assert [n for n, _ in out] == [1, 0]
    assert out[0][1].number == 1 and out[0][1]._trial_id == (STUDY_ID << 32) | 1
    assert out[1][1].number == 0 and out[1][1]._trial_id == STUDY_ID << 32
    assert out[1][1].params == rich_trial().params
    assert codec.decode_trials(head, STUDY_ID, [], cache) == []


@pytest.mark.parametrize(
    "items",
    [[0], [0, b"0", 1], ["0", b"0"], [-1, b"0"], [None, b"0"], [1.0, b"0"], [[0], b"0"]],
    ids=repr,
)
def test_decode_trials_bad_shape(codec, items: list) -> None:
    with pytest.raises(CorruptRecordError) as info:
        codec.decode_trials("p:s:{7}:t:", STUDY_ID, items, StudyDistributions())
    assert "p:s:{7}:t:" in str(info.value)


def test_decode_trials_names_the_bad_record(codec) -> None:
    good = _record.encode_trial(rich_trial())
    with pytest.raises(CorruptRecordError) as info:
        items = [0, good, 41, b"9junk", 2, good]
        codec.decode_trials("p:s:{7}:t:", STUDY_ID, items, StudyDistributions())
    assert "p:s:{7}:t:41" in str(info.value)


PLAIN_JSON = [
    b'"plain"', b'""', b'"a\\"b"', b'"\\u00e9"', '"é✓ \x7f"'.encode(), b"0", b"-0", b"7",
    b"-12", b"123456789012345678", b"-123456789012345678", b"1234567890123456789", b"1.5",
    b"1e3", b"true", b"null", b"[1]", b' "x"', b"1 ",
]  # fmt: skip


@pytest.mark.parametrize("text", PLAIN_JSON, ids=repr)
def test_decode_attr_reads_what_orjson_reads(codec, text: bytes) -> None:
    """The compiled codec reads plain strings and short integers without orjson: the same
    values, of the same types."""
    import orjson

    got = codec.decode_attr(b"j" + text)
    want = orjson.loads(text)
    assert type(got) is type(want) and repr(got) == repr(want)


BAD_JSON = [
    b"", b"007", b"-", b"--1", b"1-", b"-01", b'"a\x01b"', b'"\xff"', b'"\xed\xa0\x80"',
    b'"abc', b'abc"', b'"', b"+1",
]  # fmt: skip


@pytest.mark.parametrize("text", BAD_JSON, ids=repr)
def test_decode_attr_refuses_bad_json(codec, text: bytes) -> None:
    import orjson

    with pytest.raises(orjson.JSONDecodeError):
        codec.decode_attr(b"j" + text)


def test_decode_range(codec) -> None:
    """An MGET reply decoded straight into the cache's list; None records are reported."""
    head = "p:s:{7}:t:"
    r0 = _record.encode_trial(rich_trial())
    r1 = _record.encode_trial(make_trial(state=TrialState.RUNNING))
    into: list = ["keep"] * 6
    missing = codec.decode_range(head, STUDY_ID, 2, [r0, None, r1], StudyDistributions(), into)
    assert missing == [3]
    assert into[:2] == ["keep", "keep"] and into[3] == "keep" and into[5] == "keep"
    assert into[2].number == 2 and into[2]._trial_id == (STUDY_ID << 32) | 2
    assert into[2].params == rich_trial().params
    assert into[4].number == 4 and into[4].state == TrialState.RUNNING
    assert codec.decode_range(head, STUDY_ID, 6, [], StudyDistributions(), into) == []


@pytest.mark.parametrize(
    "first, records, size, error",
    [
        (-1, [], 3, ValueError),
        (2, [None, None], 3, ValueError),
        (1.0, [], 3, ValueError),
        (True, [], 3, ValueError),
        (0, (None,), 3, TypeError),
        (0, [None], None, TypeError),
    ],
    ids=repr,
)
def test_decode_range_refuses_a_bad_range(codec, first, records, size, error) -> None:
    into = [None] * size if size is not None else (None, None, None)
    with pytest.raises(error):
        codec.decode_range("h", STUDY_ID, first, records, StudyDistributions(), into)


def test_decode_range_names_the_bad_record(codec) -> None:
    good = _record.encode_trial(rich_trial())
    into: list = [None] * 50
    with pytest.raises(CorruptRecordError) as info:
        codec.decode_range(
            "p:s:{7}:t:", STUDY_ID, 40, [good, b"9junk", good], StudyDistributions(), into
        )
    assert "p:s:{7}:t:41" in str(info.value)


@pytest.mark.parametrize("head", ["p:s:{7}:t:", "é}{ :t:", "", "x" * 300])
@pytest.mark.parametrize("first, stop", [(0, 1), (0, 12), (8, 11), (95, 1003), (2**32 - 2, 2**32)])
def test_pack_mget_is_what_redis_py_sends(codec, head: str, first: int, stop: int) -> None:
    from redis.connection import Connection

    keys = [head + str(n) for n in range(first, stop)]
    assert codec.pack_mget(head, first, stop) == b"".join(Connection().pack_command("MGET", *keys))


@pytest.mark.parametrize(
    "first, stop", [(0, 0), (5, 4), (-1, 2), (0, 2**32 + 1), (0.0, 2), (0, "2")], ids=repr
)
def test_pack_mget_refuses_a_bad_range(codec, first, stop) -> None:
    with pytest.raises(ValueError):
        codec.pack_mget("h", first, stop)


# ---------------------------------------------------------------- interning


def test_distribution_interning(codec) -> None:
    dist = FloatDistribution(0.0, 1.0)
    t1 = make_trial(params={"x": 0.1, "y": 0.2}, distributions={"x": dist, "y": dist})
    t2 = make_trial(params={"x": 0.3}, distributions={"x": FloatDistribution(0.0, 1.0)})
    cache = StudyDistributions()
    d1 = roundtrip(codec, t1, cache=cache)
    d2 = roundtrip(codec, t2, cache=cache)
    assert d1.distributions["x"] is d2.distributions["x"]
    assert d1.distributions["y"] is d1.distributions["x"]
    assert cache.by_json  # the cache was filled
    # decode_trials shares the same cache too.
    (_, d4), (_, d5) = codec.decode_trials(
        "h", STUDY_ID, [0, _record.encode_trial(t1), 1, _record.encode_trial(t2)], cache
    )
    assert d4.distributions["x"] is d5.distributions["x"] is d1.distributions["x"]
    # A separate cache gives separate (equal) objects.
    d3 = roundtrip(codec, t2, cache=StudyDistributions())
    assert d3.distributions["x"] is not d2.distributions["x"]
    assert d3.distributions["x"] == d2.distributions["x"]


# ---------------------------------------------------------------- encoding errors


class _Obj:
    pass


@dataclasses.dataclass
class _Data:
    a: int = 1


NON_JSON = [
    object(),
    {1, 2},
    frozenset(),
    b"bytes",
    bytearray(b"x"),
    {"a": object()},
    [1, {2}],
    {(1, 2): 3},
    _Obj(),
    _Data(),
    datetime.datetime(2020, 1, 1),
    complex(1, 2),
]


@pytest.mark.parametrize("value", NON_JSON, ids=lambda v: type(v).__name__)
def test_encode_attr_refuses_non_json(codec, value: Any) -> None:
    with pytest.raises(TypeError):
        _record.encode_attr(value)
    with pytest.raises(TypeError):
        _record.user_attr_entry(b"k", value)
    with pytest.raises(TypeError):
        _record.system_attr_entry(b"k", value)


def test_encode_attr_refuses_circular(codec) -> None:
    x: list = []
    x.append(x)
    with pytest.raises((TypeError, ValueError)):
        _record.encode_attr(x)


@pytest.mark.parametrize("values", [[NAN], [1.0, NAN], [NEG_NAN], [NAN_PAYLOAD, 0.0]])
def test_values_entry_refuses_nan(codec, values: list[float]) -> None:
    with pytest.raises(ValueError):
        _record.values_entry(values)


@pytest.mark.parametrize("values", [["a"], [None], [object()], [[1.0]]])
def test_values_entry_refuses_non_numbers(codec, values: list) -> None:
    with pytest.raises(TypeError):
        _record.values_entry(values)


@pytest.mark.parametrize("step", [1.5, 1.0, "1", None, True, b"1"], ids=repr)
def test_intermediate_entry_refuses_non_int_step(codec, step: Any) -> None:
    with pytest.raises(TypeError):
        _record.intermediate_entry(step, 1.0)


@pytest.mark.parametrize("step", [2**63, -(2**63) - 1, 10**30])
def test_intermediate_entry_refuses_huge_step(codec, step: int) -> None:
    with pytest.raises(ValueError):
        _record.intermediate_entry(step, 1.0)


def test_encode_trial_refuses_bad_parts(codec) -> None:
    with pytest.raises(ValueError):
        _record.encode_trial(make_trial(values=[NAN]))
    with pytest.raises(TypeError):
        _record.encode_trial(make_trial(user_attrs={"a": object()}))
    with pytest.raises(TypeError):
        _record.encode_trial(make_trial(system_attrs={"a": {1, 2}}))
    with pytest.raises(TypeError):
        _record.encode_trial(make_trial(user_attrs={1: "a"}))  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        _record.encode_trial(make_trial(intermediate_values={"x": 1.0}))  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        _record.encode_trial(make_trial(intermediate_values={2**64: 1.0}))


def test_other_encoders_refuse_wrong_types(codec) -> None:
    with pytest.raises(TypeError):
        _record.encode_name(b"bytes", "param name")
    with pytest.raises(TypeError):
        _record.encode_name(1, "param name")
    with pytest.raises(TypeError):
        _record.encode_state(1)
    with pytest.raises(TypeError):
        _record.encode_distribution({"low": 0})
    with pytest.raises(TypeError):
        _record.datetime_start_entry("2020-01-01")
    with pytest.raises(TypeError):
        _record.datetime_complete_entry(datetime.date(2020, 1, 1))
    with pytest.raises(TypeError):
        _record.intermediate_entry(1, "x")
    with pytest.raises(TypeError):
        _record.param_entry(b"x", "abc", b"{}")
    with pytest.raises(TypeError):
        _record.param_entry(b"x", None, b"{}")


# ---------------------------------------------------------------- decode robustness


def good_record(codec) -> bytes:
    return _record.encode_trial(rich_trial())


def replace_entry(record: bytes, index: int, payload: bytes, tag: bytes | None = None) -> bytes:
    state, entries = parse(record)
    t, _ = entries[index]
    entries[index] = (tag or t, payload)
    return build(state, entries)


def entry_index(record: bytes, tag: bytes, nth: int = 0) -> int:
    _, entries = parse(record)
    return [i for i, (t, _) in enumerate(entries) if t == tag][nth]


def test_good_record_decodes(codec) -> None:
    record = good_record(codec)
    assert_same_trial(decode(codec, record), rich_trial())
    assert sorted({t for t, _ in parse(record)[1]}) == sorted(bytes([t]) for t in TAGS)


@pytest.mark.parametrize(
    "record", ["0", None, [b"0"], 0, (b"0",), {b"st": b"0"}], ids=lambda r: type(r).__name__
)
def test_record_of_wrong_type(codec, record: Any) -> None:
    assert_corrupt(codec, record)


def test_empty_record(codec) -> None:
    assert_corrupt(codec, b"")


@pytest.mark.parametrize("state", [b"5", b"9", b"/", b"a", b"\x00", b"\xff", b"-", b" "])
def test_bad_state_byte(codec, state: bytes) -> None:
    assert_corrupt(codec, state + good_record(codec)[1:])
    assert_corrupt(codec, state)


def test_state_only_record_decodes(codec) -> None:
    for state in TrialState:
        got = decode(codec, _record.encode_state(state))
        assert got.state is state and got.params == {} and got.values is None


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_truncated_entry_header(codec, cut: int) -> None:
    record = good_record(codec)
    assert_corrupt(codec, record + entry(b"U", named(b"k", b"j1"))[:cut])


def test_every_truncation_is_clean(codec) -> None:
    record = good_record(codec)
    boundaries = set()
    pos = 1
    for _, payload in parse(record)[1]:
        boundaries.add(pos)
        pos += 5 + len(payload)
    for cut in range(len(record)):
        if cut in boundaries:
            decode(codec, record[:cut])  # a prefix of whole entries is a valid record
        else:
            assert_corrupt(codec, record[:cut])


@pytest.mark.parametrize("length", [1, 100, 2**31, 2**32 - 1])
def test_length_past_the_end(codec, length: int) -> None:
    record = good_record(codec)
    i = len(record) - len(parse(record)[1][-1][1]) - 4
    bad = (
        record[:i]
        + U32.pack(min(len(parse(record)[1][-1][1]) + length, 2**32 - 1))
        + record[i + 4 :]
    )
    assert_corrupt(codec, bad)


@pytest.mark.parametrize("tag", [b"Z", b"p", b"u", b"\x00", b"\xff", b"0", b"j"], ids=repr)
def test_unknown_tag(codec, tag: bytes) -> None:
    assert_corrupt(codec, good_record(codec) + entry(tag, b""))
    assert_corrupt(codec, good_record(codec) + entry(tag, named(b"k", b"j1")))


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x01\x00\x00",  # shorter than a name length
        U32.pack(5) + b"abc",  # name runs past the entry
        U32.pack(2**32 - 1) + b"x" * 20,
        named(b"x", b""),  # no value
        named(b"x", b"\x00" * 7),  # short value
        named(b"x", bits(0.5)),  # no distribution
    ],
    ids=repr,
)
def test_truncated_param(codec, payload: bytes) -> None:
    record = good_record(codec)
    assert_corrupt(codec, replace_entry(record, entry_index(record, b"P"), payload))


@pytest.mark.parametrize(
    "dist_json",
    [
        b"{",
        b"null",
        b"[]",
        b"1",
        b'"x"',
        b'{"name": "NoSuchDistribution", "attributes": {}}',
        b'{"name": "FloatDistribution", "attributes": {"low": 1, "high": 0}}',
        b'{"name": "FloatDistribution", "attributes": {"low": 0}}',
        b'{"name": "IntDistribution", "attributes": {"low": 0, "high": "x"}}',
        b'{"name": "CategoricalDistribution", "attributes": {"choices": []}}',
        b'{"type": "nope"}',
        b"\xff\xfe",
        b'{"name": "FloatDistribution", "attributes": {"low": 0, "high": 1, "evil": 1}}',
    ],
    ids=repr,
)
def test_bad_distribution_json(codec, dist_json: bytes) -> None:
    record = good_record(codec)
    bad = replace_entry(record, entry_index(record, b"P"), named(b"x", bits(0.5) + dist_json))
    assert_corrupt(codec, bad)


@pytest.mark.parametrize("index", [99.0, -1.0, -1.5, 0.5, NAN, INF, 1e300, 3.0])
def test_categorical_index_out_of_range(codec, index: float) -> None:
    dist = _record.encode_distribution(CategoricalDistribution(["a", "b", None]))
    assert_corrupt(codec, b"0" + _record.param_entry(b"c", index, dist))


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_int_param_not_an_int(codec, value: float) -> None:
    dist = _record.encode_distribution(IntDistribution(0, 10))
    assert_corrupt(codec, b"0" + _record.param_entry(b"n", value, dist))


@pytest.mark.parametrize("payload", [b"\x00" * 7, b"\x00" * 9, b"\x00" * 15, b"1"])
def test_truncated_values(codec, payload: bytes) -> None:
    record = good_record(codec)
    assert_corrupt(codec, replace_entry(record, entry_index(record, b"V"), payload))


@pytest.mark.parametrize("length", [0, 7, 8, 15, 17, 24])
def test_bad_intermediate_entry(codec, length: int) -> None:
    record = good_record(codec)
    bad = replace_entry(record, entry_index(record, b"I"), b"\x01" * length)
    assert_corrupt(codec, bad)


@pytest.mark.parametrize("tag", [b"D", b"C"])
@pytest.mark.parametrize(
    "raw", [b"", b"yesterday", b"2020-13-01", b"2020-01-01T25:00", b"\xff", "ü".encode()]
)
def test_bad_datetime(codec, tag: bytes, raw: bytes) -> None:
    record = good_record(codec)
    assert_corrupt(codec, replace_entry(record, entry_index(record, tag), raw))


@pytest.mark.parametrize("tag", [b"U", b"A"])
@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"j{",
        b"J[1,",
        b"j",
        b"J",
        b"jNaN",  # orjson-tagged text that only the standard library reads
        b"j\xff",
        b"J\xff",
        b"x1",
        b"{}",
        b"\x80",
        b" j1",
        b"j" + b"[" * 100_000,
        b"J" + b"[" * 100_000,
        b"J" + b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=lambda r: repr(r[:12]),
)
def test_bad_attr_value(codec, tag: bytes, raw: bytes) -> None:
    record = good_record(codec)
    assert_corrupt(codec, replace_entry(record, entry_index(record, tag), named(b"k", raw)))


@pytest.mark.parametrize("tag", [b"P", b"U", b"A"])
@pytest.mark.parametrize("name", [b"\xff", b"a\xfe", b"\xc3", b"\xc3(", b"\xf8\x88\x80\x80\x80"])
def test_invalid_utf8_names(codec, tag: bytes, name: bytes) -> None:
    record = good_record(codec)
    i = entry_index(record, tag)
    payload = parse(record)[1][i][1]
    (n,) = U32.unpack_from(payload)
    assert_corrupt(codec, replace_entry(record, i, named(name, payload[4 + n :])))


def test_decode_attr_and_attrs_errors(codec) -> None:
    for raw in [b"", b"x", b"j{", b"\x80\x04K\x01."]:
        with pytest.raises(ValueError):
            codec.decode_attr(raw)
    with pytest.raises(CorruptRecordError) as info:
        codec.decode_attrs("some:key", {b"a": b"j1", b"b": b"bad"})
    assert "some:key" in str(info.value)
    with pytest.raises(CorruptRecordError) as info:
        codec.decode_attrs("some:key", {b"\xff": b"j1"})
    assert "some:key" in str(info.value)
    assert codec.decode_attrs("k", {b"a": b"j1", "ü".encode(): b'J{"x": NaN}'})["a"] == 1


class _Boom:
    """Unpickling this would create ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickle_payloads(path: str) -> list[bytes]:
    return [pickle.dumps(_Boom(path), protocol=p) for p in range(pickle.HIGHEST_PROTOCOL + 1)]


def test_pickle_payload_never_runs(codec, tmp_path) -> None:
    marker = str(tmp_path / "pwned")
    payloads = pickle_payloads(marker)
    # Sanity: the payload does run when unpickled.
    pickle.loads(payloads[-1]).close()
    assert os.path.exists(marker)
    os.remove(marker)

    record = good_record(codec)
    n_entries = len(parse(record)[1])
    for payload in payloads:
        assert_corrupt(codec, payload)
        assert_corrupt(codec, b"1" + payload)
        assert_corrupt(codec, record + payload)
        for i in range(n_entries):
            decodes_or_corrupt(codec, replace_entry(record, i, payload))
            decodes_or_corrupt(codec, replace_entry(record, i, named(b"k", payload)))
        for tag in [b"D", b"U", b"A", b"P"]:
            assert_corrupt(codec, replace_entry(record, entry_index(record, tag), payload))
        assert_corrupt(codec, b"0" + entry(b"U", named(b"k", payload)))
        assert_corrupt(codec, b"0" + entry(b"P", named(b"k", bits(0.0) + payload)))
        with pytest.raises(ValueError):
            codec.decode_attr(payload)
        with pytest.raises(CorruptRecordError):
            codec.decode_attrs("k", {b"a": payload})
        with pytest.raises(CorruptRecordError):
            codec.decode_trials("h", STUDY_ID, [0, payload], StudyDistributions())
    assert not os.path.exists(marker)


# ---------------------------------------------------------------- property tests

FINITE = st.floats(allow_nan=False, allow_infinity=False)
names = st.text(max_size=10)
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**100), max_value=2**100)
    | st.floats()
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
fixed_timezones = st.builds(
    lambda m: datetime.timezone(datetime.timedelta(minutes=m)), st.integers(-1439, 1439)
)
datetimes = st.none() | st.datetimes(timezones=st.none() | st.just(UTC) | fixed_timezones)


def _choice_key(c: Any) -> tuple:
    if c is None:
        return ("none",)
    if isinstance(c, str):
        return ("str", c)
    if isinstance(c, float) and math.isnan(c):
        return ("nan",)
    return ("num", float(c))


choices = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats() | st.text(max_size=8)
)


@st.composite
def dist_and_value(draw) -> tuple[BaseDistribution, Any]:
    kind = draw(st.sampled_from(["float", "float_log", "float_step", "int", "int_log", "cat"]))
    if kind == "float":
        low = draw(st.floats(-1e9, 1e9))
        high = low + draw(st.floats(0, 1e9))
        value = draw(st.floats(low, high) | st.just(-0.0 if low <= 0 <= high else low))
        return FloatDistribution(low, high), value
    if kind == "float_log":
        low = draw(st.floats(1e-10, 1e3))
        high = low * draw(st.floats(1, 1e6))
        return FloatDistribution(low, high, log=True), draw(st.floats(low, high))
    if kind == "float_step":
        step = draw(st.sampled_from([0.001, 0.1, 0.25, 0.5, 1.0, 3.0]))
        low = draw(st.integers(-1000, 1000)) * 0.5
        dist = FloatDistribution(low, low + draw(st.integers(0, 100)) * step, step=step)
        return dist, low + draw(st.integers(0, 100)) * step
    if kind == "int":
        low = draw(st.integers(-(2**52), 2**52))
        step = draw(st.integers(1, 10))
        dist = IntDistribution(low, low + draw(st.integers(0, 2**16)) * step, step=step)
        return dist, draw(st.integers(dist.low, dist.high))
    if kind == "int_log":
        low = draw(st.integers(1, 1000))
        dist = IntDistribution(low, low + draw(st.integers(0, 10**6)), log=True)
        return dist, draw(st.integers(dist.low, dist.high))
    cs = draw(st.lists(choices, min_size=1, max_size=6, unique_by=_choice_key))
    return CategoricalDistribution(cs), cs[draw(st.integers(0, len(cs) - 1))]


@st.composite
def frozen_trials(draw) -> FrozenTrial:
    n_objectives = draw(st.integers(0, 4))
    values = None
    if n_objectives:
        values = draw(st.lists(st.floats(allow_nan=False), min_size=n_objectives))
    params_dists = draw(st.dictionaries(names, dist_and_value(), max_size=6))
    return make_trial(
        state=draw(st.sampled_from(list(TrialState))),
        values=values,
        datetime_start=draw(datetimes),
        datetime_complete=draw(datetimes),
        params={k: v for k, (_, v) in params_dists.items()},
        distributions={k: d for k, (d, _) in params_dists.items()},
        user_attrs=draw(st.dictionaries(names, json_values, max_size=4)),
        system_attrs=draw(st.dictionaries(names, json_values, max_size=4)),
        intermediate_values=draw(
            st.dictionaries(st.integers(-(2**63), 2**63 - 1), st.floats(), max_size=5)
        ),
    )


@HYPOTHESIS_TRIALS
@given(trial=frozen_trials())
def test_property_roundtrip(codec, trial: FrozenTrial) -> None:
    assert_same_trial(roundtrip(codec, trial), trial)


@HYPOTHESIS_TRIALS
@given(trial=frozen_trials(), rng=st.randoms(use_true_random=False))
def test_property_shuffled_log(codec, trial: FrozenTrial, rng: random.Random) -> None:
    """Entries in any order decode, and dicts follow the order of the log."""
    state, entries = parse(_record.encode_trial(trial))
    rng.shuffle(entries)
    got = decode(codec, build(state, entries))
    order = {tag: [] for tag in TAGS}
    for tag, payload in entries:
        if tag in (b"P", b"U", b"A"):
            (n,) = U32.unpack_from(payload)
            order[tag[0]].append(payload[4 : 4 + n].decode("utf-8", "surrogatepass"))
        elif tag == b"I":
            order[tag[0]].append(struct.unpack_from("<q", payload)[0])
    assert list(got.params) == order[ord("P")]
    assert list(got.intermediate_values) == order[ord("I")]
    assert list(got.user_attrs) == order[ord("U")]
    assert list(got.system_attrs) == order[ord("A")]
    want = make_trial(
        state=trial.state,
        values=trial.values,
        datetime_start=trial.datetime_start,
        datetime_complete=trial.datetime_complete,
        params={k: trial.params[k] for k in order[ord("P")]},
        distributions=trial.distributions,
        user_attrs={k: trial.user_attrs[k] for k in order[ord("U")]},
        system_attrs={k: trial.system_attrs[k] for k in order[ord("A")]},
        intermediate_values={k: trial.intermediate_values[k] for k in order[ord("I")]},
    )
    assert_same_trial(got, want)


@HYPOTHESIS
@given(value=json_values)
@example(value=2**64)
@example(value=[NAN, {"a": -0.0}])
@example(value="\udfff")
def test_property_attr_roundtrip(codec, value: Any) -> None:
    raw = _record.encode_attr(value)
    assert raw[:1] in (b"j", b"J")
    assert same(codec.decode_attr(raw), value, exact_nan=False)


@HYPOTHESIS
@given(values=st.lists(st.floats(allow_nan=False), max_size=8))
def test_property_values(codec, values: list[float]) -> None:
    assert _record.values_entry(values) == entry(b"V", b"".join(bits(v) for v in values))


@HYPOTHESIS
@given(data=st.data(), garbage=st.binary(max_size=64))
def test_property_random_payload_in_every_entry(codec, data, garbage: bytes) -> None:
    record = good_record(codec)
    i = data.draw(st.integers(0, len(parse(record)[1]) - 1))
    decodes_or_corrupt(codec, replace_entry(record, i, garbage))
    tag = data.draw(st.sampled_from([bytes([t]) for t in TAGS]))
    decodes_or_corrupt(codec, replace_entry(record, i, garbage, tag=tag))


@HYPOTHESIS
@given(data=st.data(), garbage=st.binary(min_size=1, max_size=16))
def test_property_random_bytes_over_a_good_record(codec, data, garbage: bytes) -> None:
    record = bytearray(good_record(codec))
    i = data.draw(st.integers(0, len(record) - 1))
    record[i : i + len(garbage)] = garbage
    decodes_or_corrupt(codec, bytes(record))


@HYPOTHESIS
@given(record=st.binary(max_size=200))
def test_property_random_records(codec, record: bytes) -> None:
    decodes_or_corrupt(codec, record)
    decodes_or_corrupt(codec, b"1" + record)


@HYPOTHESIS
@given(
    state=st.sampled_from([b"0", b"1", b"2", b"3", b"4"]),
    entries=st.lists(
        st.tuples(st.sampled_from([bytes([t]) for t in TAGS]), st.binary(max_size=40)),
        max_size=8,
    ),
)
def test_property_random_payloads_for_known_tags(codec, state: bytes, entries) -> None:
    decodes_or_corrupt(codec, build(state, entries))


# ---------------------------------------------------------------- registered distributions


def _registered(codec, **dists: BaseDistribution) -> StudyDistributions:
    out = StudyDistributions()
    flat = []
    for name, dist in dists.items():
        flat += [name.encode(), _record.encode_distribution(dist)]
    out.register("p:s:{7}:dists", flat)
    return out


def test_short_param_entry_uses_the_registered_distribution(codec) -> None:
    dist = CategoricalDistribution(["a", "b"])
    dists = _registered(codec, c=dist, x=FloatDistribution(0, 1))
    record = b"1" + _record.param_entry(b"c", 1.0, b"") + _record.param_entry(b"x", 0.25, b"")
    trial = codec.decode_trial(KEY, TRIAL_ID, NUMBER, record, dists)
    assert trial.params == {"c": "b", "x": 0.25}
    assert trial.distributions["c"] is dists.registered["c"]
    assert list(trial.distributions) == ["c", "x"]


def test_full_entry_overrides_the_registered_distribution(codec) -> None:
    dists = _registered(codec, x=FloatDistribution(0, 1))
    wider = FloatDistribution(0, 2)
    record = b"1" + _record.param_entry(b"x", 1.5, _record.encode_distribution(wider))
    trial = codec.decode_trial(KEY, TRIAL_ID, NUMBER, record, dists)
    assert trial.distributions["x"] == wider and trial.params["x"] == 1.5


def test_short_entry_without_registration_is_corrupt(codec) -> None:
    dists = _registered(codec, x=FloatDistribution(0, 1))
    record = b"1" + _record.param_entry(b"y", 0.5, b"")
    with pytest.raises(CorruptRecordError, match="has no distribution in its study") as info:
        codec.decode_trial(KEY, TRIAL_ID, NUMBER, record, dists)
    assert KEY in str(info.value)


@pytest.mark.parametrize(
    "flat",
    [[b"x"], [b"x", b"not json"], [b"\xff", b'{"name": "FloatDistribution"}'], [b"x", b"{}"]],
    ids=repr,
)
def test_register_refuses_corrupt_dists(flat: list) -> None:
    with pytest.raises(CorruptRecordError, match="dists"):
        StudyDistributions().register("p:s:{7}:dists", flat)
