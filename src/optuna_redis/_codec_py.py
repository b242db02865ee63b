"""The reference decoder of the record format (specified in ``_record``).

Readable first: this is the format's executable form. The compiled twin (``_codec_c``)
exposes the same names and must agree with it on every input. Records come from Redis,
so they are untrusted: every failure is a ``CorruptRecordError`` naming the key.
"""

from __future__ import annotations

import datetime
import gc
import json
import struct
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import orjson

from optuna_redis._distributions import StudyDistributions
from optuna_redis._errors import CorruptRecordError
from optuna_redis._keys import TRIAL_NUMBER_BITS
from optuna_redis._keys import trial_id_of
from optuna_redis._trials import FrozenTrial as DecodedTrial

__all__ = [
    "decode_attr",
    "decode_attrs",
    "decode_range",
    "decode_trial",
    "decode_trials",
    "pack_mget",
]

_STATES = tuple(TrialState)
_MAX_TRIALS = 1 << TRIAL_NUMBER_BITS
_DOUBLE = struct.Struct("<d")
_U32 = struct.Struct("<I")
_STEP = struct.Struct("<qd")


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
    text = raw.decode("ascii")
    if text.endswith("Z"):
        # UTC, written for a naive datetime: read back as local time, naive (see _record).
        utc = datetime.datetime.fromisoformat(text[:-1]).replace(tzinfo=datetime.timezone.utc)
        return utc.astimezone().replace(tzinfo=None)
    return datetime.datetime.fromisoformat(text)
