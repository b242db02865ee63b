"""Bad arguments and corrupted data, on a real Redis through the storage.

Bad arguments must raise before anything is written. Corrupted records must make readers
either return data or raise a clean exception naming the key, and never run a payload.
"""

from __future__ import annotations

import datetime
import math
import os
import pickle
import random
import struct
from typing import Any

from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest
import redis

from optuna_redis import CorruptRecordError
from optuna_redis import IncompatibleFormatError
from optuna_redis import RedisStorage
from optuna_redis import UnsupportedServerError
from optuna_redis._keys import Keys

NAN = float("nan")
MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE
U32 = struct.Struct("<I")
CLEAN_ERRORS = (CorruptRecordError, ValueError, KeyError)


def snapshot(client: redis.Redis, prefix: str) -> dict[bytes, Any]:
    """Every key under the prefix with its type and full content."""
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        kind = client.type(key)
        if kind == b"hash":
            value: Any = client.hgetall(key)
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"string":
            value = client.get(key)
        else:
            value = client.dump(key)
        out[key] = (kind, value)
    return out


class Ctx:
    """A study with a finished trial (params, intermediate values, values, attrs) and a
    running one, written through the storage."""

    def __init__(self, storage: RedisStorage) -> None:
        self.storage = self.s = storage
        s = storage
        self.study_id = s.create_new_study([MIN], "the-study")
        s.set_study_user_attr(self.study_id, "su", {"a": [1, 2]})
        s.set_study_system_attr(self.study_id, "ss", "x")
        self.done = s.create_new_trial(self.study_id)
        s.set_trial_param(self.done, "x", 0.5, FloatDistribution(0.0, 1.0))
        s.set_trial_param(self.done, "n", 3.0, IntDistribution(0, 10))
        s.set_trial_param(self.done, "c", 1.0, CategoricalDistribution(["a", "b"]))
        s.set_trial_intermediate_value(self.done, 0, 0.9)
        s.set_trial_intermediate_value(self.done, 1, 0.7)
        s.set_trial_user_attr(self.done, "tu", [1, "two"])
        s.set_trial_system_attr(self.done, "ts", 2**70)
        s.set_trial_state_values(self.done, TrialState.COMPLETE, [0.25])
        self.running = s.create_new_trial(self.study_id)
        s.set_trial_param(self.running, "x", 0.1, FloatDistribution(0.0, 1.0))
        self.keys = Keys(storage._keys.prefix)


@pytest.fixture
def ctx(storage: RedisStorage) -> Ctx:
    return Ctx(storage)


def number(trial_id: int) -> int:
    return trial_id & 0xFFFFFFFF


# ---------------------------------------------------------------- bad arguments

BAD_CALLS = [
    (
        "study user attr object",
        lambda c: c.s.set_study_user_attr(c.study_id, "k", object()),
        TypeError,
    ),
    (
        "study user attr set",
        lambda c: c.s.set_study_user_attr(c.study_id, "su", {1, 2}),
        TypeError,
    ),
    (
        "study system attr bytes",
        lambda c: c.s.set_study_system_attr(c.study_id, "k", b"x"),
        TypeError,
    ),
    (
        "trial user attr object",
        lambda c: c.s.set_trial_user_attr(c.running, "k", object()),
        TypeError,
    ),
    (
        "trial system attr set",
        lambda c: c.s.set_trial_system_attr(c.running, "k", set()),
        TypeError,
    ),
    ("study attr int key", lambda c: c.s.set_study_user_attr(c.study_id, 1, "v"), TypeError),
    ("study attr None key", lambda c: c.s.set_study_system_attr(c.study_id, None, "v"), TypeError),
    ("trial attr bytes key", lambda c: c.s.set_trial_user_attr(c.running, b"k", 1), TypeError),
    ("trial attr float key", lambda c: c.s.set_trial_system_attr(c.running, 1.5, 1), TypeError),
    (
        "NaN value",
        lambda c: c.s.set_trial_state_values(c.running, TrialState.COMPLETE, [NAN]),
        ValueError,
    ),
    (
        "NaN second value",
        lambda c: c.s.set_trial_state_values(c.running, TrialState.COMPLETE, [1.0, NAN]),
        ValueError,
    ),
    (
        "str value",
        lambda c: c.s.set_trial_state_values(c.running, TrialState.COMPLETE, ["a"]),
        TypeError,
    ),
    ("str state", lambda c: c.s.set_trial_state_values(c.running, "COMPLETE"), TypeError),
    (
        "str param value",
        lambda c: c.s.set_trial_param(c.running, "y", "abc", FloatDistribution(0, 1)),
        TypeError,
    ),
    (
        "None param value",
        lambda c: c.s.set_trial_param(c.running, "y", None, FloatDistribution(0, 1)),
        TypeError,
    ),
    (
        "dict distribution",
        lambda c: c.s.set_trial_param(c.running, "y", 0.5, {"low": 0}),
        TypeError,
    ),
    (
        "str distribution",
        lambda c: c.s.set_trial_param(c.running, "y", 0.5, "FloatDistribution"),
        TypeError,
    ),
    (
        "int param name",
        lambda c: c.s.set_trial_param(c.running, 1, 0.5, FloatDistribution(0, 1)),
        TypeError,
    ),
    (
        "incompatible dist, same trial",
        lambda c: c.s.set_trial_param(c.running, "x", 0.0, CategoricalDistribution(["a"])),
        ValueError,
    ),
    (
        "incompatible dist, new trial",
        lambda c: c.s.set_trial_param(c.fresh, "n", 0.0, CategoricalDistribution(["a"])),
        ValueError,
    ),
    (
        "incompatible choices",
        lambda c: c.s.set_trial_param(c.fresh, "c", 0.0, CategoricalDistribution(["a", "z"])),
        ValueError,
    ),
    ("float step", lambda c: c.s.set_trial_intermediate_value(c.running, 1.5, 0.1), TypeError),
    ("str step", lambda c: c.s.set_trial_intermediate_value(c.running, "1", 0.1), TypeError),
    ("bool step", lambda c: c.s.set_trial_intermediate_value(c.running, True, 0.1), TypeError),
    ("None step", lambda c: c.s.set_trial_intermediate_value(c.running, None, 0.1), TypeError),
    ("huge step", lambda c: c.s.set_trial_intermediate_value(c.running, 10**30, 0.1), ValueError),
    (
        "str intermediate",
        lambda c: c.s.set_trial_intermediate_value(c.running, 1, "abc"),
        TypeError,
    ),
    ("no directions", lambda c: c.s.create_new_study([], "new"), ValueError),
    ("NOT_SET", lambda c: c.s.create_new_study([StudyDirection.NOT_SET], "new"), ValueError),
    (
        "NOT_SET second",
        lambda c: c.s.create_new_study([MIN, StudyDirection.NOT_SET], "new"),
        ValueError,
    ),
    ("str direction", lambda c: c.s.create_new_study(["minimize"], "new"), ValueError),
    ("int study name", lambda c: c.s.create_new_study([MIN], 123), TypeError),
    ("bytes study name", lambda c: c.s.create_new_study([MIN], b"name"), TypeError),
    (
        "template NaN",
        lambda c: c.s.create_new_trial(c.study_id, template(values=[NAN])),
        ValueError,
    ),
    (
        "template attr",
        lambda c: c.s.create_new_trial(c.study_id, template(user_attrs={"a": object()})),
        TypeError,
    ),
    (
        "template huge step",
        lambda c: c.s.create_new_trial(c.study_id, template(intermediate_values={2**64: 1.0})),
        ValueError,
    ),
    ("unknown study attr", lambda c: c.s.set_study_user_attr(10**6, "k", 1), KeyError),
    ("unknown study trial", lambda c: c.s.create_new_trial(10**6), KeyError),
    (
        "unknown trial param",
        lambda c: c.s.set_trial_param((10**6 << 32), "x", 0.5, FloatDistribution(0, 1)),
        KeyError,
    ),
    ("trial beyond n", lambda c: c.s.set_trial_user_attr(c.running + 100, "k", 1), KeyError),
    ("negative trial id", lambda c: c.s.set_trial_user_attr(-1, "k", 1), KeyError),
    ("str trial id", lambda c: c.s.set_trial_user_attr("1", "k", 1), KeyError),
    (
        "finished param",
        lambda c: c.s.set_trial_param(c.done, "y", 0.5, FloatDistribution(0, 1)),
        UpdateFinishedTrialError,
    ),
    ("finished attr", lambda c: c.s.set_trial_user_attr(c.done, "k", 1), UpdateFinishedTrialError),
    (
        "finished value",
        lambda c: c.s.set_trial_intermediate_value(c.done, 9, 1.0),
        UpdateFinishedTrialError,
    ),
    (
        "finished state",
        lambda c: c.s.set_trial_state_values(c.done, TrialState.FAIL),
        UpdateFinishedTrialError,
    ),
]


def template(**kwargs: Any) -> FrozenTrial:
    base: dict[str, Any] = dict(
        number=0,
        state=TrialState.COMPLETE,
        value=None,
        values=[1.0],
        datetime_start=datetime.datetime.now(),
        datetime_complete=datetime.datetime.now(),
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )
    if "values" in kwargs:
        base["values"] = kwargs.pop("values")
    base.update(kwargs)
    return FrozenTrial(**base)


@pytest.mark.parametrize(
    ("call", "error"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_argument_writes_nothing(ctx: Ctx, redis_client, prefix, call, error) -> None:
    ctx.fresh = ctx.storage.create_new_trial(ctx.study_id)
    storage = ctx.storage
    before = snapshot(redis_client, prefix)
    trials_before = storage.get_all_trials(ctx.study_id)
    with pytest.raises(error):
        call(ctx)
    assert snapshot(redis_client, prefix) == before
    assert storage.get_all_trials(ctx.study_id) == trials_before
    fresh = RedisStorage.from_client(redis_client, prefix=prefix)
    assert fresh.get_all_trials(ctx.study_id) == trials_before
    assert fresh.get_study_user_attrs(ctx.study_id) == {"su": {"a": [1, 2]}}
    assert [s.study_name for s in fresh.get_all_studies()] == ["the-study"]


def test_incompatible_distribution_keeps_first_param(ctx: Ctx) -> None:
    s = ctx.storage
    with pytest.raises(ValueError):
        s.set_trial_param(ctx.running, "x", 0.0, IntDistribution(0, 3))
    t = s.get_trial(ctx.running)
    assert t.params == {"x": 0.1}
    assert t.distributions == {"x": FloatDistribution(0.0, 1.0)}
    # A compatible (wider) distribution of the same kind is allowed, as in Optuna.
    s.set_trial_param(ctx.running, "x", 0.2, FloatDistribution(-1.0, 1.0))
    assert s.get_trial(ctx.running).params == {"x": 0.2}


@pytest.mark.parametrize("bad", ["a{b", "a}b", "{x}", "", "}"])
def test_bad_prefix(redis_url, redis_client, bad) -> None:
    with pytest.raises(ValueError):
        RedisStorage(redis_url, prefix=bad)
    with pytest.raises(ValueError):
        RedisStorage.from_client(redis_client, prefix=bad)
    assert redis_client.exists(f"{bad}:format") == 0


def test_non_str_prefix(redis_url) -> None:
    with pytest.raises((TypeError, ValueError)):
        RedisStorage(redis_url, prefix=None)  # type: ignore[arg-type]


def test_decode_responses_refused(redis_url, prefix, redis_client) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with pytest.raises(ValueError, match="decode"):
            RedisStorage.from_client(client, prefix=prefix)
    finally:
        client.close()
    with pytest.raises(ValueError, match="decode"):
        RedisStorage(redis_url, prefix=prefix, client_kwargs={"decode_responses": True})
    with pytest.raises(TypeError):
        RedisStorage.from_client(object(), prefix=prefix)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RedisStorage(redis_client, prefix=prefix)  # type: ignore[arg-type]
    assert redis_client.exists(f"{prefix}:format") == 0


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "5"])
def test_bad_heartbeat_interval(redis_url, prefix, value) -> None:
    with pytest.raises(ValueError):
        RedisStorage(redis_url, prefix=prefix, heartbeat_interval=value)
    with pytest.raises(ValueError):
        RedisStorage(redis_url, prefix=prefix, heartbeat_interval=5, grace_period=value)


# ---------------------------------------------------------------- format version


@pytest.mark.parametrize("version", [b"0", b"1", b"4", b"999", b"", b"\x80\x04."])
def test_incompatible_format(redis_url, redis_client, prefix, version) -> None:
    redis_client.set(f"{prefix}:format", version)
    with pytest.raises(IncompatibleFormatError) as info:
        RedisStorage(redis_url, prefix=prefix)
    assert f"{prefix}:format" in str(info.value)
    with pytest.raises(IncompatibleFormatError):
        RedisStorage.from_client(redis_client, prefix=prefix)
    assert redis_client.get(f"{prefix}:format") == version


def test_format_key_written_once(redis_url, redis_client, prefix) -> None:
    RedisStorage(redis_url, prefix=prefix)
    version = redis_client.get(f"{prefix}:format")
    assert version
    RedisStorage(redis_url, prefix=prefix)
    assert redis_client.get(f"{prefix}:format") == version


# ---------------------------------------------------------------- server version


def _serving_version(monkeypatch, version: str, per_node: bool = False) -> None:  # noqa: ANN001
    """The server's INFO says ``version`` (as a cluster client answers, with ``per_node``);
    the other fields are the real server's."""
    real = redis.Redis.info

    def info(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        answer = dict(real(self, *args, **kwargs))
        answer["redis_version"] = version
        return {"127.0.0.1:6379": answer} if per_node else answer

    monkeypatch.setattr(redis.Redis, "info", info)


@pytest.mark.parametrize("per_node", [False, True])
@pytest.mark.parametrize("version", ["6.0.16", "5.0.14", "2.8.24"])
def test_a_server_too_old_is_refused_naming_its_version(
    redis_url, redis_client, prefix, monkeypatch, version, per_node
) -> None:
    _serving_version(monkeypatch, version, per_node)
    with pytest.raises(UnsupportedServerError, match=f"version {version}; .* Redis >= 6.2"):
        RedisStorage(redis_url, prefix=prefix)
    with pytest.raises(UnsupportedServerError, match=version):
        RedisStorage.from_client(redis_client, prefix=prefix)
    # Only the format key, which the storage reads first, may be there; no study data.
    assert set(redis_client.scan_iter(match=f"{prefix}:*")) <= {f"{prefix}:format".encode()}


@pytest.mark.parametrize("version", ["6.2.14", "7.0.15", "7.2.4", "8.0.2", "unknown"])
def test_servers_from_6_2_on_are_accepted(redis_url, prefix, monkeypatch, version) -> None:
    _serving_version(monkeypatch, version)
    storage = RedisStorage(redis_url, prefix=prefix)
    storage.create_new_study([StudyDirection.MINIMIZE], "fine")


def test_the_command_line_refuses_a_server_too_old_in_one_line(
    redis_url, prefix, monkeypatch, capsys
) -> None:
    from optuna_redis._cli import main

    RedisStorage(redis_url, prefix=prefix).create_new_study([StudyDirection.MINIMIZE], "s")
    _serving_version(monkeypatch, "6.0.16")
    assert main(["info", redis_url, "--prefix", prefix]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "version 6.0.16" in err, err


# ---------------------------------------------------------------- corrupted data


class _Boom:
    """Unpickling this would create ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def payloads(marker: str, seed: str) -> list[bytes]:
    rng = random.Random(seed)
    return [
        rng.randbytes(8),
        rng.randbytes(37),
        pickle.dumps(_Boom(marker), protocol=0),
        pickle.dumps(_Boom(marker), protocol=pickle.HIGHEST_PROTOCOL),
    ]


def read_everything(storage: RedisStorage, ctx: Ctx, bad_key: str) -> list[str]:
    """Every reader in turn on a fresh storage; returns a list of problems."""
    problems = []
    fresh = RedisStorage.from_client(storage._client, prefix=ctx.keys.prefix)
    readers = {
        "get_trial(done)": lambda: fresh.get_trial(ctx.done),
        "get_trial(running)": lambda: fresh.get_trial(ctx.running),
        "get_all_trials": lambda: fresh.get_all_trials(ctx.study_id),
        "get_n_trials": lambda: fresh.get_n_trials(ctx.study_id),
        "get_n_trials(COMPLETE)": lambda: fresh.get_n_trials(ctx.study_id, TrialState.COMPLETE),
        "get_study_user_attrs": lambda: fresh.get_study_user_attrs(ctx.study_id),
        "get_study_system_attrs": lambda: fresh.get_study_system_attrs(ctx.study_id),
        "get_study_directions": lambda: fresh.get_study_directions(ctx.study_id),
        "get_study_name_from_id": lambda: fresh.get_study_name_from_id(ctx.study_id),
        "get_study_id_from_name": lambda: fresh.get_study_id_from_name("the-study"),
        "get_all_studies": lambda: fresh.get_all_studies(),
        "get_trial_number_from_id": lambda: fresh.get_trial_number_from_id(ctx.done),
    }
    for name, read in readers.items():
        try:
            read()
        except CorruptRecordError as e:
            if bad_key not in str(e):
                problems.append(f"{name}: CorruptRecordError without the key {bad_key!r}: {e}")
        except (ValueError, KeyError):
            pass
        except Exception as e:  # noqa: BLE001 - reporting what escaped
            problems.append(f"{name}: {type(e).__name__}: {e}")
    return problems


def corrupt_each(storage, ctx, client, key: str, variants, marker: str) -> list[str]:
    """Write each variant of ``key`` in turn, read everything, restore; collect problems."""
    problems = []
    dump = client.dump(key)
    for describe, write in variants:
        client.delete(key)
        write()
        for p in read_everything(storage, ctx, key):
            problems.append(f"{key} {describe}: {p}")
        client.restore(key, 0, dump, replace=True)
    assert not os.path.exists(marker), "a pickle payload ran"
    return problems


def hash_variants(client, key: str, original: dict, marker: str):
    for field in original:
        for i, payload in enumerate(payloads(marker, f"{key}{field!r}")):

            def write(field=field, payload=payload) -> None:
                client.hset(key, mapping={**original, field: payload})

            yield f"field {field!r} payload#{i}", write


def entries(record: bytes) -> list[tuple[int, int]]:
    """(start, end) of each entry's payload in a trial record (state byte, tag|u32|payload)."""
    out, pos = [], 1
    while pos < len(record):
        (length,) = U32.unpack_from(record, pos + 1)
        out.append((pos + 5, pos + 5 + length))
        pos += 5 + length
    return out


def record_variants(client, key: str, record: bytes, marker: str):
    for j, payload in enumerate(payloads(marker, key)):
        yield f"whole record payload#{j}", lambda p=payload: client.set(key, p)
        yield f"state + payload#{j}", lambda p=payload: client.set(key, record[:1] + p)
        for i, (start, end) in enumerate(entries(record)):
            # Same length, bytes replaced (keeps the framing), and a reframed payload.
            same_len = (payload * (end - start + 1))[: end - start]
            kept = record[:start] + same_len + record[end:]
            yield f"entry {i} overwritten #{j}", lambda r=kept: client.set(key, r)
            framed = record[: start - 4] + U32.pack(len(payload)) + payload + record[end:]
            yield f"entry {i} replaced #{j}", lambda r=framed: client.set(key, r)


@pytest.mark.timeout(120)
def test_corrupt_trial_records(ctx: Ctx, redis_client, tmp_path) -> None:
    marker = str(tmp_path / "pwned")
    problems = []
    for trial_id in (ctx.done, ctx.running):
        key = ctx.keys.trial(ctx.study_id, number(trial_id))
        record = redis_client.get(key)
        assert record
        problems += corrupt_each(
            ctx.storage,
            ctx,
            redis_client,
            key,
            record_variants(redis_client, key, record, marker),
            marker,
        )
    assert not problems, "\n".join(problems[:30])
    assert not os.path.exists(marker)


@pytest.mark.parametrize("which", ["meta", "user_attrs", "system_attrs", "dists", "study_names"])
def test_corrupt_study_hashes(ctx: Ctx, redis_client, tmp_path, which: str) -> None:
    marker = str(tmp_path / "pwned")
    key = getattr(ctx.keys, which)
    key = key if isinstance(key, str) else key(ctx.study_id)
    original = redis_client.hgetall(key)
    assert original
    problems = corrupt_each(
        ctx.storage,
        ctx,
        redis_client,
        key,
        hash_variants(redis_client, key, original, marker),
        marker,
    )
    assert not problems, "\n".join(problems[:30])


def test_corrupt_dist_blocks_param_cleanly(ctx: Ctx, redis_client, tmp_path) -> None:
    marker = str(tmp_path / "pwned")
    key = ctx.keys.dists(ctx.study_id)
    trial_key = ctx.keys.trial(ctx.study_id, number(ctx.running))
    for payload in payloads(marker, "dists"):
        redis_client.hset(key, "c", payload)
        before = redis_client.get(trial_key)
        with pytest.raises(CorruptRecordError) as info:
            ctx.storage.set_trial_param(ctx.running, "c", 0.0, CategoricalDistribution(["a", "b"]))
        assert key in str(info.value)
        assert redis_client.get(trial_key) == before
    assert not os.path.exists(marker)


def test_corrupt_change_log_and_study_list(ctx: Ctx, redis_client) -> None:
    problems = []
    changes = ctx.keys.changes(ctx.study_id)
    for member in [b"garbage", b"-1", b"99999", b"1.5", b"\x80\x04."]:
        redis_client.zadd(changes, {member: 10**6})
        problems += read_everything(ctx.storage, ctx, changes)
        # A number past n names the trial key; garbage may name the change log.
        redis_client.zrem(changes, member)
    studies = ctx.keys.studies
    for member in [b"garbage", b"\xff", b"-3"]:
        redis_client.zadd(studies, {member: 0})
        try:
            ctx.storage.get_all_studies()
        except CorruptRecordError as e:
            assert studies in str(e)
        except (ValueError, KeyError):
            pass
        redis_client.zrem(studies, member)
    # Only clean exceptions; the key named may be the change log or the trial key.
    assert not [p for p in problems if "without the key" not in p], problems


def test_missing_trial_record(ctx: Ctx, redis_client, redis_url, prefix) -> None:
    key = ctx.keys.trial(ctx.study_id, number(ctx.done))
    redis_client.delete(key)
    fresh = RedisStorage(redis_url, prefix=prefix)
    with pytest.raises(CorruptRecordError) as info:
        fresh.get_all_trials(ctx.study_id)
    assert key in str(info.value)
    with pytest.raises(KeyError):
        fresh.get_trial(ctx.done)
    # Also when the change log no longer mentions it.
    redis_client.zrem(ctx.keys.changes(ctx.study_id), number(ctx.done))
    fresh = RedisStorage(redis_url, prefix=prefix)
    with pytest.raises(CorruptRecordError) as info:
        fresh.get_all_trials(ctx.study_id)
    assert key in str(info.value)


def test_values_still_finite_after_roundtrip(ctx: Ctx) -> None:
    t = ctx.storage.get_trial(ctx.done)
    assert t.values == [0.25] and not math.isnan(t.values[0])
    assert t.params == {"x": 0.5, "n": 3, "c": "b"}
    assert t.system_attrs == {"ts": 2**70}


def test_a_full_study_refuses_new_trials_clearly(storage, redis_client) -> None:
    """Trial numbers are 32-bit: a study that reached 2**32 trials refuses the next one
    with a clear error and writes nothing (a 33rd bit would alias the next study's ids)."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    redis_client.hset(storage._keys.meta(study_id), "n", 2**32)
    before = {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{storage._keys.prefix}:*")}
    with pytest.raises(RuntimeError, match="the most a study can hold"):
        storage.create_new_trial(study_id)
    after = {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{storage._keys.prefix}:*")}
    assert after == before
