"""Building and checking the storage's connection to Redis: its options, the client made
from a URL or handed in, and what is checked on connect (the data format under the
prefix, and an eviction policy that could drop the storage's keys)."""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
import re
from typing import Any
import warnings

import optuna
from optuna.trial import FrozenTrial
import redis
from redis.cluster import RedisCluster

from optuna_redis._errors import IncompatibleFormatError
from optuna_redis._errors import UnsupportedServerError
from optuna_redis._keys import FORMAT_VERSION
from optuna_redis._keys import UPGRADABLE_FORMATS
from optuna_redis._keys import Keys
from optuna_redis._retry import DeadlineRetry
from optuna_redis._retry import cluster_retry
from optuna_redis._sentinel import adopt as adopt_sentinel

StaleTrialCallback = Callable[["optuna.study.Study", FrozenTrial], None]

# URL schemes of the cluster form, and what redis-py calls them.
_CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
# Seconds a request token's result is kept, at least (see _keys).
_DEFAULT_REQUEST_TTL = 600
# The oldest server the scripts run on (``TIME`` in a script needs effects replication).
MIN_SERVER_VERSION = (6, 2)


@dataclasses.dataclass(frozen=True)
class Options:
    """The storage's options, checked: everything but the client."""

    keys: Keys
    retry_deadline: float
    # (replicas, WAIT timeout in ms) for wait_replicas > 0, else None.
    wait: tuple[int, int] | None
    heartbeat_interval: int | None
    grace_period: int | None
    stale_trial_callback: StaleTrialCallback | None

    @property
    def beat_period(self) -> float:
        """Seconds between a heartbeat process's own beats (``_liveness``): at most a
        quarter of the grace period, so a live process never looks gone for want of a
        beat or two that came late."""
        assert self.heartbeat_interval is not None
        grace = self.grace_period or 2 * self.heartbeat_interval
        return min(self.heartbeat_interval, grace / 4)

    @property
    def request_ttl(self) -> int:
        """Seconds a request key lives: longer than any retry of its call."""
        return max(_DEFAULT_REQUEST_TTL, int(2 * self.retry_deadline) + 1)

    @classmethod
    def checked(
        cls,
        *,
        heartbeat_interval: int | None,
        grace_period: int | None,
        heartbeat_stale_trial_callback: StaleTrialCallback | None,
        failed_trial_callback: StaleTrialCallback | None,
        prefix: str,
        retry_deadline: float,
        wait_replicas: int,
        wait_timeout: float,
    ) -> Options:
        """The options of ``RedisStorage``'s arguments; ValueError names a wrong one.

        Called straight from ``RedisStorage.__init__`` and ``from_client``: the warnings'
        ``stacklevel`` points at their caller.
        """
        if not isinstance(retry_deadline, (int, float)) or not retry_deadline >= 0:
            raise ValueError(f"retry_deadline must be a number >= 0, got {retry_deadline!r}.")
        if (
            isinstance(wait_replicas, bool)
            or not isinstance(wait_replicas, int)
            or (wait_replicas < 0)
        ):
            raise ValueError(f"wait_replicas must be an int >= 0, got {wait_replicas!r}.")
        if not isinstance(wait_timeout, (int, float)) or not wait_timeout > 0:
            raise ValueError(f"wait_timeout must be a number > 0, got {wait_timeout!r}.")
        for name, value in (
            ("heartbeat_interval", heartbeat_interval),
            ("grace_period", grace_period),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value <= 0
            ):
                raise ValueError(
                    f"The value of `{name}` should be a positive integer, got {value!r}."
                )
        if heartbeat_stale_trial_callback is not None and failed_trial_callback is not None:
            raise ValueError(
                "Specify only one of `heartbeat_stale_trial_callback` and `failed_trial_callback`."
            )
        if failed_trial_callback is not None:
            warnings.warn(
                "`failed_trial_callback` is deprecated; use `heartbeat_stale_trial_callback`.",
                FutureWarning,
                stacklevel=3,
            )
        if heartbeat_interval is not None:
            # As Optuna's RDBStorage does: Optuna marks heartbeats experimental, and its own
            # heartbeat tests (run on us by ci/optuna_upstream_tests.sh) expect the warning.
            warnings.warn(
                "Argument ``heartbeat_interval`` is an experimental feature. "
                "The interface can change in the future.",
                optuna.exceptions.ExperimentalWarning,
                stacklevel=3,
            )
        return cls(
            keys=Keys(prefix),
            retry_deadline=float(retry_deadline),
            wait=(wait_replicas, max(1, int(wait_timeout * 1000))) if wait_replicas else None,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            stale_trial_callback=heartbeat_stale_trial_callback or failed_trial_callback,
        )


def client_from_url(url: Any, client_kwargs: dict[str, Any], deadline: float) -> Any:
    """The client of a URL: a ``redis.Redis``, or a ``RedisCluster`` for the cluster
    schemes, retrying connection errors for ``deadline`` seconds."""
    if not isinstance(url, str):
        raise TypeError(
            f"url must be a str, got {type(url).__name__}; "
            "use RedisStorage.from_client() to pass a client."
        )
    if client_kwargs.get("decode_responses"):
        raise ValueError("RedisStorage reads raw bytes; decode_responses must be False.")
    scheme, sep, rest = url.partition("://")
    if sep and scheme in _CLUSTER_SCHEMES:
        kwargs = {"retry": cluster_retry(deadline), **client_kwargs}
        return RedisCluster.from_url(f"{_CLUSTER_SCHEMES[scheme]}://{rest}", **kwargs)
    kwargs = {"retry": DeadlineRetry(deadline), **client_kwargs}
    return redis.Redis.from_url(url, **kwargs)


def check_client(client: Any) -> None:
    """Refuse a client the storage cannot use (TypeError, ValueError)."""
    if not isinstance(client, (redis.Redis, RedisCluster)):
        raise TypeError(
            f"client must be a redis.Redis or a redis.cluster.RedisCluster, got "
            f"{type(client).__name__}."
        )
    if isinstance(client, RedisCluster):
        decodes = client.get_encoder().decode_responses
    else:
        decodes = getattr(client.connection_pool, "connection_kwargs", {}).get("decode_responses")
    if decodes:
        raise ValueError("RedisStorage reads raw bytes; the client must not decode responses.")


def connect(client: Any, options: Options) -> DeadlineRetry | None:
    """Check ``client`` against the options and the data under the prefix, and prepare it
    (a Sentinel client asks for the master on every reconnect).

    Returns the client's ``DeadlineRetry`` when it has one (the URL form's), which notes
    when Redis was last unreachable (see the storage's heartbeats).
    """
    wait = options.wait
    if wait is not None and isinstance(client, RedisCluster):
        raise ValueError("wait_replicas is not supported on a Redis Cluster.")
    if wait is not None:
        socket_timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is not None and socket_timeout <= wait[1] / 1000:
            raise ValueError(
                f"wait_timeout ({wait[1] / 1000:g} s) must be shorter than the "
                f"client's socket_timeout ({socket_timeout:g} s): a WAIT that outlasts "
                "it reads as a broken connection."
            )
    adopt_sentinel(client)
    _check_format(client, options.keys)
    _check_server(client)
    retry = client.get_retry() if hasattr(client, "get_retry") else None
    return retry if isinstance(retry, DeadlineRetry) else None


def _check_format(client: Any, keys: Keys) -> None:
    key = keys.format
    found = client.get(key)
    if found is None:  # A new prefix: claim it. Reading alone works on a replica.
        client.set(key, FORMAT_VERSION, nx=True)
        found = client.get(key)
    if found == FORMAT_VERSION.encode():
        return
    old = found.decode(errors="replace")
    if old in UPGRADABLE_FORMATS:
        raise IncompatibleFormatError(
            f"Redis key {key!r} says the data under prefix {keys.prefix!r} has storage "
            f"format {old!r}; this optuna-redis writes format {FORMAT_VERSION!r} "
            f"({UPGRADABLE_FORMATS[old]}). It reads the old data as it is: stop the "
            "workers of older optuna-redis versions on this prefix, then run "
            f"`python -m optuna_redis upgrade --url URL --prefix {keys.prefix}`."
        )
    raise IncompatibleFormatError(
        f"Redis key {key!r} says the data under prefix {keys.prefix!r} has "
        f"storage format {found!r}, but this optuna-redis reads format "
        f"{FORMAT_VERSION!r}. Use another prefix or a matching optuna-redis version."
    )


def upgrade_format(client: Any, keys: Keys) -> str | None:
    """Mark the data under ``keys.prefix`` as ``FORMAT_VERSION`` if it is of a format this
    version reads (``UPGRADABLE_FORMATS``), and return the format it had: None when there
    is no data under the prefix (nothing is written). The records stay as they are.
    IncompatibleFormatError: a format this version cannot read."""
    key = keys.format
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key)
                found = pipe.get(key)
                old = None if found is None else found.decode(errors="replace")
                if old is None or old == FORMAT_VERSION:
                    pipe.unwatch()
                    return old
                if old not in UPGRADABLE_FORMATS:
                    pipe.unwatch()
                    raise IncompatibleFormatError(
                        f"Redis key {key!r} says the data under prefix {keys.prefix!r} has "
                        f"storage format {old!r}, which this optuna-redis (format "
                        f"{FORMAT_VERSION!r}) cannot read or upgrade."
                    )
                pipe.multi()
                pipe.set(key, FORMAT_VERSION)
                pipe.execute()
                return old
            except redis.exceptions.WatchError:
                continue  # changed meanwhile: look again


def _check_server(client: Any) -> None:
    """Refuse a server too old for the scripts; warn when Redis may evict the storage's
    keys (only request keys have a TTL). One INFO, of its default sections."""
    try:
        info = client.info()
    except redis.exceptions.ResponseError:  # e.g. an ACL user without INFO
        return
    # A cluster client answers per node: {node: info}.
    infos = [info] if "redis_version" in info or "maxmemory_policy" in info else info.values()
    infos = [i for i in infos if isinstance(i, dict)]
    for i in infos:
        version = i.get("redis_version")
        if isinstance(version, bytes):
            version = version.decode(errors="replace")
        found = tuple(int(p) for p in re.findall(r"\d+", str(version))[:2])
        if version is not None and len(found) == 2 and found < MIN_SERVER_VERSION:
            raise UnsupportedServerError(
                f"The Redis server is version {version}; RedisStorage needs Redis >= "
                f"{'.'.join(map(str, MIN_SERVER_VERSION))} (its scripts call TIME, which "
                "needs script effects replication). Upgrade the server."
            )
    policies = [i.get("maxmemory_policy", "") for i in infos]
    for policy in {p.decode() if isinstance(p, bytes) else p for p in policies}:
        if not policy.startswith("allkeys-"):
            continue
        warnings.warn(
            f"The Redis server's maxmemory-policy is {policy!r}: when it reaches "
            "'maxmemory' it deletes keys of its choice, this storage's included, and "
            "trials and studies would vanish without an error. Set maxmemory-policy to "
            "'noeviction' (writes then fail with a clear error instead) or a "
            "'volatile-*' policy (only the storage's short-lived request keys have TTLs).",
            RuntimeWarning,
            stacklevel=4,
        )
