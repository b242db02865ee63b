"""A connection per thread for the storage's scripts, outside redis-py's command path.

Every storage call is one script (EVALSHA). Through ``redis.Redis.execute_command`` a call
also pays for the pool's checkout and return (a lock, and a ``poll()`` for stray data),
command-name parsing and redis-py's observability hooks: 20-30 µs on a local Redis, a
third of the round trip, and ~25% of ``study.optimize``'s time with RandomSampler.

``DirectConnections`` keeps one connection per thread (and per process: a forked child
makes its own), built from the client's pool settings (URL, credentials, TLS, timeouts,
``retry``), and sends the packed EVALSHA on it. What the command path did and still
matters is kept: connection errors are retried by the connection's ``retry`` (the
storage's ``DeadlineRetry``), the connection is dropped when a reply may be left unread,
and a server without the script (NOSCRIPT: restarted, failed over) gets it loaded.

Only for a plain ``redis.Redis`` on a plain ``ConnectionPool`` without client-side
caching; other clients (cluster, Sentinel, custom pools) keep redis-py's path.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis
from redis.commands.core import Script


class DirectConnections:
    """This thread's connection to the client's server, made on first use."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._local = threading.local()

    @classmethod
    def for_client(cls, client: Any) -> DirectConnections | None:
        """Direct connections for ``client``, or None when it must keep redis-py's path."""
        if type(client) is not redis.Redis:
            return None
        pool = client.connection_pool
        if type(pool) is not redis.ConnectionPool or getattr(pool, "cache", None) is not None:
            return None
        return cls(pool)

    def _connection(self) -> Any:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.pid != os.getpid():
            pool = self._pool
            conn = pool.connection_class(**pool.connection_kwargs)
            local.conn, local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (the next call opens a new one)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.disconnect()

    def evalsha(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        """Run ``script`` as redis-py's ``Script.__call__`` would; return its reply."""
        conn = self._connection()
        try:
            try:
                return self._round_trip(conn, "EVALSHA", script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                sha = self._round_trip(conn, "SCRIPT", "LOAD", script.script)
                script.sha = sha.decode() if isinstance(sha, bytes) else sha
                return self._round_trip(conn, "EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.ResponseError:
            raise  # an error reply: read whole, the connection is fine
        except BaseException:
            # A timeout, an interrupt, a broken connection: a reply may be left unread.
            conn.disconnect()
            raise

    @staticmethod
    def _round_trip(conn: Any, *command: Any) -> Any:
        packed = conn.pack_command(*command)

        def attempt() -> Any:
            conn.send_packed_command(packed)
            return conn.read_response()

        return conn.retry.call_with_retry(attempt, lambda error: conn.disconnect())
