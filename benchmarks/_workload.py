"""Workload W of the benchmarks: trials with 10 params of 4 distribution kinds, 10
intermediate values, user and system attrs; and the backends they are compared on."""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import datetime
import os
import random
import uuid

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
import redis

from optuna_redis import RedisStorage
from optuna_redis._local_redis import LocalRedisServer


def workload_trial(rng: random.Random, n: int) -> optuna.trial.FrozenTrial:
    """The n-th finished trial of workload W (deterministic for a given rng state)."""
    dists = {}
    params = {}
    for i in range(3):
        dists[f"x{i}"] = FloatDistribution(-10, 10)
        params[f"x{i}"] = rng.uniform(-10, 10)
        dists[f"lr{i}"] = FloatDistribution(1e-5, 1e-1, log=True)
        params[f"lr{i}"] = 10 ** rng.uniform(-5, -1)
    for i in range(2):
        dists[f"n{i}"] = IntDistribution(1, 512)
        params[f"n{i}"] = rng.randint(1, 512)
        dists[f"opt{i}"] = CategoricalDistribution(["adam", "sgd", "rmsprop"])
        params[f"opt{i}"] = rng.choice(["adam", "sgd", "rmsprop"])
    start = datetime.datetime(2026, 11, 1) + datetime.timedelta(seconds=n)
    trial = optuna.trial.create_trial(
        params=params,
        distributions=dists,
        value=rng.random(),
        intermediate_values={step: rng.random() for step in range(10)},
        user_attrs={"worker": f"host-{n % 8}", "loss_curve_min": rng.random(), "seed": n},
        system_attrs={"constraints": [rng.random() - 0.5]},
    )
    trial.datetime_start = start
    trial.datetime_complete = start + datetime.timedelta(seconds=1.5)
    return trial


def write_like_a_worker(
    storage: BaseStorage, study_id: int, trial: optuna.trial.FrozenTrial
) -> int:
    """Write a trial call by call, as a worker running it does; return its id."""
    trial_id = storage.create_new_trial(study_id)
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        storage.set_trial_param(trial_id, name, dist.to_internal_repr(value), dist)
    for step, value in trial.intermediate_values.items():
        storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in trial.user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    for key, value in trial.system_attrs.items():
        storage.set_trial_system_attr(trial_id, key, value)
    storage.set_trial_state_values(trial_id, trial.state, trial.values)
    return trial_id


def populate(storage: BaseStorage, n_trials: int, name: str = "w") -> int:
    """A study of n_trials trials of workload W, each written as a worker writes it."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
    rng = random.Random(0)
    for n in range(n_trials):
        write_like_a_worker(storage, study_id, workload_trial(rng, n))
    return study_id


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """$OPTUNA_REDIS_URL, else a private redis-server for the run."""
    url = os.environ.get("OPTUNA_REDIS_URL")
    if url:
        yield url
        return
    with LocalRedisServer(dir_prefix="optuna-redis-bench-") as server:
        yield server.url


def new_prefix() -> str:
    return f"optuna-redis-bench-{uuid.uuid4().hex[:8]}"


def drop_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
    finally:
        client.close()


def ours(url: str, prefix: str) -> RedisStorage:
    return RedisStorage(url, prefix=prefix)


def journal_redis(url: str, prefix: str) -> BaseStorage:
    from optuna.storages.journal import JournalRedisBackend
    from optuna.storages.journal import JournalStorage

    return JournalStorage(JournalRedisBackend(url, prefix=prefix))


class Studies:
    """The same study of n trials, written by workers into each backend that is measured."""

    def __init__(self, url: str, n: int) -> None:
        from optuna.storages import InMemoryStorage

        self.url = url
        self.n = n
        self.ours_prefix = new_prefix()
        self.journal_prefix = new_prefix()
        self.ours_id = populate(ours(url, self.ours_prefix), n)
        self.journal_id = populate(journal_redis(url, self.journal_prefix), n)
        self.inmemory = InMemoryStorage()
        self.inmemory_id = populate(self.inmemory, n)

    def drop(self) -> None:
        drop_prefix(self.url, self.ours_prefix)
        drop_prefix(self.url, self.journal_prefix)
