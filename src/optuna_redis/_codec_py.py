"""The reference codec: how trial records and attribute values look in Redis.

This module is the specification; a compiled twin exposes the same names and must agree
with it on every input.

A trial is one Redis hash (``P:s:{ID}:t:NUMBER``), so one HGETALL reply decodes to one
``FrozenTrial``. Its fields:

    st        state, one ASCII digit (TrialState value)
    ds, dc    datetime_start / datetime_complete, ``datetime.isoformat()`` in ASCII
    v         objective values, little-endian IEEE-754 doubles back to back
    np        number of distinct params set so far (next param ordinal)
    p:NAME    4-byte LE unsigned ordinal | 8-byte LE double (internal repr) | distribution
              JSON (Optuna's ``distribution_to_json``); ordinals keep params in the order
              they were first set, which a Redis hash does not keep once it grows
    i:STEP    intermediate value at STEP (decimal integer): one 8-byte LE double; decoded
              in step order, since a Redis hash does not keep insertion order
    u:KEY     user attribute, an encoded JSON value (below)
    s:KEY     system attribute, an encoded JSON value

An encoded JSON value is one tag byte and the JSON text: ``j`` for JSON that orjson reads
back exactly, ``J`` for JSON that needs the standard library (NaN, ±Infinity, integers
beyond 64 bits). Doubles are stored as raw bits, so NaN, ±inf and -0.0 round-trip exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime
import json
import math
import struct
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import orjson

from optuna_redis._errors import CorruptRecordError

__all__ = [
    "CorruptRecordError",
    "decode_attr",
    "decode_attrs",
    "decode_trial",
    "encode_attr",
    "encode_datetime",
    "encode_distribution",
    "encode_name",
    "encode_param",
    "encode_state",
    "encode_trial",
    "encode_value",
    "encode_values",
]

_STATES = tuple(TrialState)
_STATE_BYTES = {s: str(s.value).encode() for s in _STATES}
_DOUBLE = struct.Struct("<d")
_PARAM_HEAD = struct.Struct("<Id")
# Types orjson would serialize but json.dumps (Optuna's reference behaviour) refuses or
# serializes differently are passed through, so they reach the json.dumps fallback.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


# ---------------------------------------------------------------- encoding


def encode_value(value: float) -> bytes:
    """Encode one float (an intermediate value) as 8 raw bytes."""
    return _DOUBLE.pack(_as_float(value, "intermediate value"))


def encode_values(values: Sequence[float]) -> bytes:
    """Encode objective values; NaN is refused as Optuna never stores it as a value."""
    floats = [_as_float(v, "objective value") for v in values]
    for v in floats:
        if math.isnan(v):
            raise ValueError(f"Objective values must not be NaN, got {list(values)!r}.")
    return struct.pack(f"<{len(floats)}d", *floats)


def encode_distribution(distribution: BaseDistribution) -> bytes:
    if not isinstance(distribution, BaseDistribution):
        raise TypeError(
            f"distribution must be an optuna BaseDistribution, got {type(distribution).__name__}."
        )
    return distribution_to_json(distribution).encode()


def encode_param(value_internal: float, dist_json: bytes) -> bytes:
    """Encode a param value without its ordinal (the server prepends that)."""
    return _DOUBLE.pack(_as_float(value_internal, "param value")) + dist_json


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


def encode_datetime(value: datetime.datetime) -> bytes:
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"Expected a datetime, got {type(value).__name__}.")
    return value.isoformat().encode()


def encode_state(state: TrialState) -> bytes:
    if not isinstance(state, TrialState):
        raise TypeError(f"state must be a TrialState, got {state!r}.")
    return _STATE_BYTES[state]


def encode_trial(trial: FrozenTrial) -> list[bytes]:
    """Encode a template trial as a flat HSET field/value list (number and id excluded)."""
    fields: list[bytes] = [b"st", encode_state(trial.state)]
    if trial.datetime_start is not None:
        fields += [b"ds", encode_datetime(trial.datetime_start)]
    if trial.datetime_complete is not None:
        fields += [b"dc", encode_datetime(trial.datetime_complete)]
    if trial.values is not None:
        fields += [b"v", encode_values(trial.values)]
    fields += [b"np", str(len(trial.params)).encode()]
    for ordinal, (name, value) in enumerate(trial.params.items()):
        dist = trial.distributions[name]
        payload = struct.pack("<I", ordinal) + encode_param(
            dist.to_internal_repr(value), encode_distribution(dist)
        )
        fields += [b"p:" + encode_name(name, "param name"), payload]
    for step, value in trial.intermediate_values.items():
        fields += [b"i:" + str(_as_step(step)).encode(), encode_value(value)]
    for key, value in trial.user_attrs.items():
        fields += [b"u:" + encode_name(key, "user attribute key"), encode_attr(value)]
    for key, value in trial.system_attrs.items():
        fields += [b"s:" + encode_name(key, "system attribute key"), encode_attr(value)]
    return fields


def _as_float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"The {what} must be a float, got {value!r}.") from None


def _as_step(step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if float(step) != int(step):
                raise ValueError
            step = int(step)
        except (TypeError, ValueError, OverflowError):
            raise TypeError(f"step must be an integer, got {step!r}.") from None
    return step


def encode_name(name: Any, what: str) -> bytes:
    """Encode a param name or attribute key (any str, lone surrogates included)."""
    if not isinstance(name, str):
        raise TypeError(f"The {what} must be a str, got {type(name).__name__}.")
    return name.encode("utf-8", "surrogatepass")


def _stdlib_dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, allow_nan=True).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"The attribute value is not JSON serializable: {e}") from None


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
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


def decode_trial(
    key: str,
    trial_id: int,
    number: int,
    flat: list[bytes],
    dist_cache: dict[bytes, BaseDistribution],
) -> FrozenTrial:
    """Decode one trial hash (flat HGETALL reply) into a ``FrozenTrial``.

    ``dist_cache`` maps distribution JSON to decoded distributions and is filled as a side
    effect, so trials of one study share their distribution objects.
    """
    try:
        return _decode_trial(trial_id, number, flat, dist_cache)
    except Exception as e:
        raise CorruptRecordError(
            f"Cannot decode the trial record at Redis key {key!r}: {e}"
        ) from None


def _decode_trial(
    trial_id: int,
    number: int,
    flat: list[bytes],
    dist_cache: dict[bytes, BaseDistribution],
) -> FrozenTrial:
    if not isinstance(flat, list) or len(flat) % 2:
        raise ValueError("the reply is not a list of field/value pairs")
    state = None
    values = None
    datetime_start = None
    datetime_complete = None
    raw_params = []
    steps: list[tuple[int, float]] = []
    user_attrs: dict[str, Any] = {}
    system_attrs: dict[str, Any] = {}
    for i in range(0, len(flat), 2):
        field = flat[i]
        raw = flat[i + 1]
        if not isinstance(field, bytes) or not isinstance(raw, bytes):
            raise ValueError("a field or value is not a byte string")
        head = field[:2]
        if head == b"p:":
            if len(raw) < _PARAM_HEAD.size:
                raise ValueError(f"param {field!r} is too short")
            ordinal, value = _PARAM_HEAD.unpack_from(raw)
            dist_json = raw[_PARAM_HEAD.size :]
            dist = dist_cache.get(dist_json)
            if dist is None:
                dist = json_to_distribution(dist_json.decode())
                dist_cache[dist_json] = dist
            raw_params.append((ordinal, field[2:].decode("utf-8", "surrogatepass"), value, dist))
        elif head == b"i:":
            if len(raw) != 8:
                raise ValueError(f"intermediate value {field!r} is not 8 bytes")
            steps.append((_parse_int(field[2:]), _DOUBLE.unpack(raw)[0]))
        elif head == b"u:":
            user_attrs[field[2:].decode("utf-8", "surrogatepass")] = decode_attr(raw)
        elif head == b"s:":
            system_attrs[field[2:].decode("utf-8", "surrogatepass")] = decode_attr(raw)
        elif field == b"st":
            if len(raw) != 1 or not 0x30 <= raw[0] < 0x30 + len(_STATES):
                raise ValueError(f"invalid state {raw!r}")
            state = _STATES[raw[0] - 0x30]
        elif field == b"v":
            if len(raw) % 8:
                raise ValueError("values are not a whole number of doubles")
            values = list(struct.unpack(f"<{len(raw) // 8}d", raw))
        elif field == b"ds":
            datetime_start = _parse_datetime(raw)
        elif field == b"dc":
            datetime_complete = _parse_datetime(raw)
        elif field == b"np":
            _parse_int(raw)
        else:
            raise ValueError(f"unknown field {field!r}")
    if state is None:
        raise ValueError("the record has no state")
    raw_params.sort(key=lambda p: p[0])
    steps.sort(key=lambda s: s[0])
    params = {}
    distributions = {}
    for _, name, value, dist in raw_params:
        params[name] = dist.to_external_repr(value)
        distributions[name] = dist
    return FrozenTrial(
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
        intermediate_values=dict(steps),
        trial_id=trial_id,
    )


def _parse_int(raw: bytes) -> int:
    if not 0 < len(raw) <= 20 or not raw.lstrip(b"-").isdigit():
        raise ValueError(f"invalid integer {raw!r}")
    return int(raw)


def _parse_datetime(raw: bytes) -> datetime.datetime:
    return datetime.datetime.fromisoformat(raw.decode("ascii"))
