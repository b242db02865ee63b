"""The storage's Lua scripts: one script a file, registered once and run by SHA."""

from __future__ import annotations

from importlib import resources
import time
from typing import Any
import warnings

import redis

from optuna_redis._errors import RedisOutOfMemoryError

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

    __slots__ = ("_script", "_name", "_deadline", "_client", "_wait")

    def __init__(
        self,
        script: Any,
        name: str,
        deadline: float,
        client: Any = None,
        wait: tuple[int, int] | None = None,
    ) -> None:
        self._script = script
        self._name = name
        self._deadline = deadline
        self._client = client
        self._wait = wait

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
            if self._wait is None:
                return self._script(keys=keys, args=args)
            # WAIT on the connection that wrote: one pipeline, one connection.
            replicas, timeout_ms = self._wait
            pipe = self._client.pipeline(transaction=False)
            self._script(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", replicas, timeout_ms)
            result, acked = pipe.execute()
        except redis.exceptions.OutOfMemoryError as e:
            raise RedisOutOfMemoryError.refused(self._name, e) from None
        if acked < replicas:
            warnings.warn(
                f"Only {acked} of {replicas} replicas acknowledged the storage's "
                f"{self._name!r} write within {timeout_ms} ms (wait_replicas): if the master "
                "fails before they catch up, a failover may lose it.",
                RuntimeWarning,
                stacklevel=4,
            )
        return result


class Scripts:
    """The scripts registered on one client; ``Script`` reloads a script on NOSCRIPT."""

    _sources: dict[str, str] | None = None

    def __init__(self, client: Any, deadline: float, wait: tuple[int, int] | None = None) -> None:
        """``wait``: (replicas, timeout in ms) that the scripts in ``WAITED`` wait for."""
        if Scripts._sources is None:
            Scripts._sources = load_sources()
        for name, source in Scripts._sources.items():
            script = client.register_script(source)
            waits = wait if name in WAITED else None
            setattr(self, name, _Script(script, name, deadline, client, waits))
