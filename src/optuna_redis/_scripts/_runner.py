"""How one script call reaches Redis: the direct connection or redis-py's, the retries of
a refused call, and the WAIT for replicas of the writes that must survive a failover."""

from __future__ import annotations

import time
from typing import Any

import redis

from optuna_redis._errors import RedisOutOfMemoryError
from optuna_redis._errors import RedisUnavailableError
from optuna_redis._retry import Backoff
from optuna_redis._wire import DirectConnections


class Runner:
    """One registered script; a refusal for memory becomes a ``RedisOutOfMemoryError``.

    On a cluster, a script whose slot is being migrated is refused (TRYAGAIN, which
    redis-py retries a few times within 0.5 s, then gives up with "TTL exhausted") until
    the migration ends. A refused script did not run, so it is retried with backoff for
    up to ``deadline`` seconds.
    """

    __slots__ = ("script", "_name", "_deadline", "_client", "_wait", "_direct")

    def __init__(
        self,
        script: Any,
        name: str,
        deadline: float,
        client: Any,
        wait: tuple[int, int] | None,
        direct: DirectConnections | None,
    ) -> None:
        self.script = script
        self._name = name
        self._deadline = deadline
        self._client = client
        self._wait = wait
        self._direct = direct

    def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        start = time.monotonic()
        backoff = None  # made on the first refusal: every storage call passes here
        while True:
            try:
                return self._call(keys, args)
            except (redis.exceptions.TryAgainError, redis.exceptions.ClusterError) as e:
                if isinstance(e, redis.exceptions.ClusterError) and "TTL exhausted" not in str(e):
                    raise
                if backoff is None:
                    backoff = Backoff(self._deadline, start)
                if not backoff.pause():
                    raise

    def _call(self, keys: list[Any], args: list[Any]) -> Any:
        try:
            if self._wait is not None:
                return self._call_and_wait(keys, args)
            if self._direct is not None:
                return self._direct.evalsha(self.script, keys, args)
            return self.script(keys=keys, args=args)
        except redis.exceptions.OutOfMemoryError as e:
            raise RedisOutOfMemoryError.refused(self._name, e) from None

    def _call_and_wait(self, keys: list[Any], args: list[Any]) -> Any:
        """Run the script, then WAIT for the replicas, on one connection (one pipeline).

        Until the replicas acknowledge, the call is repeated on a fresh connection (which,
        through Sentinel, finds the current master): a write that reached only a master
        that is being failed over is lost, and the next attempt writes it again; one that
        stands is found by its request token and not run twice. After ``deadline``
        seconds without acknowledgement, ``RedisUnavailableError``.
        """
        replicas, timeout_ms = self._wait  # type: ignore[misc]
        backoff = Backoff(self._deadline)
        while True:
            try:
                pipe = self._client.pipeline(transaction=False)
                self.script(keys=keys, args=args, client=pipe)
                pipe.execute_command("WAIT", replicas, timeout_ms)
                result, acked = pipe.execute()
                if acked >= replicas:
                    return result
                problem = f"{acked} of {replicas} replicas acknowledged within {timeout_ms} ms"
            except redis.exceptions.NoScriptError:
                # A server that restarted or was promoted has no scripts loaded.
                self._client.script_load(self.script.script)
                problem = "the server had not loaded the script"
            except redis.exceptions.ReadOnlyError as e:
                problem = f"the server is a replica now ({e})"
            except RedisUnavailableError:
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
                problem = str(e)
            except redis.exceptions.ResponseError as e:
                if "NOREPLICAS" not in str(e) and "WAIT cannot be used" not in str(e):
                    raise
                problem = str(e)
            self._client.connection_pool.disconnect(inuse_connections=False)
            if not backoff.pause():
                raise RedisUnavailableError(
                    f"The storage's {self._name!r} write was not acknowledged by "
                    f"{replicas} replica(s) (wait_replicas) within {backoff.elapsed():.1f} s: "
                    f"{problem}."
                )
