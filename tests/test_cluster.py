"""RedisStorage on a local 3-master Redis Cluster: studies spread over the masters, the
cluster URL and client forms, and a study that keeps running while its slot migrates.

The storage suite itself runs on a cluster with OPTUNA_REDIS_TEST_CLUSTER=1 (ci/test.sh)."""

from __future__ import annotations

from collections.abc import Iterator
import pickle
import threading
import time

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from _cluster import LocalRedisCluster
from _cluster import SlotMigration
from _cluster import owner_port
from _cluster import slot_of
from optuna_redis import RedisStorage

MIN = [StudyDirection.MINIMIZE]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRedisCluster]:
    with LocalRedisCluster() as c:
        yield c


@pytest.fixture
def url(cluster: LocalRedisCluster) -> str:
    return cluster.url.replace("redis://", "redis+cluster://", 1)


def test_studies_spread_over_every_master(cluster, url, prefix) -> None:
    storage = RedisStorage(url, prefix=prefix)
    owners = set()
    for i in range(12):
        study_id = storage.create_new_study(MIN, f"s{i}")
        trial_id = storage.create_new_trial(study_id)
        storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [float(i)])
        owners.add(owner_port(cluster, slot_of(storage._keys.meta(study_id))))
    assert owners == set(cluster.ports)
    # The keys shared by all studies sit in one slot, whatever the prefix.
    keys = storage._keys
    assert len({slot_of(k) for k in (keys.study_seq, keys.study_names, keys.studies)}) == 1
    assert [s.study_name for s in storage.get_all_studies()] == [f"s{i}" for i in range(12)]
    assert [t.value for t in storage.get_all_trials(storage.get_study_id_from_name("s7"))] == [7.0]


def test_from_client_takes_a_cluster_client(cluster, prefix) -> None:
    storage = RedisStorage.from_client(cluster.client(), prefix=prefix)
    study_id = storage.create_new_study(MIN, "c")
    assert storage.get_study_name_from_id(study_id) == "c"
    with pytest.raises(ValueError, match="decode"):
        RedisStorage.from_client(
            RedisCluster(host="127.0.0.1", port=cluster.ports[0], decode_responses=True)
        )


def test_a_from_client_cluster_storage_pickles_by_its_configuration(cluster, prefix) -> None:
    retry = Retry(ExponentialBackoff(cap=0.5), retries=7)
    client = cluster.client(retry=retry, socket_timeout=4, reinitialize_steps=3)
    storage = RedisStorage.from_client(client, prefix=prefix)
    study_id = storage.create_new_study(MIN, "pickled")
    copy = pickle.loads(pickle.dumps(storage))
    rebuilt = copy._client
    assert isinstance(rebuilt, RedisCluster) and rebuilt is not client
    startup = {(n.host, n.port) for n in rebuilt.nodes_manager.startup_nodes.values()}
    assert startup == {(n.host, n.port) for n in client.nodes_manager.startup_nodes.values()}
    assert rebuilt.retry is not retry and rebuilt.retry == retry
    assert rebuilt.reinitialize_steps == 3
    assert rebuilt.nodes_manager.connection_kwargs["socket_timeout"] == 4
    assert copy.get_study_id_from_name("pickled") == study_id
    copy.create_new_trial(study_id)
    assert len(storage.get_all_trials(study_id)) == 1
    client.close()


def test_a_study_keeps_running_while_its_slot_migrates(cluster, url, prefix) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = RedisStorage(url, prefix=prefix)
    study = optuna.create_study(storage=storage, study_name="moving")
    study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=20)
    slot = slot_of(storage._keys.meta(study._study_id))
    source = owner_port(cluster, slot)
    target = next(p for p in cluster.ports if p != source)

    errors: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        # Another process's view: its own storage, writing through the whole migration.
        s = RedisStorage(url, prefix=prefix)
        st = optuna.load_study(study_name="moving", storage=s)
        try:
            while not stop.is_set():
                st.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=1)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        time.sleep(0.5)
        migration = SlotMigration(cluster, slot, target)
        migration.open()
        moved = 0
        while True:  # Keep the slot half-migrated for a while, as a big reshard does.
            step = migration.move_batch(5)
            if step == 0:
                break
            moved += step
            time.sleep(0.1)
        migration.finish()
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert moved > 20
    assert owner_port(cluster, slot) == target

    trials = RedisStorage(url, prefix=prefix).get_all_trials(study._study_id)
    assert len(trials) > 20
    assert [t.number for t in trials] == list(range(len(trials)))
    assert {t.state for t in trials} == {TrialState.COMPLETE}
