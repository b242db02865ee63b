"""Sentinel clients that find the new master after a failover."""

from __future__ import annotations

from typing import Any

from redis.sentinel import SentinelConnectionPool
from redis.sentinel import SentinelManagedConnection


class SentinelConnection(SentinelManagedConnection):
    """A Sentinel connection that asks Sentinel for the master on every reconnect.

    redis-py's own reconnects after a dropped connection (its retries) go back to the
    address the connection had (redis/redis-py#3874): after a failover, that is the old
    master, which refuses writes once demoted and, until then, accepts writes that are
    lost. Asking Sentinel each time sends them to the current master.
    """

    def connect_check_health(self, *args: Any, **kwargs: Any) -> Any:
        if self._sock is None and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        return super().connect_check_health(*args, **kwargs)


def adopt(client: Any) -> None:
    """Make a Sentinel master client's pool use ``SentinelConnection`` (no-op otherwise)."""
    pool = getattr(client, "connection_pool", None)
    if isinstance(pool, SentinelConnectionPool) and pool.connection_class is (
        SentinelManagedConnection
    ):
        pool.connection_class = SentinelConnection
        pool.reset()
