"""The test session's private redis-server (the package's own helper) and its URL choice."""

from __future__ import annotations

import os

from optuna_redis._local_redis import LocalRedisServer as RedisServer
from optuna_redis._local_redis import free_port

__all__ = ["RedisServer", "free_port", "test_url_from_env"]


def test_url_from_env() -> str | None:
    return os.environ.get("OPTUNA_REDIS_TEST_URL") or None
