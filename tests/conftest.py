from __future__ import annotations

from collections.abc import Iterator
import uuid

import pytest
import redis

from _redis_server import RedisServer
from _redis_server import test_url_from_env
from optuna_redis import RedisStorage
from optuna_redis import _codec_py

CODECS = {"py": _codec_py}
try:
    from optuna_redis import _codec_c
except ImportError:  # Built without the extension (OPTUNA_REDIS_NO_EXTENSIONS at build time).
    pass
else:
    CODECS["c"] = _codec_c


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis the suite may write to: $OPTUNA_REDIS_TEST_URL, else a private server."""
    url = test_url_from_env()
    if url is not None:
        yield url
        return
    server = RedisServer()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix; its keys (and only those) are deleted after the test."""
    name = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        for batch in _batched(client.scan_iter(match=f"{name}:*", count=1000), 500):
            client.unlink(*batch)
    finally:
        client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(params=sorted(CODECS))
def codec(request: pytest.FixtureRequest):
    """Each codec implementation in turn."""
    return CODECS[request.param]


@pytest.fixture
def storage(redis_url: str, prefix: str, codec) -> Iterator[RedisStorage]:
    """A storage on a fresh prefix, once per codec implementation."""
    s = RedisStorage(redis_url, prefix=prefix, codec=codec)
    yield s
    s.remove_session()


def _batched(iterable, n):
    batch = []
    for item in iterable:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
