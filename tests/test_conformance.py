"""Optuna's own storage conformance suite, run against RedisStorage on a real Redis."""

from optuna.testing.pytest_storages import StorageTestCase


class TestRedisStorageConformance(StorageTestCase):
    pass
