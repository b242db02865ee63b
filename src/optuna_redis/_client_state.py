"""A handed-in client's configuration, captured so that a ``from_client`` storage pickles,
and the equal client rebuilt from it in the process that unpickles it.

Three kinds of client are captured: a plain ``redis.Redis`` (TCP, TLS or a Unix socket,
on a ``ConnectionPool`` or a ``BlockingConnectionPool``), a ``RedisCluster``, and a
Sentinel client (``Sentinel.master_for`` or ``slave_for``). What is captured is what the
user configured: addresses, credentials, TLS options, timeouts, the retry, the service
name. redis-py's own per-client machinery (pools, registries, handlers) is built again by
redis-py. Anything else (a custom connection or pool class, client-side caching, an
option whose value does not pickle) raises ``pickle.PicklingError`` naming it.
"""

from __future__ import annotations

import functools
import inspect
import pickle
from typing import Any

import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster
import redis.connection
import redis.sentinel

from optuna_redis._sentinel import SentinelConnection

# The connection classes of a plain client, and what says so to redis.Redis.
_PLAIN_CONNECTIONS = (
    redis.connection.Connection,
    redis.connection.SSLConnection,
    redis.connection.UnixDomainSocketConnection,
)
_POOLS = (redis.connection.ConnectionPool, redis.connection.BlockingConnectionPool)
_SENTINEL_CONNECTIONS = {
    redis.sentinel.SentinelManagedConnection: False,
    SentinelConnection: False,
    redis.sentinel.SentinelManagedSSLConnection: True,
}
# redis.Redis parameters that are no connection option: the pool and its size (captured
# apart), and redis-py's machinery, which a cluster client hands to its nodes' pools.
_NOT_OPTIONS = {
    "self",
    "connection_pool",
    "max_connections",
    "single_connection_client",
    "event_dispatcher",
    "oss_cluster_maint_notifications_handler",
}


@functools.cache
def _user_options() -> dict[str, Any]:
    """The connection options a user sets, with their defaults: ``redis.Redis``'s own
    parameters, plus the names its pool gives the address (``host``/``port``, ``path``).
    A pool's other connection keys are redis-py's internals, which it builds again."""
    params = inspect.signature(redis.Redis.__init__).parameters
    options = {name: p.default for name, p in params.items() if name not in _NOT_OPTIONS}
    options.setdefault("path", None)
    return options


def _refuse(reason: str) -> pickle.PicklingError:
    return pickle.PicklingError(
        f"This RedisStorage was built with from_client() on a client whose configuration "
        f"cannot be captured for pickling: {reason}. Build the storage from a URL, or "
        "from a client without it."
    )


def _is_default(value: Any, default: Any) -> bool:
    if value is default:
        return True
    try:
        return bool(value == default)
    except Exception:  # noqa: BLE001 - an option object with a strict __eq__
        return False


def _options(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """The user's options among a pool's (or a cluster's) connection keys: those set to
    something else than redis.Redis's default. Each must pickle."""
    defaults = _user_options()
    found = {}
    for name, value in kwargs.items():
        if name not in defaults:
            continue
        if _is_default(value, defaults[name]):
            continue
        try:
            pickle.dumps(value)
        except Exception as e:  # noqa: BLE001 - whatever stops pickle, named below
            raise _refuse(
                f"its {where} option {name}={value!r} does not pickle ({type(e).__name__}: {e})"
            ) from None
        found[name] = value
    return found


def capture(client: Any) -> dict[str, Any]:
    """What rebuilds ``client`` (``rebuild``), as plain picklable data; PicklingError
    names what cannot be captured."""
    if isinstance(client, RedisCluster):
        return _capture_cluster(client)
    pool = client.connection_pool
    if isinstance(pool, redis.sentinel.SentinelConnectionPool):
        return _capture_sentinel(client, pool)
    if type(pool) not in _POOLS:
        raise _refuse(f"a custom connection pool class, {type(pool).__qualname__}")
    if pool.connection_class not in _PLAIN_CONNECTIONS:
        raise _refuse(f"a custom connection class, {pool.connection_class.__qualname__}")
    _refuse_cache(getattr(pool, "cache", None))
    state = {
        "kind": "redis",
        "pool": type(pool).__name__,
        "connection": pool.connection_class.__name__,
        "max_connections": pool.max_connections,
        # redis-py keeps no public flag; its single connection is made on construction.
        "single_connection_client": client.connection is not None,
        "options": _options(pool.connection_kwargs, "connection"),
    }
    if isinstance(pool, redis.connection.BlockingConnectionPool):
        state["timeout"] = pool.timeout
    return state


def _refuse_cache(cache: Any) -> None:
    if cache is not None:
        raise _refuse("client-side caching (its cache holds local state)")


def _capture_cluster(client: RedisCluster) -> dict[str, Any]:
    nodes = client.nodes_manager
    if nodes.connection_pool_class is not redis.connection.ConnectionPool:
        raise _refuse(f"a custom node pool class, {nodes.connection_pool_class.__qualname__}")
    _refuse_cache(getattr(nodes, "_cache", None))
    kwargs = dict(nodes.connection_kwargs)
    # The cluster's own hook is on every node's connections; the user's is kept apart.
    kwargs["redis_connect_func"] = client.user_on_connect_func
    if kwargs.get("connection_class") not in (None, *_PLAIN_CONNECTIONS):
        raise _refuse(f"a custom connection class, {kwargs['connection_class'].__qualname__}")
    cluster = {
        "retry": client.retry,
        "require_full_coverage": nodes._require_full_coverage,
        "reinitialize_steps": client.reinitialize_steps,
        "read_from_replicas": client.read_from_replicas,
        "load_balancing_strategy": client.load_balancing_strategy,
        "dynamic_startup_nodes": nodes._dynamic_startup_nodes,
        "address_remap": nodes.address_remap,
    }
    # Only what differs from RedisCluster's defaults (read_from_replicas=False, given at
    # all, warns as deprecated).
    defaults = inspect.signature(RedisCluster.__init__).parameters
    cluster = {k: v for k, v in cluster.items() if not _is_default(v, defaults[k].default)}
    for name, value in cluster.items():
        try:
            pickle.dumps(value)
        except Exception as e:  # noqa: BLE001
            raise _refuse(
                f"its cluster option {name}={value!r} does not pickle ({type(e).__name__}: {e})"
            ) from None
    return {
        "kind": "cluster",
        "startup_nodes": [(n.host, n.port) for n in nodes.startup_nodes.values()],
        "connection": kwargs.get("connection_class", redis.connection.Connection).__name__,
        "cluster": cluster,
        "options": _options(kwargs, "connection"),
    }


def _capture_sentinel(client: Any, pool: redis.sentinel.SentinelConnectionPool) -> dict[str, Any]:
    if type(pool) is not redis.sentinel.SentinelConnectionPool:
        raise _refuse(f"a custom connection pool class, {type(pool).__qualname__}")
    if pool.connection_class not in _SENTINEL_CONNECTIONS:
        raise _refuse(f"a custom connection class, {pool.connection_class.__qualname__}")
    _refuse_cache(getattr(pool, "cache", None))
    manager = pool.sentinel_manager
    sentinels = []
    for sentinel in manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        sentinels.append((kwargs["host"], kwargs["port"]))
    return {
        "kind": "sentinel",
        "service_name": pool.service_name,
        "is_master": pool.is_master,
        "check_connection": pool.check_connection,
        "ssl": _SENTINEL_CONNECTIONS[pool.connection_class],
        "sentinels": sentinels,
        "min_other_sentinels": manager.min_other_sentinels,
        "force_master_ip": getattr(manager, "_force_master_ip", None),
        "sentinel_options": _options(manager.sentinel_kwargs, "sentinel_kwargs"),
        "max_connections": pool.max_connections,
        "options": _options(pool.connection_kwargs, "connection"),
    }


def rebuild(state: dict[str, Any]) -> Any:
    """The client ``capture`` describes, new (it connects on first use)."""
    kind = state["kind"]
    if kind == "redis":
        pool_class = getattr(redis.connection, state["pool"])
        extra = {"timeout": state["timeout"]} if "timeout" in state else {}
        pool = pool_class(
            connection_class=getattr(redis.connection, state["connection"]),
            max_connections=state["max_connections"],
            **extra,
            **state["options"],
        )
        client = redis.Redis(
            connection_pool=pool, single_connection_client=state["single_connection_client"]
        )
        client.auto_close_connection_pool = True
        return client
    if kind == "cluster":
        options = dict(state["options"])
        if state["connection"] != "Connection":
            options["connection_class"] = getattr(redis.connection, state["connection"])
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in state["startup_nodes"]],
            **state["cluster"],
            **options,
        )
    if kind == "sentinel":
        sentinel = redis.sentinel.Sentinel(
            state["sentinels"],
            min_other_sentinels=state["min_other_sentinels"],
            sentinel_kwargs=state["sentinel_options"],
            force_master_ip=state["force_master_ip"],
        )
        connect = sentinel.master_for if state["is_master"] else sentinel.slave_for
        return connect(
            state["service_name"],
            ssl=state["ssl"],
            check_connection=state["check_connection"],
            max_connections=state["max_connections"],
            **state["options"],
        )
    raise pickle.UnpicklingError(f"Unknown client kind in a pickled RedisStorage: {kind!r}.")
