"""``optuna-redis info``: the format, studies, trial counts, memory and server fields of a
prefix we build, in JSON and as a table; the one-line errors; and a Redis Cluster."""

from __future__ import annotations

import json
import uuid

import optuna
from optuna.trial import TrialState
import pytest
import redis

from _cluster import LocalRedisCluster
from optuna_redis import RedisStorage
from optuna_redis._cli import _info
from optuna_redis._cli import main

optuna.logging.set_verbosity(optuna.logging.WARNING)


def build(url: str, prefix: str) -> None:
    """Two studies: 'alpha' with 3 COMPLETE, 1 PRUNED, 1 FAIL, 1 RUNNING; 'beta' empty."""
    storage = RedisStorage(url, prefix=prefix)
    alpha = optuna.create_study(storage=storage, study_name="alpha")
    alpha.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    alpha.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED))
    alpha.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    alpha.ask()
    optuna.create_study(storage=storage, study_name="beta", directions=["maximize", "minimize"])
    storage.remove_session()


def info_json(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    assert main(["info", *argv, "-f", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_field_by_field(redis_url: str, prefix: str, capsys) -> None:  # noqa: ANN001
    build(redis_url, prefix)
    report = info_json(capsys, redis_url, "--prefix", prefix)
    assert report["prefix"] == prefix
    assert report["format"] == "3"
    server = report["server"]
    version = redis.Redis.from_url(redis_url.replace("+cluster", "")).info("server")
    assert server["redis_version"] == version["redis_version"]
    assert server["used_memory"] > 0
    assert isinstance(server["maxmemory"], int)
    direct = redis.Redis.from_url(redis_url.replace("+cluster", ""))
    assert server["maxmemory_policy"] == direct.config_get("maxmemory-policy")["maxmemory-policy"]
    assert server["maxmemory"] == int(direct.config_get("maxmemory")["maxmemory"])
    direct.close()
    alpha, beta = report["studies"]
    assert (alpha["name"], alpha["directions"], alpha["n_trials"]) == ("alpha", ["MINIMIZE"], 6)
    assert alpha["trials"] == {
        "RUNNING": 1, "COMPLETE": 3, "PRUNED": 1, "FAIL": 1, "WAITING": 0
    }  # fmt: skip
    assert (beta["name"], beta["directions"], beta["n_trials"]) == (
        "beta",
        ["MAXIMIZE", "MINIMIZE"],
        0,
    )
    assert set(beta["trials"].values()) == {0}
    # Memory: the keys' own MEMORY USAGE, summed; a study with trials uses more.
    assert alpha["memory_bytes"] > beta["memory_bytes"] > 0
    assert alpha["memory_sampled"] is False and alpha["memory_sampled_trials"] is None


def test_memory_is_sampled_and_scaled_for_large_studies(
    redis_url: str,
    prefix: str,
    capsys,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    build(redis_url, prefix)
    exact = info_json(capsys, redis_url, "--prefix", prefix)["studies"][0]
    monkeypatch.setattr(_info, "MEMORY_SAMPLE", 3)
    sampled = info_json(capsys, redis_url, "--prefix", prefix)["studies"][0]
    assert sampled["memory_sampled"] is True and sampled["memory_sampled_trials"] == 3
    # Scaled from 3 of 6 records of near equal size: near the exact sum.
    assert 0.5 * exact["memory_bytes"] < sampled["memory_bytes"] < 1.5 * exact["memory_bytes"]
    assert main(["info", redis_url, "--prefix", prefix]) == 0
    assert "(sampled 3 trials)" in capsys.readouterr().out


def test_table_has_names_and_counts(redis_url: str, prefix: str, capsys) -> None:  # noqa: ANN001
    build(redis_url, prefix)
    assert main(["info", redis_url, "--prefix", prefix]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[2].strip(): line for line in out.splitlines() if "| alpha" in line
            or "| beta" in line}  # fmt: skip
    cells = [c.strip() for c in rows["alpha"].split("|")[1:-1]]
    # id, name, directions, n_trials, RUNNING, COMPLETE, PRUNED, FAIL, WAITING, memory
    assert cells[1:9] == ["alpha", "MINIMIZE", "6", "1", "3", "1", "1", "0"]
    assert [c.strip() for c in rows["beta"].split("|")[1:-1]][1:4] == [
        "beta",
        "MAXIMIZE,MINIMIZE",
        "0",
    ]
    assert "| storage format" in out and "maxmemory_policy" in out


def test_config_refused_by_acl(redis_url: str, prefix: str, capsys) -> None:  # noqa: ANN001
    if "+cluster" in redis_url:
        pytest.skip("the ACL user is made on one server")
    build(redis_url, prefix)
    admin = redis.Redis.from_url(redis_url)
    user, password = f"info-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], keys=["*"],
        commands=["+@all", "-config"],
    )  # fmt: skip
    try:
        host, port = (
            admin.connection_pool.connection_kwargs["host"],
            admin.connection_pool.connection_kwargs["port"],
        )  # noqa: E501
        url = f"redis://{user}:{password}@{host}:{port}"
        report = info_json(capsys, url, "--prefix", prefix)
        assert report["server"]["maxmemory_policy"] == "unknown (CONFIG not allowed)"
        assert [s["name"] for s in report["studies"]] == ["alpha", "beta"]
    finally:
        admin.acl_deluser(user)
        admin.close()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["redis://127.0.0.1:1"], 1, "cannot read redis://127.0.0.1:1"),
        (["sqlite:///x.db"], 2, "is not a Redis URL"),
        (["journal+redis://127.0.0.1:6379"], 2, "is a JournalRedis URL"),
        (["redis://:secret@127.0.0.1:1"], 1, "redis://:***@127.0.0.1:1"),
    ],
)
def test_errors_are_one_line(argv, code: int, message: str, capsys) -> None:  # noqa: ANN001
    assert main(["info", *argv]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "secret" not in err


def test_empty_prefix_says_so_and_writes_nothing(redis_url: str, prefix: str, capsys) -> None:  # noqa: ANN001, E501
    assert main(["info", redis_url, "--prefix", prefix]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == f"optuna-redis: error: no optuna-redis data under prefix {prefix!r} at {redis_url}\n"
    )  # noqa: E501
    client = redis.Redis.from_url(redis_url.replace("+cluster", ""))
    assert list(client.scan_iter(match=f"{prefix}:*")) == []


def test_on_a_cluster(prefix: str, capsys) -> None:  # noqa: ANN001
    with LocalRedisCluster() as cluster:
        url = cluster.url.replace("redis://", "redis+cluster://", 1)
        build(url, prefix)
        report = info_json(capsys, url, "--prefix", prefix)
    assert [(s["name"], s["n_trials"]) for s in report["studies"]] == [("alpha", 6), ("beta", 0)]
    assert report["studies"][0]["trials"]["COMPLETE"] == 3
    assert report["studies"][0]["memory_bytes"] > report["studies"][1]["memory_bytes"] > 0
    assert report["server"]["redis_version"]
