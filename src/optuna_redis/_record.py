"""The record format: its specification and its encoder.

The decoders (``_codec_py``, the reference, and its compiled twin ``_codec_c``) read what
this module writes. The storage's writes use only this encoder, since each costs a round
trip anyway; a copy writes thousands of records a round trip, so its bulk encoder is
twinned too (``_bulk_py``, built on this module's functions, and ``_bulk_c``).

A trial is one Redis string (``P:s:{ID}:t:NUMBER``), so one GET (or one element of a
script's reply) decodes to one ``FrozenTrial``. The string is a log that writes append to::

    record  := state entry*
    state   := 1 ASCII digit, the TrialState value (scripts read and set it in place)
    entry   := tag (1 byte) | length (u32) | payload (length bytes)

    tag  payload                                                  meaning
    D    a datetime, ASCII (see below)                            datetime_start
    C    a datetime, ASCII (see below)                            datetime_complete
    V    n x f64                                                  objective values
    P    name length (u32) | name | value (f64) | distribution    a param: internal value,
         JSON (Optuna's distribution_to_json), or nothing when    and its distribution
         it is the study's distribution for that name
    I    step (i64) | value (f64)                                 an intermediate value
    U    key length (u32) | key | encoded JSON value              a user attribute
    A    key length (u32) | key | encoded JSON value              a system attribute

A study's distribution for a param name is the first one it saw under that name, kept
in the study's ``dists`` hash (see ``_keys``); entries that use it leave the JSON out,
which makes a record about a third of the size. All integers and floats are
little-endian; floats are IEEE-754 doubles stored as raw bits, so NaN, ±inf and -0.0
round-trip exactly. Names are UTF-8 (lone surrogates allowed). Decoding replays the
log: a later entry for the same param, step or key replaces the value in place, so dicts
keep the order of first insertion, as Optuna's in-memory storage does.

A datetime is a naive one taken as the writer's local time (the storage's own clock, or a
template trial's naive datetime), stored in UTC as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``, and
read back as the reader's local time, naive, as Optuna's in-memory storage returns it: so
workers in different time zones write one timeline. An aware datetime is stored as its
``isoformat()`` and read back as it was. (Format 2 stored naive datetimes as they were,
without ``Z``; they are read back as they are.)

An encoded JSON value is one tag byte and the JSON text: ``j`` for JSON that orjson reads
back exactly, ``J`` for JSON that needs the standard library (NaN, ±Infinity, integers
beyond 64 bits).
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import json
import math
import struct
import time
from typing import Any
from typing import NamedTuple

from optuna.distributions import BaseDistribution
from optuna.distributions import distribution_to_json
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import orjson

from optuna_redis._attr_json import check_for_stdlib

__all__ = [
    "ParamEntry",
    "Template",
    "datetime_complete_entry",
    "datetime_start_entry",
    "encode_attr",
    "encode_distribution",
    "encode_name",
    "encode_state",
    "encode_template",
    "encode_trial",
    "intermediate_entry",
    "param_entry",
    "param_entries",
    "system_attr_entry",
    "user_attr_entry",
    "values_entry",
]

_STATE_BYTES = {s: str(s.value).encode() for s in TrialState}
_DOUBLE = struct.Struct("<d")
_U32 = struct.Struct("<I")
_STEP = struct.Struct("<qd")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_INTERMEDIATE_HEAD = b"I" + _U32.pack(_STEP.size)
# Types orjson would serialize but json.dumps (Optuna's reference behaviour) refuses or
# serializes differently are passed through, so they reach the json.dumps fallback.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class ParamEntry(NamedTuple):
    """A param as the scripts write it: the server keeps ``short`` (no JSON) when
    ``dist_json`` is the study's distribution for the name, else ``full``."""

    name: str
    encoded_name: bytes
    dist_json: bytes
    short: bytes
    full: bytes


class Template(NamedTuple):
    """A whole trial's record split around its params: ``head``, the params, ``tail``."""

    head: bytes
    params: list[ParamEntry]
    tail: bytes


def encode_state(state: TrialState) -> bytes:
    if not isinstance(state, TrialState):
        raise TypeError(f"state must be a TrialState, got {state!r}.")
    return _STATE_BYTES[state]


def encode_name(name: Any, what: str) -> bytes:
    """Encode a param name or attribute key (any str, lone surrogates included)."""
    if not isinstance(name, str):
        raise TypeError(f"The {what} must be a str, got {type(name).__name__}.")
    return name.encode("utf-8", "surrogatepass")


def encode_distribution(distribution: BaseDistribution) -> bytes:
    if not isinstance(distribution, BaseDistribution):
        raise TypeError(
            f"distribution must be an optuna BaseDistribution, got {type(distribution).__name__}."
        )
    return distribution_to_json(distribution).encode()


def encode_attr(value: Any) -> bytes:
    """Encode an attribute value as tagged JSON; TypeError if JSON cannot hold it."""
    try:
        out = orjson.dumps(value, option=_ORJSON_OPTIONS)
    except TypeError:
        return b"J" + _stdlib_dumps(value)
    if b"null" in out and _has_non_finite(value):
        # orjson writes NaN and ±inf as null; the standard library keeps them.
        return b"J" + _stdlib_dumps(value)
    return b"j" + out


def datetime_start_entry(value: datetime.datetime, local_is_utc: bool = False) -> bytes:
    """``local_is_utc``: the caller checked ``local_zone_is_utc()``, so a naive datetime is
    stored as it is, without asking the time zone (encoders of many trials)."""
    return _entry(b"D", _datetime(value, local_is_utc))


def datetime_complete_entry(value: datetime.datetime, local_is_utc: bool = False) -> bytes:
    return _entry(b"C", _datetime(value, local_is_utc))


def local_zone_is_utc() -> bool:
    """Whether local time is UTC now (it can change: ``time.tzset``)."""
    return time.timezone == 0 and time.altzone == 0 and not time.daylight


def start_now_entry() -> bytes:
    """``datetime_start`` now, by this machine's clock."""
    return _entry(b"D", _utc(datetime.datetime.now(datetime.timezone.utc)))


def complete_now_entry() -> bytes:
    """``datetime_complete`` now, by this machine's clock."""
    return _entry(b"C", _utc(datetime.datetime.now(datetime.timezone.utc)))


def values_entry(values: Sequence[float]) -> bytes:
    """Objective values; NaN is refused, as Optuna never stores it as a value."""
    floats = [_as_float(v, "objective value") for v in values]
    for v in floats:
        if math.isnan(v):
            raise ValueError(f"Objective values must not be NaN, got {list(values)!r}.")
    return _entry(b"V", struct.pack(f"<{len(floats)}d", *floats))


def param_entry(name: bytes, value_internal: float, dist_json: bytes) -> bytes:
    """A param entry; ``dist_json=b""`` stands for the study's distribution of ``name``."""
    value = _DOUBLE.pack(_as_float(value_internal, "param value"))
    return _entry(b"P", _U32.pack(len(name)) + name + value + dist_json)


def param_entry_head(name: bytes, dist_json: bytes) -> bytes:
    """What every ``param_entry(name, value, dist_json)`` starts with, for encoders of many
    trials (``optuna-redis copy``): the entry is this head, the packed value and
    ``dist_json``."""
    return b"P" + _U32.pack(4 + len(name) + 8 + len(dist_json)) + _U32.pack(len(name)) + name


def pack_double(value: float) -> bytes:
    return _DOUBLE.pack(_as_float(value, "param value"))


def intermediate_entries(values: dict[int, float]) -> bytes:
    """``intermediate_entry`` of each item, joined; the same bytes, packed in one go."""
    try:
        return b"".join([_INTERMEDIATE_HEAD + _STEP.pack(s, v) for s, v in values.items()])
    except (struct.error, TypeError):  # A bad step or value: the checks of the slow path.
        return b"".join([intermediate_entry(s, v) for s, v in values.items()])


def intermediate_entry(step: Any, value: float) -> bytes:
    if isinstance(step, bool) or not isinstance(step, int):
        raise TypeError(f"step must be an int, got {step!r}.")
    if not _I64_MIN <= step <= _I64_MAX:
        raise ValueError(f"step must fit in 64 bits, got {step!r}.")
    return _entry(b"I", _STEP.pack(step, _as_float(value, "intermediate value")))


def user_attr_entry(key: bytes, value: Any) -> bytes:
    return _entry(b"U", _U32.pack(len(key)) + key + encode_attr(value))


def system_attr_entry(key: bytes, value: Any) -> bytes:
    return _entry(b"A", _U32.pack(len(key)) + key + encode_attr(value))


def param_entries(
    param_name: str, value_internal: float, distribution: BaseDistribution
) -> ParamEntry:
    """A param's entries, with and without its distribution's JSON."""
    name = encode_name(param_name, "param name")
    dist_json = encode_distribution(distribution)
    return encoded_param_entries(param_name, name, dist_json, value_internal)


def encoded_param_entries(
    param_name: str, name: bytes, dist_json: bytes, value_internal: float
) -> ParamEntry:
    """``param_entries`` of a name and a distribution already encoded."""
    return ParamEntry(
        param_name,
        name,
        dist_json,
        param_entry(name, value_internal, b""),
        param_entry(name, value_internal, dist_json),
    )


def encode_template(trial: FrozenTrial) -> Template:
    """A template trial's record, split around its params for ``create_trial``: the
    server picks each param's short or full entry, as ``set_trial_param`` does."""
    head = [encode_state(trial.state)]
    if trial.datetime_start is not None:
        head.append(datetime_start_entry(trial.datetime_start))
    if trial.datetime_complete is not None:
        head.append(datetime_complete_entry(trial.datetime_complete))
    if trial.values is not None:
        head.append(values_entry(trial.values))
    params = []
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        params.append(param_entries(name, dist.to_internal_repr(value), dist))
    tail = [intermediate_entry(s, v) for s, v in trial.intermediate_values.items()]
    for key, value in trial.user_attrs.items():
        tail.append(user_attr_entry(encode_name(key, "user attribute key"), value))
    for key, value in trial.system_attrs.items():
        tail.append(system_attr_entry(encode_name(key, "system attribute key"), value))
    return Template(b"".join(head), params, b"".join(tail))


def encode_trial(trial: FrozenTrial) -> bytes:
    """Encode a whole trial as one record, each param with its distribution's JSON; its
    number and id are not stored."""
    head, params, tail = encode_template(trial)
    return head + b"".join(p.full for p in params) + tail


def _entry(tag: bytes, payload: bytes) -> bytes:
    return tag + _U32.pack(len(payload)) + payload


def _datetime(value: datetime.datetime, local_is_utc: bool = False) -> bytes:
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"Expected a datetime, got {type(value).__name__}.")
    if value.tzinfo is not None:
        return value.isoformat().encode()
    if local_is_utc:
        return _utc(value)
    try:
        return _utc(value.astimezone(datetime.timezone.utc))
    except (OverflowError, ValueError):
        # Local time has no UTC equivalent in range (datetime.min east of Greenwich, say):
        # kept as it is, as format 2 kept every naive datetime.
        return value.isoformat().encode()


def _utc(value: datetime.datetime) -> bytes:
    return value.replace(tzinfo=None).isoformat().encode() + b"Z"


def _as_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"The {what} must be a float, got {value!r}.") from None


def _stdlib_dumps(value: Any) -> bytes:
    check_for_stdlib(value)
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"The attribute value is not JSON serializable: {e}") from None


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        # Keys too: orjson writes a NaN or ±inf key as "null", json.dumps as "NaN" etc.
        return any(_has_non_finite(k) or _has_non_finite(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_non_finite(v) for v in value)
    return False
