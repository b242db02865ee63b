"""The reference codec: how trial records and attribute values look in Redis.

This module is the specification; the compiled twin (``_codec_c``) exposes the same names
and must agree with it on every input.

A trial is one Redis string (``P:s:{ID}:t:NUMBER``), so one GET (or one element of a
script's reply) decodes to one ``FrozenTrial``. The string is a log that writes append to::

    record  := state entry*
    state   := 1 ASCII digit, the TrialState value (scripts read and set it in place)
    entry   := tag (1 byte) | length (u32) | payload (length bytes)

    tag  payload                                                  meaning
    D    datetime.isoformat(), ASCII                              datetime_start
    C    datetime.isoformat(), ASCII                              datetime_complete
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

An encoded JSON value is one tag byte and the JSON text: ``j`` for JSON that orjson reads
back exactly, ``J`` for JSON that needs the standard library (NaN, ±Infinity, integers
beyond 64 bits).
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import gc
import json
import math
import struct
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import distribution_to_json
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import orjson

from optuna_redis._attr_json import check_for_stdlib
from optuna_redis._distributions import StudyDistributions
from optuna_redis._errors import CorruptRecordError
from optuna_redis._keys import TRIAL_NUMBER_BITS
from optuna_redis._keys import trial_id_of
from optuna_redis._trials import FrozenTrial as DecodedTrial

__all__ = [
    "CorruptRecordError",
    "datetime_complete_entry",
    "datetime_start_entry",
    "decode_attr",
    "decode_attrs",
    "decode_trial",
    "decode_range",
    "decode_trials",
    "encode_attr",
    "encode_distribution",
    "encode_name",
    "encode_state",
    "encode_trial",
    "intermediate_entry",
    "pack_mget",
    "param_entry",
    "system_attr_entry",
    "user_attr_entry",
    "values_entry",
]

_STATES = tuple(TrialState)
_MAX_TRIALS = 1 << TRIAL_NUMBER_BITS
_STATE_BYTES = {s: str(s.value).encode() for s in _STATES}
_DOUBLE = struct.Struct("<d")
_U32 = struct.Struct("<I")
_STEP = struct.Struct("<qd")
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
# Types orjson would serialize but json.dumps (Optuna's reference behaviour) refuses or
# serializes differently are passed through, so they reach the json.dumps fallback.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


# ---------------------------------------------------------------- encoding


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


def datetime_start_entry(value: datetime.datetime) -> bytes:
    return _entry(b"D", _datetime(value))


def datetime_complete_entry(value: datetime.datetime) -> bytes:
    return _entry(b"C", _datetime(value))


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


def encode_trial(trial: FrozenTrial) -> bytes:
    """Encode a whole trial (a template) as one record; its number and id are not stored."""
    parts = [encode_state(trial.state)]
    if trial.datetime_start is not None:
        parts.append(datetime_start_entry(trial.datetime_start))
    if trial.datetime_complete is not None:
        parts.append(datetime_complete_entry(trial.datetime_complete))
    if trial.values is not None:
        parts.append(values_entry(trial.values))
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        parts.append(
            param_entry(
                encode_name(name, "param name"),
                dist.to_internal_repr(value),
                encode_distribution(dist),
            )
        )
    for step, value in trial.intermediate_values.items():
        parts.append(intermediate_entry(step, value))
    for key, value in trial.user_attrs.items():
        parts.append(user_attr_entry(encode_name(key, "user attribute key"), value))
    for key, value in trial.system_attrs.items():
        parts.append(system_attr_entry(encode_name(key, "system attribute key"), value))
    return b"".join(parts)


def _entry(tag: bytes, payload: bytes) -> bytes:
    return tag + _U32.pack(len(payload)) + payload


def _datetime(value: datetime.datetime) -> bytes:
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"Expected a datetime, got {type(value).__name__}.")
    return value.isoformat().encode()


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


# ---------------------------------------------------------------- decoding


def decode_attr(raw: bytes) -> Any:
    """Decode one tagged JSON value; ValueError on anything this codec did not write."""
    if not isinstance(raw, bytes) or not raw:
        raise ValueError("empty attribute value")
    tag = raw[0]
    if tag == 0x6A:  # b"j"
        return orjson.loads(raw[1:])
    if tag == 0x4A:  # b"J"
        return json.loads(raw[1:])
    raise ValueError(f"unknown attribute tag {raw[:1]!r}")


def decode_attrs(key: str, mapping: dict[bytes, bytes]) -> dict[str, Any]:
    """Decode an attribute hash (HGETALL reply as a dict) into a dict."""
    out: dict[str, Any] = {}
    for field, raw in mapping.items():
        try:
            name = field.decode("utf-8", "surrogatepass")
            out[name] = decode_attr(raw)
        except Exception as e:
            raise CorruptRecordError(
                f"Cannot decode attribute {field!r} at Redis key {key!r}: {e}"
            ) from None
    return out


def decode_trials(
    head: str, study_id: int, items: list, dists: StudyDistributions
) -> list[tuple[int, FrozenTrial]]:
    """Decode ``[number, record, number, record, ...]``; return ``[(number, trial), ...]``.

    The records' keys are ``head + str(number)``. The cyclic garbage collector is paused
    for the bulk: it would otherwise run over and over as the new objects pile up, and
    find nothing to free.
    """
    if len(items) % 2:
        raise CorruptRecordError(f"The trial records under {head!r} are not number/record pairs.")
    out = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(0, len(items), 2):
            number = items[i]
            if type(number) is not int or number < 0:
                raise CorruptRecordError(f"Invalid trial number {number!r} under {head!r}.")
            key = head + str(number)
            trial_id = trial_id_of(study_id, number)
            out.append((number, decode_trial(key, trial_id, number, items[i + 1], dists)))
    finally:
        if was_enabled:
            gc.enable()
    return out


def decode_range(
    head: str, study_id: int, first: int, records: list, dists: StudyDistributions, into: list
) -> list[int]:
    """Decode ``records``, those of trials ``first``, ``first + 1``, ... (an MGET reply),
    into ``into[first]``, ``into[first + 1]``, ...; return the numbers whose record is None.

    The cold load's bulk path: the trials land in the cache's list without an
    intermediate list of pairs. As ``decode_trials``, with the cyclic GC paused.
    """
    if type(records) is not list or type(into) is not list:
        raise TypeError("records and into must be lists.")
    if type(first) is not int or first < 0 or first + len(records) > len(into):
        raise ValueError(
            f"Trials {first}..{first}+{len(records)} do not fit a list of {len(into)}."
        )
    missing = []
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i, record in enumerate(records):
            number = first + i
            if record is None:
                missing.append(number)
                continue
            key = head + str(number)
            into[number] = decode_trial(key, trial_id_of(study_id, number), number, record, dists)
    finally:
        if was_enabled:
            gc.enable()
    return missing


def pack_mget(head: str, first: int, stop: int) -> bytes:
    """The command ``MGET head+str(first) ... head+str(stop - 1)`` in RESP, as redis-py's
    ``Connection.pack_command`` writes it (keys UTF-8), for the cold load to send."""
    if type(first) is not int or type(stop) is not int or not 0 <= first < stop <= _MAX_TRIALS:
        raise ValueError(f"Invalid trial number range {first!r}..{stop!r}.")
    prefix = head.encode("utf-8")
    parts = [b"*%d\r\n$4\r\nMGET\r\n" % (stop - first + 1)]
    for number in range(first, stop):
        key = prefix + b"%d" % number
        parts.append(b"$%d\r\n%b\r\n" % (len(key), key))
    return b"".join(parts)


def decode_trial(
    key: str,
    trial_id: int,
    number: int,
    record: bytes,
    dists: StudyDistributions,
) -> FrozenTrial:
    """Decode one trial record into a ``FrozenTrial``.

    ``dists`` holds the study's distributions (one ``StudyDistributions`` per study,
    passed for each of its trials): the registered ones that param entries may refer to,
    and the ones already parsed, which the trials share.
    """
    try:
        return _decode_trial(trial_id, number, record, dists)
    except Exception as e:
        raise CorruptRecordError(
            f"Cannot decode the trial record at Redis key {key!r}: {e}"
        ) from None


def _decode_trial(
    trial_id: int,
    number: int,
    record: bytes,
    dists: StudyDistributions,
) -> FrozenTrial:
    if not isinstance(record, bytes):
        raise ValueError("the record is not a byte string")
    size = len(record)
    if size == 0:
        raise ValueError("the record is empty")
    if not 0x30 <= record[0] < 0x30 + len(_STATES):
        raise ValueError(f"invalid state {record[:1]!r}")
    state = _STATES[record[0] - 0x30]
    values = None
    datetime_start = None
    datetime_complete = None
    params: dict[str, Any] = {}
    distributions: dict[str, BaseDistribution] = {}
    intermediate_values: dict[int, float] = {}
    user_attrs: dict[str, Any] = {}
    system_attrs: dict[str, Any] = {}
    pos = 1
    while pos < size:
        if size - pos < 5:
            raise ValueError(f"truncated entry header at offset {pos}")
        tag = record[pos]
        (length,) = _U32.unpack_from(record, pos + 1)
        start = pos + 5
        end = start + length
        if end > size:
            raise ValueError(f"entry at offset {pos} runs past the end of the record")
        if tag == 0x50:  # P
            rest = _name_end(record, start, end)
            if end - rest < 8:
                raise ValueError(f"param entry at offset {pos} is too short")
            name = _text(record, start + 4, rest)
            (value,) = _DOUBLE.unpack_from(record, rest)
            if end == rest + 8:
                dist = dists.registered.get(name)
                if dist is None:
                    raise ValueError(f"param {name!r} has no distribution in its study")
            else:
                dist = dists.parse(record[rest + 8 : end])
            params[name] = _external(dist, value)
            distributions[name] = dist
        elif tag == 0x49:  # I
            if length != 16:
                raise ValueError(f"intermediate value entry at offset {pos} is not 16 bytes")
            step, value = _STEP.unpack_from(record, start)
            intermediate_values[step] = value
        elif tag == 0x55:  # U
            rest = _name_end(record, start, end)
            name = _text(record, start + 4, rest)
            user_attrs[name] = decode_attr(record[rest:end])
        elif tag == 0x41:  # A
            rest = _name_end(record, start, end)
            name = _text(record, start + 4, rest)
            system_attrs[name] = decode_attr(record[rest:end])
        elif tag == 0x56:  # V
            if length % 8:
                raise ValueError(f"values entry at offset {pos} is not a whole number of doubles")
            values = list(struct.unpack_from(f"<{length // 8}d", record, start))
        elif tag == 0x44:  # D
            datetime_start = _parse_datetime(record[start:end])
        elif tag == 0x43:  # C
            datetime_complete = _parse_datetime(record[start:end])
        else:
            raise ValueError(f"unknown entry tag {record[pos : pos + 1]!r} at offset {pos}")
        pos = end
    return DecodedTrial(
        number=number,
        state=state,
        value=None,
        values=values,
        datetime_start=datetime_start,
        datetime_complete=datetime_complete,
        params=params,
        distributions=distributions,
        user_attrs=user_attrs,
        system_attrs=system_attrs,
        intermediate_values=intermediate_values,
        trial_id=trial_id,
    )


def _name_end(record: bytes, start: int, end: int) -> int:
    """Offset after the u32-length-prefixed name at ``start`` (checked against ``end``)."""
    if end - start < 4:
        raise ValueError(f"entry at offset {start - 5} is too short for a name")
    (length,) = _U32.unpack_from(record, start)
    if length > end - start - 4:
        raise ValueError(f"name at offset {start} runs past its entry")
    return start + 4 + length


def _text(record: bytes, start: int, stop: int) -> str:
    return record[start:stop].decode("utf-8", "surrogatepass")


def _external(dist: BaseDistribution, value: float) -> Any:
    if isinstance(dist, CategoricalDistribution):
        # to_external_repr would index from the end for a negative (corrupt) index.
        if not (value.is_integer() and 0 <= value < len(dist.choices)):
            raise ValueError(f"categorical index {value!r} is out of range")
    return dist.to_external_repr(value)


def _parse_datetime(raw: bytes) -> datetime.datetime:
    return datetime.datetime.fromisoformat(raw.decode("ascii"))
