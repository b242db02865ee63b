"""Whole trials in bulk, for copies: the records ``import_trials`` writes, and the trials
digest that checks a copy. This is the reference; ``_bulk_c`` is its compiled twin (same
names, same bytes, same errors), and ``_codec`` picks one.

``TrialsEncoder`` writes the records of ``_record`` (each param's entry short when its
distribution is the study's own), as ``_record``'s functions would, with what a copy
sees over and over (distributions, attr keys) memoized. ``trials_digest`` is a SHA-256
over every copied field of the trials, ids aside.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Sequence
import hashlib
import json
import struct
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import check_distribution_compatibility
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.trial import FrozenTrial
import orjson

from optuna_redis import _record

__all__ = ["DistributionJson", "TrialsEncoder", "trials_digest"]

_U32 = struct.Struct("<I")
_pack_double = struct.Struct("<d").pack
_DIGEST_ATTRS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


class DistributionJson:
    """``distribution_to_json`` of each param's distribution, memoized per param name (a
    copy sees the same few distributions over and over, each a new object)."""

    def __init__(self, kind: type = str) -> None:
        self._kind = kind
        # Param name -> (the last distribution seen under it, its JSON).
        self.last: dict[str, tuple[BaseDistribution, Any]] = {}

    def __call__(self, name: str, dist: BaseDistribution) -> Any:
        last = self.last.get(name)
        if last is not None and same_distribution(last[0], dist):
            return last[1]
        text = distribution_to_json(dist)
        found = text.encode() if self._kind is bytes else text
        self.last[name] = (dist, found)
        return found


def same_distribution(seen: BaseDistribution, dist: BaseDistribution) -> bool:
    """Whether two distributions have the same JSON, without writing it: equal ones of
    one class, and for categoricals choices of the same types too (choices 1, 1.0 and
    True are equal)."""
    if seen is dist:
        return True
    kind = type(dist)
    if type(seen) is not kind or seen.__dict__ != dist.__dict__:
        return False
    if kind is not CategoricalDistribution:
        return True
    return list(map(type, seen.choices)) == list(map(type, dist.choices))  # type: ignore[attr-defined]


class TrialsEncoder:
    """The records of whole trials of one study, as ``import_trials`` takes them.

    Args:
        known: The study's distributions (param name -> JSON, its ``dists`` hash); the
            new names an ``encode`` registers are added to it.
        params, user_keys, system_keys: The memos, for a compiled twin that shares them
            (param name -> (distribution, entry head, entry tail); attr key -> its packed
            length and bytes).
    """

    def __init__(
        self,
        known: dict[str, bytes],
        params: dict[str, tuple[BaseDistribution, bytes, bytes]] | None = None,
        user_keys: dict[str, bytes] | None = None,
        system_keys: dict[str, bytes] | None = None,
    ) -> None:
        self.known = known
        self._params = {} if params is None else params
        self._user_keys = {} if user_keys is None else user_keys
        self._system_keys = {} if system_keys is None else system_keys

    def encode(
        self, trials: Sequence[FrozenTrial]
    ) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """The chunk's new distributions (name, JSON), and its records."""
        new: dict[str, bytes] = {}
        utc = _record.local_zone_is_utc()
        records = [self.encode_one(trial, new, utc) for trial in trials]
        return [(_record.encode_name(k, "param name"), v) for k, v in new.items()], records

    def encode_one(self, trial: FrozenTrial, new: dict[str, bytes], utc: bool) -> bytes:
        """One trial's record; the distributions it registers go into ``new`` too."""
        parts = [_record.encode_state(trial.state)]
        append = parts.append
        if trial.datetime_start is not None:
            append(_record.datetime_start_entry(trial.datetime_start, utc))
        if trial.datetime_complete is not None:
            append(_record.datetime_complete_entry(trial.datetime_complete, utc))
        if trial.values is not None:
            append(_record.values_entry(trial.values))
        dists = trial.distributions
        memo = self._params
        for name, value in trial.params.items():
            dist = dists[name]
            seen = memo.get(name)
            if seen is None or not same_distribution(seen[0], dist):
                seen = self.param_head(name, dist, new)
            append(seen[1])
            append(pack_internal(dist.to_internal_repr(value)))
            append(seen[2])
        append(_record.intermediate_entries(trial.intermediate_values))
        append(attr_entries(b"U", trial.user_attrs, self._user_keys, "user attribute key"))
        append(attr_entries(b"A", trial.system_attrs, self._system_keys, "system attribute key"))
        return b"".join(parts)

    def param_head(
        self, name: str, dist: BaseDistribution, new: dict[str, bytes]
    ) -> tuple[BaseDistribution, bytes, bytes]:
        """What every entry of ``name`` under ``dist`` starts and ends with (its head, and
        its distribution's JSON, or nothing when that is the study's own); memoized.
        Registers ``dist`` as the study's when the study has none under ``name``."""
        dist_json = distribution_to_json(dist).encode()
        stored = self.known.get(name)
        if stored is None:
            self.known[name] = new[name] = stored = dist_json
        encoded = _record.encode_name(name, "param name")
        if stored == dist_json:  # The study's own: the entry leaves it out.
            tail = b""
        else:
            check_distribution_compatibility(json_to_distribution(stored.decode()), dist)
            tail = dist_json
        found = self._params[name] = (dist, _record.param_entry_head(encoded, tail), tail)
        return found


def pack_internal(internal: Any) -> bytes:
    """A param's internal value as the record holds it."""
    try:
        return _pack_double(internal)
    except struct.error:  # Not a float as struct takes it: the checked path.
        return _record.pack_double(internal)


def attr_entries(tag: bytes, attrs: dict[str, Any], keys: dict[str, bytes], what: str) -> bytes:
    """The entries of a trial's user (``tag`` U) or system (A) attrs."""
    parts = []
    for key, value in attrs.items():
        packed_key = keys.get(key)
        if packed_key is None:
            packed_key = pack_key(keys, key, what)
        payload = packed_key + _record.encode_attr(value)
        parts.append(tag + _U32.pack(len(payload)) + payload)
    return b"".join(parts)


def pack_key(keys: dict[str, bytes], key: str, what: str) -> bytes:
    """An attr key as its entries start (length, bytes), memoized in ``keys``."""
    encoded = _record.encode_name(key, what)
    packed = keys[key] = _U32.pack(len(encoded)) + encoded
    return packed


def trials_digest(trials: Iterable[FrozenTrial]) -> str:
    """A SHA-256 over every copied field of the trials, ids aside, in the order given.

    Floats go in as raw IEEE doubles (NaN, ±inf and -0.0 apart), params in their internal
    representation with their distribution's JSON, attrs as JSON with sorted keys,
    datetimes in ISO form: two storages that hold the same trials give the same digest,
    whatever their ids.
    """
    h = hashlib.sha256()
    to_json = DistributionJson()
    packers: dict[tuple[int, int], Any] = {}
    for t in trials:
        h.update(digest_bytes(t, to_json, packers))
    return h.hexdigest()


def digest_bytes(
    t: FrozenTrial, to_json: DistributionJson, packers: dict[tuple[int, int], Any]
) -> bytes:
    """What one trial adds to ``trials_digest``: its numbers packed (lengths, floats,
    steps), then the JSON of the rest."""
    dists = t.distributions
    params = t.params
    names = sorted(params)
    internal = [dists[n].to_internal_repr(params[n]) for n in names]
    intermediate = t.intermediate_values
    steps = sorted(intermediate)
    row = [
        t.number,
        int(t.state),
        _iso(t.datetime_start),
        _iso(t.datetime_complete),
        names,
        [to_json(n, dists[n]) for n in names],
    ]
    text = row_json(row) + attrs_json(t.user_attrs) + attrs_json(t.system_attrs)
    values = t.values
    n_values = -1 if values is None else len(values)
    floats = internal + (values or []) + [intermediate[s] for s in steps]
    # One Struct per shape (W has one or two): the header, then every float, then steps.
    shape = (len(floats), len(steps))
    pack = packers.get(shape)
    if pack is None:
        pack = packers[shape] = struct.Struct(f"<4q{shape[0]}d{shape[1]}q").pack
    # Exact bits: NaN, ±inf and -0.0 apart; internal reprs as doubles, steps as int64.
    return pack(len(text), len(internal), n_values, len(steps), *floats, *steps) + text


def row_json(row: list[Any]) -> bytes:
    """A trial's number, state, datetimes, param names and their distributions' JSON."""
    try:
        return orjson.dumps(row)
    except TypeError:  # A name orjson refuses (a lone surrogate): escaped by the stdlib.
        return json.dumps(row).encode()


def attrs_json(attrs: dict[str, Any]) -> bytes:
    """Attrs as JSON with sorted keys, NaN and ±inf kept apart from null."""
    try:
        text = orjson.dumps(attrs, option=_DIGEST_ATTRS)
    except TypeError:
        text = b"null"
    if b"null" in text:
        # orjson writes NaN and ±inf as null; the standard library keeps them apart.
        text = json.dumps(attrs, sort_keys=True, allow_nan=True, default=repr).encode()
    return b"\x00" + text


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
