"""Optuna's own storage conformance suite, run against RedisStorage on a real Redis: once
on a storage built from a URL, once on one built with ``from_client`` (a ``redis.Redis``,
or a ``RedisCluster`` under OPTUNA_REDIS_TEST_CLUSTER=1), whose ``test_pickle_storage``
rebuilds the client from its configuration."""

from __future__ import annotations

from collections.abc import Iterator

from optuna.testing.pytest_storages import StorageTestCase
import pytest

from conftest import client_for
from optuna_redis import RedisStorage


class TestRedisStorageConformance(StorageTestCase):
    pass


class TestFromClientStorageConformance(StorageTestCase):
    @pytest.fixture
    def storage(self, redis_url: str, prefix: str, codec) -> Iterator[RedisStorage]:
        client = client_for(redis_url)
        s = RedisStorage.from_client(client, prefix=prefix)
        yield s
        s.remove_session()
        client.close()
