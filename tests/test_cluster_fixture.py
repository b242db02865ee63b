"""The local Redis Cluster helper (tests/_cluster.py), and how clients fare while a slot moves."""

from __future__ import annotations

from collections.abc import Iterator
import threading
import time

import pytest
from redis.exceptions import AskError
from redis.exceptions import ClusterError
from redis.exceptions import TryAgainError

from _cluster import LocalRedisCluster
from _cluster import SlotMigration
from _cluster import migrate_slot
from _cluster import owner_port
from _cluster import slot_of
from optuna_redis._local_redis import find_server

pytestmark = pytest.mark.skipif(
    find_server() is None,
    reason="no Redis server binary (see find_server); the local Redis Cluster tests need one",
)

INCR_SCRIPT = "return redis.call('INCR', KEYS[1])"
TWO_KEY_SCRIPT = "redis.call('INCR', KEYS[1]); return redis.call('INCR', KEYS[2])"


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster() as c:
        yield c


def _other_master(cluster: LocalRedisCluster, slot: int) -> int:
    return next(p for p in cluster.ports if p != owner_port(cluster, slot))


def _errorstat(cluster: LocalRedisCluster, port: int, error: str) -> int:
    """How many ``error`` replies (ASK, MOVED, TRYAGAIN...) the node has sent since reset."""
    with cluster.node(port) as node:
        stats = node.info("errorstats")
    return int(stats.get(f"errorstat_{error}", {}).get("count", 0))


def _reset_stats(cluster: LocalRedisCluster) -> None:
    for port in cluster.ports:
        with cluster.node(port) as node:
            node.config_resetstat()


def test_cluster_forms(cluster: LocalRedisCluster) -> None:
    assert len(cluster.startup_nodes) == 3
    assert cluster.url == f"redis://127.0.0.1:{cluster.ports[0]}/0"
    for port in cluster.ports:
        with cluster.node(port) as node:
            info = node.cluster("info")
        assert info["cluster_state"] == "ok"
        assert int(info["cluster_slots_ok"]) == 16384
        assert int(info["cluster_known_nodes"]) == 3
    owners = {owner_port(cluster, slot) for slot in (0, 5461, 5462, 10922, 10923, 16383)}
    assert owners == set(cluster.ports)
    client = cluster.client()
    try:
        for i in range(100):
            client.set(f"spread:{i}", i)
        assert client.get("spread:42") == b"42"
        assert len({slot_of(f"spread:{i}") for i in range(100)}) > 50
    finally:
        client.close()


def test_migrate_slot_under_traffic(cluster: LocalRedisCluster) -> None:
    """INCR, GET/SET and a one-key script keep working, and lose nothing, while a slot moves."""
    slot = slot_of("{7}")
    source, target = owner_port(cluster, slot), _other_master(cluster, slot)
    client = cluster.client()
    tagged = [f"{{7}}:k{i}" for i in range(200)]
    for key in tagged:
        client.set(key, b"0")
    spread = [f"spread7:{i}" for i in range(200)]
    for key in spread:
        client.set(key, key)
    client.set("{7}:counter", 0)
    client.set("{7}:script_counter", 0)
    assert all(slot_of(key) == slot for key in tagged)

    stop = threading.Event()
    counts = {"incr": 0, "script": 0, "ops": 0}
    expected: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def traffic() -> None:
        worker = cluster.client()
        incr = worker.register_script(INCR_SCRIPT)
        i = 0
        try:
            while not stop.is_set():
                try:
                    worker.incr("{7}:counter")
                    counts["incr"] += 1
                    incr(keys=["{7}:script_counter"])
                    counts["script"] += 1
                    key = tagged[i % len(tagged)]
                    value = str(i).encode()
                    assert worker.get(key) == expected.get(key, b"0")
                    worker.set(key, value)
                    expected[key] = value
                    counts["ops"] += 1
                except Exception as error:
                    errors.append(error)
                    return
                i += 1
                time.sleep(0.001)  # share the two cores with the servers
        finally:
            worker.close()

    _reset_stats(cluster)
    thread = threading.Thread(target=traffic)
    thread.start()
    try:
        time.sleep(0.2)
        ops_before = counts["ops"]
        moved = migrate_slot(cluster, slot, target, pause=0.1, batch=20)
        ops_during = counts["ops"] - ops_before
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert errors == []
    assert moved == 202
    assert ops_during > 0
    assert _errorstat(cluster, source, "ASK") > 0  # the traffic really was redirected
    assert owner_port(cluster, slot) == target
    cluster.wait_stable(5)

    try:
        assert int(client.get("{7}:counter")) == counts["incr"]
        assert int(client.get("{7}:script_counter")) == counts["script"]
        for key in tagged:
            assert client.get(key) == expected.get(key, b"0")
        for key in spread:
            assert client.get(key) == key.encode()
        with cluster.node(target) as node:
            assert node.cluster("countkeysinslot", slot) == 202
        with cluster.node(source) as node:
            assert node.cluster("countkeysinslot", slot) == 0
    finally:
        client.close()


def test_scripts_mid_migration(cluster: LocalRedisCluster) -> None:
    """What Lua scripts meet while their slot is half moved, as of Redis 7.0 and redis-py 8.

    - One key, moved: the source answers ASK; redis-py resends with ASKING to the target, and
      if the target lacks the script (NOSCRIPT), ``Script`` loads it on every primary and
      retries. It works.
    - Several keys of the slot, some here and some not (one moved, or one not created yet):
      the server answers TRYAGAIN without running anything. redis-py retries only within its
      request TTL (16 tries, about 0.4 s), then raises ``ClusterError("TTL exhausted.")``.
      So a multi-key script that creates a key fails for the whole migration, even before
      any key has moved.
    - Several keys all moved: ASK, then the target runs it.
    """
    slot = slot_of("{12}")
    a, b, new = "{12}:a", "{12}:b", "{12}:new"
    target = _other_master(cluster, slot)
    client = cluster.client()
    try:
        incr = client.register_script(INCR_SCRIPT)
        two = client.register_script(TWO_KEY_SCRIPT)
        client.set(a, 0)
        client.set(b, 0)
        assert two(keys=[a, b]) == 1

        migration = SlotMigration(cluster, slot, target)
        migration.open()
        _reset_stats(cluster)

        # An existing key and a missing one: TRYAGAIN although nothing has moved yet.
        with pytest.raises((ClusterError, TryAgainError)):
            two(keys=[a, new])
        assert _errorstat(cluster, migration.source_port, "TRYAGAIN") > 0

        migration.move_keys([a])
        with cluster.node(migration.source_port) as source:
            with pytest.raises(TryAgainError, match="rehashing"):
                source.eval(TWO_KEY_SCRIPT, 2, a, b)
            with pytest.raises(AskError):
                source.eval(TWO_KEY_SCRIPT, 1, a)
        with cluster.node(target) as node:
            node.script_flush()  # the ASKed node has never seen the script

        assert incr(keys=[a]) == 2
        with pytest.raises((ClusterError, TryAgainError)):
            two(keys=[a, b])
        with pytest.raises((ClusterError, TryAgainError)):
            client.mget(a, b)

        migration.move_keys([b])
        assert two(keys=[a, b]) == 2  # b was never touched by the refused calls
        with pytest.raises((ClusterError, TryAgainError)):
            two(keys=[a, new])  # both on the target now, but `new` still missing: TRYAGAIN

        while migration.move_batch():
            pass
        migration.finish()
        assert owner_port(cluster, slot) == target
        assert two(keys=[a, new]) == 1
        assert client.get(a) == b"4"
        assert client.get(b) == b"2"
    finally:
        client.close()
