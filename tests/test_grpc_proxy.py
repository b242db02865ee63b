"""Optuna's storage conformance suite through Optuna's gRPC storage proxy: GrpcStorageProxy
clients of ``run_grpc_proxy_server(RedisStorage(...))``, and the same proxy in front of
Optuna's InMemoryStorage as the baseline for what the proxy itself changes."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
import socket
import threading
import warnings

import optuna
from optuna.storages import BaseStorage
from optuna.storages import GrpcStorageProxy
from optuna.storages import InMemoryStorage
from optuna.storages import run_grpc_proxy_server
import optuna.storages._grpc.server
from optuna.testing.pytest_storages import StorageTestCase
import pytest

from conftest import client_for
from optuna_redis import RedisStorage

# The proxy sends a trial's params as a protobuf map, which comes back in an order of its own
# (it changes with PYTHONHASHSEED), not the order they were set in. Of Optuna's two cases,
# ["a", "b"] and ["b", "a"], one fails per process, but not always: when the two keys share
# a bucket of upb's hash table, both orders come back as set (PYTHONHASHSEED=0 and 11 do
# that; 12 of 151 seeds tried), and a strict xfail over those two alone passed at random.
# So the case also runs over the 26 letters set forwards and backwards: a map that kept
# both of those orders would keep every key in insertion order, which none of 151 seeds
# did. It fails every time, in front of Optuna's own InMemoryStorage too.
PARAMS_ORDER_XFAIL = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="Optuna's gRPC proxy returns a trial's params in protobuf map order, not the "
    "order they were set in; it fails in front of InMemoryStorage too",
)
_LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]


def _params_order_both_ways(storage: BaseStorage) -> None:
    for param_names in (["a", "b"], ["b", "a"], _LETTERS, _LETTERS[::-1]):
        StorageTestCase.test_get_all_trials_params_order(None, storage, param_names)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


class _Proxy:
    """``run_grpc_proxy_server(backend)`` in a thread, and a way to stop it.

    ``run_grpc_proxy_server`` blocks until its server terminates and does not hand the
    server out, so the server that its ``make_server`` builds is kept here to stop it.
    """

    def __init__(self, backend: BaseStorage) -> None:
        self.backend = backend
        self.port = _free_port()
        self.server = None
        make_server = optuna.storages._grpc.server.make_server

        def keep(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            self.server = make_server(*args, **kwargs)
            return self.server

        self._patch = pytest.MonkeyPatch()
        self._patch.setattr(optuna.storages._grpc.server, "make_server", keep)
        self.thread = threading.Thread(
            target=run_grpc_proxy_server,
            args=(backend,),
            kwargs={"host": "localhost", "port": self.port},
            daemon=True,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            self.thread.start()
            self.client().close()
        # Once its server serves, put make_server back, so no other proxy's lands here.
        self._patch.undo()

    def client(self) -> GrpcStorageProxy:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            proxy = GrpcStorageProxy(host="localhost", port=self.port)
        proxy.wait_server_ready(timeout=60)
        return proxy

    def clear(self) -> None:
        """Delete every study of the backend, so that each case starts from none."""
        for study in self.backend.get_all_studies():
            self.backend.delete_study(study._study_id)

    def stop(self) -> None:
        assert self.server is not None
        self.server.stop(5).wait()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def _proxy_fixture(make_backend: Callable[..., BaseStorage]):  # noqa: ANN202
    @pytest.fixture(scope="module")
    def proxy(request: pytest.FixtureRequest) -> Iterator[_Proxy]:
        running = _Proxy(make_backend(request))
        yield running
        running.stop()

    return proxy


def _redis_backend(request: pytest.FixtureRequest) -> RedisStorage:
    url = request.getfixturevalue("redis_url")
    storage = RedisStorage(url, prefix=f"optuna-redis-test-grpc-{_free_port()}")
    request.addfinalizer(lambda: _cleanup_prefix(url, storage))
    return storage


def _cleanup_prefix(url: str, storage: RedisStorage) -> None:
    client = client_for(url)
    try:
        for key in client.scan_iter(match=f"{storage._keys.prefix}:*", count=1000):
            client.unlink(key)
    finally:
        client.close()
        storage.remove_session()


redis_proxy = _proxy_fixture(_redis_backend)
inmemory_proxy = _proxy_fixture(lambda request: InMemoryStorage())


def _client_of(proxy: _Proxy) -> Iterator[GrpcStorageProxy]:
    proxy.clear()
    client = proxy.client()
    yield client
    client.close()


class TestRedisStorageThroughProxy(StorageTestCase):
    @pytest.fixture
    def storage(self, redis_proxy: _Proxy) -> Iterator[GrpcStorageProxy]:
        yield from _client_of(redis_proxy)

    # Optuna's case, parametrized over the two orders, as one case over both (see above).
    @PARAMS_ORDER_XFAIL
    def test_get_all_trials_params_order(self, storage: GrpcStorageProxy) -> None:
        _params_order_both_ways(storage)


class TestInMemoryThroughProxy:
    """The proxy's own fault, shown on Optuna's InMemoryStorage."""

    @pytest.fixture
    def storage(self, inmemory_proxy: _Proxy) -> Iterator[GrpcStorageProxy]:
        yield from _client_of(inmemory_proxy)

    @PARAMS_ORDER_XFAIL
    def test_get_all_trials_params_order(self, storage: GrpcStorageProxy) -> None:
        _params_order_both_ways(storage)

    def test_params_come_back_all_the_same(self, storage: GrpcStorageProxy) -> None:
        # What does hold through the proxy: the params themselves, in whatever order.
        study_id = storage.create_new_study([optuna.study.StudyDirection.MINIMIZE])
        trial_id = storage.create_new_trial(study_id)
        for name in ("b", "a", "c"):
            storage.set_trial_param(
                trial_id, name, 1.0, optuna.distributions.FloatDistribution(0.0, 2.0)
            )
        assert storage.get_all_trials(study_id)[0].params == {"a": 1.0, "b": 1.0, "c": 1.0}
