"""Exceptions of optuna-redis, shared by both codec implementations and the storage."""

from __future__ import annotations

from optuna.exceptions import StorageInternalError
import redis


class CorruptRecordError(ValueError):
    """A record in Redis could not be decoded; the message names its key."""


class IncompatibleFormatError(RuntimeError):
    """The Redis prefix holds data written by an incompatible optuna-redis format."""


class RedisOutOfMemoryError(redis.exceptions.OutOfMemoryError):
    """Redis refused a write of the storage: it reached ``maxmemory``.

    Nothing of the refused call was written: each write of the storage is one Lua script,
    and Redis refuses a script at its first write, never in the middle of it. (Creating a
    study is two steps; refused at the second, the first is undone.)
    """

    @classmethod
    def refused(cls, what: str, error: Exception) -> RedisOutOfMemoryError:
        return cls(
            f"Redis is out of memory (used memory > 'maxmemory') and refused the "
            f"storage's {what!r} write; nothing of it was written. Free memory or raise "
            f"'maxmemory' on the Redis server, then retry. ({error})"
        )


class RedisUnavailableError(StorageInternalError, redis.exceptions.ConnectionError):
    """Redis did not answer within the storage's ``retry_deadline``.

    An ``optuna.exceptions.StorageInternalError``, and a redis ``ConnectionError``.
    """
