"""``from_client`` storages pickle by their client's configuration (``_client_state``).

A worker process (multiprocessing, joblib/loky, Dask, Ray) gets a storage whose client is
rebuilt from the same options; a client that cannot be rebuilt (a custom connection or
pool class, client-side caching, an option that does not pickle) raises PicklingError
naming why. The cluster and Sentinel kinds are tested in ``test_cluster`` and
``test_sentinel``, TLS in ``test_tls_acl``.
"""

from __future__ import annotations

import multiprocessing
import pickle

import optuna
from optuna.study import StudyDirection
import pytest
import redis
from redis.credentials import UsernamePasswordCredentialProvider

from optuna_redis import DeadlineRetry
from optuna_redis import RedisStorage
from optuna_redis._client_state import capture

MIN = [StudyDirection.MINIMIZE]


def round_trip(storage: RedisStorage) -> RedisStorage:
    return pickle.loads(pickle.dumps(storage))


def test_a_plain_client_is_rebuilt_with_its_options(redis_url, prefix) -> None:
    client = redis.Redis.from_url(
        redis_url,
        retry=DeadlineRetry(7),
        socket_timeout=3.5,
        socket_connect_timeout=2,
        client_name="worker-0",
        health_check_interval=15,
        max_connections=9,
    )
    storage = RedisStorage.from_client(client, prefix=prefix, retry_deadline=4)
    sid = storage.create_new_study(MIN, "p")
    copy = round_trip(storage)
    pool, original = copy._client.connection_pool, client.connection_pool
    assert type(pool) is redis.ConnectionPool and pool.max_connections == 9
    assert pool.connection_class is redis.Connection
    for name in ("host", "port", "socket_timeout", "socket_connect_timeout", "client_name"):
        assert pool.connection_kwargs[name] == original.connection_kwargs[name], name
    assert pool.connection_kwargs["health_check_interval"] == 15
    assert pool.connection_kwargs.get("db", 0) == 0
    retry = copy._client.get_retry()
    assert type(retry) is DeadlineRetry and retry is not client.get_retry()
    assert retry.deadline == 7
    # The storage's own options travel too, and the outage clock is the new client's.
    assert copy._keys.prefix == prefix and copy._options.retry_deadline == 4
    assert copy._outage_clock is retry
    assert _same_but_retry(copy._client, client)
    # It works, on the same data.
    assert copy.get_study_id_from_name("p") == sid
    tid = copy.create_new_trial(sid)
    assert storage.get_trial(tid).number == 0


def _same_but_retry(a: redis.Redis, b: redis.Redis) -> bool:
    """Whether two clients capture the same, retry aside (compared by deadline) and
    option objects without ``__eq__`` compared by ``repr``."""
    sa, sb = capture(a), capture(b)
    oa, ob = sa.pop("options"), sb.pop("options")
    ra, rb = oa.pop("retry"), ob.pop("retry")
    same_options = oa.keys() == ob.keys() and all(
        oa[k] == ob[k] or repr(oa[k]) == repr(ob[k]) for k in oa
    )
    return sa == sb and same_options and type(ra) is type(rb) and ra.deadline == rb.deadline


def test_credentials_and_a_blocking_pool_travel(redis_url, prefix, redis_client) -> None:
    # An ACL user of its own, so that wrong credentials would fail the rebuilt client.
    user = f"pickle-{prefix}"
    redis_client.acl_setuser(
        user, enabled=True, passwords=["+s3cret"], keys="*", commands=["+@all"]
    )
    try:
        pool = redis.BlockingConnectionPool.from_url(
            redis_url, username=user, password="s3cret", max_connections=4, timeout=2.5
        )
        storage = RedisStorage.from_client(redis.Redis(connection_pool=pool), prefix=prefix)
        copy = round_trip(storage)
        rebuilt = copy._client.connection_pool
        assert type(rebuilt) is redis.BlockingConnectionPool
        assert (rebuilt.max_connections, rebuilt.timeout) == (4, 2.5)
        assert rebuilt.connection_kwargs["username"] == user
        assert rebuilt.connection_kwargs["password"] == "s3cret"
        assert copy._client.acl_whoami() == user
        copy.create_new_study(MIN, "blocking")
        assert storage.get_study_id_from_name("blocking") is not None
    finally:
        redis_client.acl_deluser(user)


def test_a_picklable_credential_provider_travels(redis_url, prefix) -> None:
    provider = UsernamePasswordCredentialProvider("default", None)
    client = redis.Redis.from_url(redis_url, credential_provider=provider)
    copy = round_trip(RedisStorage.from_client(client, prefix=prefix))
    rebuilt = copy._client.connection_pool.connection_kwargs["credential_provider"]
    assert type(rebuilt) is UsernamePasswordCredentialProvider
    assert rebuilt.get_credentials() == provider.get_credentials()
    copy.create_new_study(MIN, "creds")


def _optimize_in_child(storage: RedisStorage, name: str) -> int:
    study = optuna.load_study(study_name=name, storage=storage)
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=3)
    return len(study.trials)


def test_a_spawned_worker_optimizes_on_a_from_client_storage(redis_url, prefix) -> None:
    client = redis.Redis.from_url(redis_url, retry=DeadlineRetry(10))
    storage = RedisStorage.from_client(client, prefix=prefix)
    optuna.create_study(study_name="mp", storage=storage)
    # "spawn": the child is a new interpreter, which gets the storage only by pickle.
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        counts = pool.starmap(_optimize_in_child, [(storage, "mp"), (storage, "mp")])
    assert (
        max(counts) == 6 and len(optuna.load_study(study_name="mp", storage=storage).trials) == 6
    )


class CustomConnection(redis.Connection):
    pass


class CustomPool(redis.ConnectionPool):
    pass


class LocalProvider(UsernamePasswordCredentialProvider):
    def __init__(self) -> None:
        super().__init__("default", None)
        self.hook = lambda: None  # a lambda does not pickle


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (
            lambda url: redis.Redis(
                connection_pool=redis.ConnectionPool.from_url(
                    url, connection_class=CustomConnection
                )
            ),
            "a custom connection class, CustomConnection",
        ),
        (
            lambda url: redis.Redis(connection_pool=CustomPool.from_url(url)),
            "a custom connection pool class, CustomPool",
        ),
        (
            lambda url: redis.Redis.from_url(url, credential_provider=LocalProvider()),
            "its connection option credential_provider=",
        ),
        (
            lambda url: redis.Redis.from_url(
                url, protocol=3, cache_config=redis.cache.CacheConfig()
            ),
            "client-side caching",
        ),
    ],
    ids=["connection-class", "pool-class", "unpicklable-option", "client-cache"],
)
def test_a_client_that_cannot_be_captured_names_why(redis_url, make, reason) -> None:
    # (Not through a storage: client-side caching needs Redis >= 7.4 to connect.)
    with pytest.raises(pickle.PicklingError, match="from_client") as raised:
        capture(make(redis_url))
    assert reason in str(raised.value)


def test_pickling_a_storage_on_such_a_client_fails_and_leaves_it_working(
    redis_url, prefix
) -> None:
    client = redis.Redis(
        connection_pool=redis.ConnectionPool.from_url(redis_url, connection_class=CustomConnection)
    )
    storage = RedisStorage.from_client(client, prefix=prefix)
    with pytest.raises(pickle.PicklingError, match="custom connection class, CustomConnection"):
        pickle.dumps(storage)
    storage.create_new_study(MIN, "still-works")
    assert storage.get_study_id_from_name("still-works") is not None
