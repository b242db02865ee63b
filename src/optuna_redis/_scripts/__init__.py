"""The storage's Lua scripts: one script a file, registered once and run by SHA."""

from __future__ import annotations

from importlib import resources
import time
from typing import Any

import redis

from optuna_redis._direct import DirectConnections
from optuna_redis._errors import RedisOutOfMemoryError
from optuna_redis._errors import RedisUnavailableError

NAMES = (
    "append_trial",
    "create_trial",
    "delete_study",
    "get_trial",
    "record_heartbeat",
    "register_study",
    "set_study_attr",
    "set_trial_param",
    "set_trial_state",
    "stale_trials",
    "sync_trials",
    "unregister_study",
)


# The writes that wait for replicas with wait_replicas: creating and deleting studies,
# creating trials and changing their state. (A finished trial's earlier writes come
# before its finish in the replication stream, so waiting for the finish covers them.)
WAITED = frozenset(
    ["register_study", "unregister_study", "delete_study", "create_trial", "set_trial_state"]
)


def load_sources() -> dict[str, str]:
    package = resources.files(__name__)
    return {name: (package / f"{name}.lua").read_text(encoding="utf-8") for name in NAMES}


class _Script:
    """One registered script; a refusal for memory becomes a ``RedisOutOfMemoryError``.

    On a cluster, a script whose slot is being migrated is refused (TRYAGAIN, which
    redis-py retries a few times within 0.5 s, then gives up with "TTL exhausted") until
    the migration ends. A refused script did not run, so it is retried with backoff for
    up to ``deadline`` seconds.
    """

    __slots__ = ("_script", "_name", "_deadline", "_client", "_wait", "_direct")

    def __init__(
        self,
        script: Any,
        name: str,
        deadline: float,
        client: Any = None,
        wait: tuple[int, int] | None = None,
        direct: DirectConnections | None = None,
    ) -> None:
        self._script = script
        self._name = name
        self._deadline = deadline
        self._client = client
        self._wait = wait
        self._direct = direct

    def __call__(self, keys: list[Any], args: list[Any]) -> Any:
        start = time.monotonic()
        pause = 0.05
        while True:
            try:
                return self._call(keys, args)
            except (redis.exceptions.TryAgainError, redis.exceptions.ClusterError) as e:
                if isinstance(e, redis.exceptions.ClusterError) and "TTL exhausted" not in str(e):
                    raise
                if time.monotonic() - start + pause > self._deadline:
                    raise
                time.sleep(pause)
                pause = min(2 * pause, 1.0)

    def _call(self, keys: list[Any], args: list[Any]) -> Any:
        try:
            if self._wait is not None:
                return self._call_and_wait(keys, args)
            if self._direct is not None:
                return self._direct.evalsha(self._script, keys, args)
            return self._script(keys=keys, args=args)
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
        start = time.monotonic()
        pause = 0.05
        while True:
            try:
                pipe = self._client.pipeline(transaction=False)
                self._script(keys=keys, args=args, client=pipe)
                pipe.execute_command("WAIT", replicas, timeout_ms)
                result, acked = pipe.execute()
                if acked >= replicas:
                    return result
                problem = f"{acked} of {replicas} replicas acknowledged within {timeout_ms} ms"
            except redis.exceptions.NoScriptError:
                # A server that restarted or was promoted has no scripts loaded.
                self._client.script_load(self._script.script)
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
            waited = time.monotonic() - start
            if waited + pause > self._deadline:
                raise RedisUnavailableError(
                    f"The storage's {self._name!r} write was not acknowledged by "
                    f"{replicas} replica(s) (wait_replicas) within {waited:.1f} s: {problem}."
                )
            self._client.connection_pool.disconnect(inuse_connections=False)
            time.sleep(pause)
            pause = min(2 * pause, 1.0)


class Scripts:
    """The scripts registered on one client; ``Script`` reloads a script on NOSCRIPT."""

    _sources: dict[str, str] | None = None

    def __init__(self, client: Any, deadline: float, wait: tuple[int, int] | None = None) -> None:
        """``wait``: (replicas, timeout in ms) that the scripts in ``WAITED`` wait for."""
        if Scripts._sources is None:
            Scripts._sources = load_sources()
        # Scripts that do not wait for replicas go over this thread's direct connection.
        self.direct = DirectConnections.for_client(client)
        for name, source in Scripts._sources.items():
            script = client.register_script(source)
            waits = wait if name in WAITED else None
            setattr(self, name, _Script(script, name, deadline, client, waits, self.direct))
