from __future__ import annotations

from collections.abc import Iterator
import os
from pathlib import Path
import sys
from typing import Any
import uuid

import pytest
import redis
from redis.cluster import RedisCluster

from _redis_server import RedisServer
from _redis_server import test_url_from_env
from _restartable import RestartableRedis
from optuna_redis import RedisStorage
from optuna_redis import _bulk_py
from optuna_redis import _codec
from optuna_redis import _codec_py
from optuna_redis._local_redis import find_server
from optuna_redis._local_redis import server_version

CODECS = {"py": _codec_py}
# Each decoder twin's bulk-encoder twin (``_codec`` picks both together).
BULK = {"py": _bulk_py}
try:
    from optuna_redis import _bulk_c
    from optuna_redis import _codec_c
except ImportError:  # Built without the extension (OPTUNA_REDIS_NO_EXTENSIONS at build time).
    pass
else:
    CODECS["c"] = _codec_c
    BULK["c"] = _bulk_c


# OPTUNA_REDIS_TEST_CLUSTER=1: the storage tests run on a private 3-master Redis Cluster
# (redis+cluster:// URLs; the `redis_client` fixture is then a RedisCluster).
CLUSTER = os.environ.get("OPTUNA_REDIS_TEST_CLUSTER", "").lower() in ("1", "true", "yes")


def pytest_report_header() -> str:
    if test_url_from_env() is not None:
        return "redis: $OPTUNA_REDIS_TEST_URL"
    found = find_server()
    if found is None:
        return "redis: no server binary found"
    return f"redis: private servers of {server_version(found.path)}, {found.origin} ({found.path})"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis the suite may write to: $OPTUNA_REDIS_TEST_URL, else a private server."""
    if CLUSTER:
        from _cluster import LocalRedisCluster

        with LocalRedisCluster() as cluster:
            yield cluster.url.replace("redis://", "redis+cluster://", 1)
        return
    url = test_url_from_env()
    if url is not None:
        yield url
        return
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.stop()


def client_for(url: str) -> redis.Redis:
    """A client of the test Redis: a RedisCluster for a redis+cluster:// URL."""
    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
    return redis.Redis.from_url(url)


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix; its keys (and only those) are deleted after the test."""
    name = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = client_for(redis_url)
    try:
        for key in client.scan_iter(match=f"{name}:*", count=1000):
            client.unlink(key)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = client_for(redis_url)
    yield client
    client.close()


def use_codec(monkeypatch: pytest.MonkeyPatch, impl) -> None:  # noqa: ANN001
    """Make the package decode with ``impl`` (``_codec_py`` or ``_codec_c``), and encode
    copies with its bulk twin, until the test ends: every module that imported the
    chooser's names (``_codec``) gets the same names of those twins instead."""
    bulk = BULK["c" if impl is CODECS.get("c") else "py"]
    twins = tuple(CODECS.values()) + tuple(BULK.values())
    active = {name: getattr(_codec, name) for name in _codec.__all__ if name != "USE_EXTENSIONS"}
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("optuna_redis.") or module in twins:
            continue
        for name, value in active.items():
            if getattr(module, name, None) is value:
                chosen = impl if hasattr(impl, name) else bulk
                monkeypatch.setattr(module, name, getattr(chosen, name))


@pytest.fixture(params=sorted(CODECS))
def codec(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Each decoder implementation in turn, used by the storage too (see use_codec)."""
    impl = CODECS[request.param]
    use_codec(monkeypatch, impl)
    return impl


@pytest.fixture
def storage(redis_url: str, prefix: str, codec) -> Iterator[RedisStorage]:
    """A storage on a fresh prefix, once per codec implementation."""
    s = RedisStorage(redis_url, prefix=prefix)
    yield s
    s.remove_session()


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[RestartableRedis]:
    """A private Redis a test may kill and restart (see ``_restartable``)."""
    server = RestartableRedis(tmp_path / "redis")
    try:
        yield server
    finally:
        # Shown with a failure's captured output: a stall of the server after a restart,
        # rather than a fault of the storage, would be named here. The server is killed
        # even if the report fails.
        try:
            print(f"\nfault server latency: {server.latency_report()}")
        finally:
            server.kill()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The files tests kept (``record_property("artifact", ...)``: the dashboard's
    screenshots), listed where a run without ``-s`` shows them."""
    kept = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "artifact"
    ]
    if kept:
        terminalreporter.section("kept test artifacts")
        for line in kept:
            terminalreporter.line(line)
