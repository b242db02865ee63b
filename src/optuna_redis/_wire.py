"""Bytes on the socket: the scripts' direct connections, and the cold load's overlapped MGET.

**Direct connections.** A connection per thread for the storage's scripts, outside
redis-py's command path.

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

**The cold load's reads.** Each chunk of a study's trial records is one MGET (which costs
Redis half what a script returning the same records does) and an HGETALL of its
distributions; on a plain ``redis.Redis`` the next chunk's commands are sent before the
current chunk is handed out, so Redis serves them while this process decodes.
"""

from __future__ import annotations

from collections.abc import Iterator
import os
import threading
from typing import Any

import hiredis
import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script

from optuna_redis._codec import pack_mget

# Records per MGET of a cold load.
COLD_CHUNK = 2000


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
        # hiredis packs as redis-py's own hiredis packer does (str as UTF-8, int as its
        # digits), without that packer's per-call tuple rebuilding: a third of the cost.
        if conn.encoder.encoding == "utf-8":
            try:
                packed = (hiredis.pack_command(command),)
            except TypeError as e:
                raise redis.exceptions.DataError(e) from None
        else:
            packed = conn.pack_command(*command)

        def attempt() -> Any:
            conn.send_packed_command(packed)
            return conn.read_response()

        return conn.retry.call_with_retry(attempt, lambda error: conn.disconnect())


def fetch_records(
    client: Any, head: str, dists_key: str, n_trials: int, overlap: bool = True
) -> Iterator[tuple[range, list[bytes | None], Any]]:
    """Yield ``(numbers, records, dists hash)`` for each chunk of a study's trials, whose
    records are at ``head + str(number)``.

    The dists hash is read after the records, so it holds every distribution they refer
    to (a param's distribution is registered before its entry is written). On a plain
    ``redis.Redis`` client (and ``overlap``) the chunks are pipelined one ahead on one
    connection, whose replies are read here without the client's retries; other clients
    (e.g. a cluster) get one pipeline a chunk.
    """
    chunks = [
        range(start, min(start + COLD_CHUNK, n_trials)) for start in range(0, n_trials, COLD_CHUNK)
    ]
    if isinstance(client, RedisCluster):  # whose pipelines refuse MGET
        for numbers in chunks:
            records = client.mget([head + str(n) for n in numbers])
            yield numbers, records, client.hgetall(dists_key)
        return
    if not overlap or type(client) is not redis.Redis:
        for numbers in chunks:
            pipe = client.pipeline(transaction=False)
            pipe.mget([head + str(n) for n in numbers])
            pipe.hgetall(dists_key)
            records, dists = pipe.execute()
            yield numbers, records, dists
        return
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        hgetall = b"".join(conn.pack_command("HGETALL", dists_key))

        def send(numbers: range) -> None:
            conn.send_packed_command([pack_mget(head, numbers.start, numbers.stop) + hgetall])

        if chunks:
            send(chunks[0])
        for i, numbers in enumerate(chunks):
            records = conn.read_response()
            dists = conn.read_response()
            if i + 1 < len(chunks):
                send(chunks[i + 1])
            yield numbers, records, dists
    except BaseException:
        # A reply may be left unread (an error, or the caller stopped early): the
        # connection cannot be reused.
        conn.disconnect()
        raise
    finally:
        pool.release(conn)


def flat(reply: Any) -> list:
    """A HGETALL reply as a flat list, whichever form the client's callback gave it."""
    if isinstance(reply, dict):
        return [x for pair in reply.items() for x in pair]
    return list(reply)
