"""Trial datetimes across time zones, and the storage format that changed for them.

Format 3 stores the naive datetimes the storage takes (its clock, a template's naive
datetimes: the writer's local time) in UTC, and returns them in the reader's local time,
naive, as Optuna's InMemoryStorage returns them. Format 2 stored them as they were; a
format 2 prefix is upgraded with ``python -m optuna_redis upgrade``.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
import time

import optuna
import pytest
import redis

import _workers
from optuna_redis import IncompatibleFormatError
from optuna_redis import RedisStorage
from optuna_redis import _record
from optuna_redis.__main__ import main

optuna.logging.set_verbosity(optuna.logging.WARNING)

ZONES = ["Asia/Tokyo", "America/Los_Angeles"]  # UTC+9 and UTC-8 in December, -7 in summer


def test_workers_in_two_time_zones_write_one_timeline(
    redis_url: str, prefix: str, monkeypatch
) -> None:
    storage = RedisStorage(redis_url, prefix=prefix)
    study = optuna.create_study(study_name="tz", storage=storage)
    before = datetime.datetime.now() - datetime.timedelta(seconds=1)
    offsets = _workers.run_processes(
        [("optimize_in_time_zone", (redis_url, prefix, "tz", tz, 3)) for tz in ZONES]
    )
    after = datetime.datetime.now() + datetime.timedelta(seconds=1)
    assert offsets[0] != offsets[1]  # the workers did run in two zones

    trials = study.trials
    assert len(trials) == 6
    for t in trials:  # in this process's local time, whoever wrote them
        assert before <= t.datetime_start <= t.datetime_complete <= after, t
        assert t.datetime_start.tzinfo is None and t.datetime_complete.tzinfo is None

    # A reader in another zone sees the same instants, in its own local time.
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        elsewhere = RedisStorage(redis_url, prefix=prefix).get_all_trials(study._study_id)
    finally:
        monkeypatch.undo()
        time.tzset()
    for here, there in zip(trials, elsewhere, strict=True):
        assert here.datetime_start.astimezone() == there.datetime_start.replace(
            tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30))
        )


def test_aware_datetimes_of_a_template_come_back_as_they_were(storage: RedisStorage) -> None:
    study = optuna.create_study(storage=storage)
    ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=ist)
    complete = datetime.datetime(2026, 1, 2, 4, 0, tzinfo=datetime.timezone.utc)
    study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    template = optuna.trial.create_trial(value=2.0, params={}, distributions={})
    template.datetime_start, template.datetime_complete = start, complete
    study.add_trial(template)
    got = study.trials[1]
    assert (got.datetime_start, got.datetime_complete) == (start, complete)
    assert got.datetime_start.utcoffset() == start.utcoffset()


# ---------------------------------------------------------------- format 2 -> 3


def _format_2_study(url: str, prefix: str, client: redis.Redis) -> tuple[int, datetime.datetime]:
    """A study as optuna-redis 0.1 (format 2) left it: one COMPLETE trial whose datetimes
    are naive, without "Z"."""
    storage = RedisStorage(url, prefix=prefix)
    study = optuna.create_study(study_name="old", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    old = datetime.datetime(2025, 6, 7, 8, 9, 10, 11)
    key = storage._keys.trial(study._study_id, 0)
    record = client.get(key)
    naive = {tag: _record._entry(tag, old.isoformat().encode()) for tag in (b"D", b"C")}
    record = record[:1] + b"".join(naive.get(tag, entry) for tag, entry in _entries(record[1:]))
    client.set(key, record)
    client.set(f"{prefix}:format", "2")
    return study._study_id, old


def _entries(body: bytes):
    at = 0
    while at < len(body):
        n = int.from_bytes(body[at + 1 : at + 5], "little")
        yield body[at : at + 1], body[at : at + 5 + n]
        at += 5 + n


def test_a_format_2_prefix_is_refused_with_the_way_to_upgrade(
    redis_url: str, prefix: str, redis_client: redis.Redis
) -> None:
    _format_2_study(redis_url, prefix, redis_client)
    with pytest.raises(IncompatibleFormatError) as info:
        RedisStorage(redis_url, prefix=prefix)
    message = str(info.value)
    assert f"python -m optuna_redis upgrade --url URL --prefix {prefix}" in message
    assert "format '2'" in message and "UTC" in message
    assert redis_client.get(f"{prefix}:format") == b"2"


def test_upgrade_keeps_the_old_records_and_the_storage_goes_on(
    redis_url: str, prefix: str, redis_client: redis.Redis, capsys
) -> None:
    study_id, old = _format_2_study(redis_url, prefix, redis_client)
    assert main(["upgrade", "--url", redis_url, "--prefix", prefix]) == 0
    assert capsys.readouterr().out == (
        f"Upgraded prefix {prefix!r} from storage format 2 to 3; the records are unchanged.\n"
    )
    assert redis_client.get(f"{prefix}:format") == b"3"
    storage = RedisStorage(redis_url, prefix=prefix)
    (trial,) = storage.get_all_trials(study_id)
    assert trial.datetime_start == trial.datetime_complete == old  # as format 2 stored it
    study = optuna.load_study(study_name="old", storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert study.trials[1].datetime_start > old
    # Once more: nothing to do.
    assert main(["upgrade", "--url", redis_url, "--prefix", prefix]) == 0
    assert "already at storage format 3" in capsys.readouterr().out


@pytest.mark.parametrize(
    "setup, args, code, message",
    [
        (None, [], 2, "error: give the Redis URL with --url or $OPTUNA_REDIS_URL"),
        (None, ["--url", "URL"], 1, "error: no optuna-redis data under prefix"),
        (b"7", ["--url", "URL"], 1, "storage format '7', which this optuna-redis"),
        (None, ["--url", "redis://127.0.0.1:1/0"], 1, ": Redis did not answer"),
    ],
    ids=["no-url", "no-data", "unknown-format", "unreachable"],
)
def test_upgrade_errors_are_one_line(
    redis_url, prefix, redis_client, monkeypatch, capsys, setup, args, code, message
) -> None:
    monkeypatch.delenv("OPTUNA_REDIS_URL", raising=False)
    if setup is not None:
        redis_client.set(f"{prefix}:format", setup)
    args = [redis_url if a == "URL" else a for a in args]
    assert main(["upgrade", *args, "--prefix", prefix]) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err, err
    assert redis_client.get(f"{prefix}:format") == setup  # untouched


def test_upgrade_is_in_the_command_line_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "optuna_redis", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "upgrade upgrade the data under a key prefix to this version's storage format" in (
        " ".join(out.split())
    )
