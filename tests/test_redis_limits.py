"""Redis limits: an eviction policy that could drop the storage's keys, and writes refused
for memory. Each test runs its own redis-server, since it changes its configuration."""

from __future__ import annotations

from collections.abc import Iterator
import warnings

from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis

from _redis_server import RedisServer
from optuna_redis import RedisOutOfMemoryError
from optuna_redis import RedisStorage


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(dir_prefix="optuna-redis-limits-") as s:
        yield s


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_a_policy_that_evicts_any_key_is_warned_about(server: RedisServer, policy: str) -> None:
    redis.Redis.from_url(server.url).config_set("maxmemory-policy", policy)
    with pytest.warns(RuntimeWarning, match=f"maxmemory-policy is '{policy}'.*noeviction"):
        RedisStorage(server.url, prefix="p")


@pytest.mark.parametrize("policy", ["noeviction", "volatile-lru", "volatile-ttl"])
def test_policies_that_spare_keys_without_ttl_are_not(server: RedisServer, policy: str) -> None:
    redis.Redis.from_url(server.url).config_set("maxmemory-policy", policy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RedisStorage(server.url, prefix="p")


def _snapshot(client: redis.Redis) -> dict[bytes, bytes]:
    return {k: client.dump(k) for k in client.scan_iter("p:*")}


def test_writes_refused_for_memory_raise_clearly_and_write_nothing(server: RedisServer) -> None:
    client = redis.Redis.from_url(server.url)
    storage = RedisStorage(server.url, prefix="p")
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "s")
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 0.5, FloatDistribution(0, 1))
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", int(client.info("memory")["used_memory"]) + 100_000)
    filler = 0
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        while True:
            client.set(f"filler:{filler}", b"x" * 1000)
            filler += 1
    before = _snapshot(client)

    writes = [
        lambda: storage.create_new_trial(study_id),
        lambda: storage.set_trial_param(trial_id, "y", 0.5, FloatDistribution(0, 1)),
        lambda: storage.set_trial_intermediate_value(trial_id, 1, 0.5),
        lambda: storage.set_trial_user_attr(trial_id, "k", "v"),
        lambda: storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0]),
        lambda: storage.create_new_study([StudyDirection.MINIMIZE], "t"),
    ]
    for write in writes:
        with pytest.raises(RedisOutOfMemoryError, match="out of memory.*nothing of it"):
            write()
    assert _snapshot(client) == before
    # Reads still work, and the trial is as it was.
    assert storage.get_trial(trial_id).params == {"x": 0.5}
    assert storage.get_trial(trial_id).state == TrialState.RUNNING

    client.delete(*[f"filler:{i}" for i in range(filler)])
    client.config_set("maxmemory", 0)
    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [1.0])
    assert storage.get_trial(trial_id).state == TrialState.COMPLETE
