"""End-to-end ``study.optimize`` (RandomSampler, 10 suggests, 1 worker): ours side by side
with JournalRedis and InMemory. Trials per second = N_TRIALS / median.

    python -m pytest benchmarks/test_optimize.py
"""

from __future__ import annotations

import optuna
from optuna.storages import InMemoryStorage
import pytest

import _workload

N_TRIALS = 200

optuna.logging.set_verbosity(optuna.logging.WARNING)


def objective(trial: optuna.Trial) -> float:
    total = 0.0
    for i in range(8):
        total += trial.suggest_float(f"x{i}", -10, 10) ** 2
    total += trial.suggest_int("n", 1, 100)
    total += 0.0 if trial.suggest_categorical("c", ["a", "b", "c"]) == "a" else 1.0
    return total


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory"])
def test_optimize_random_one_worker(benchmark, redis_url: str, backend: str) -> None:
    benchmark.group = f"optimize {N_TRIALS} trials, RandomSampler, 10 suggests, 1 worker"
    prefixes = []

    def run() -> None:
        prefix = _workload.new_prefix()
        prefixes.append(prefix)
        if backend == "ours":
            storage = _workload.ours(redis_url, prefix)
        elif backend == "journal_redis":
            storage = _workload.journal_redis(redis_url, prefix)
        else:
            storage = InMemoryStorage()
        study = optuna.create_study(storage=storage, sampler=optuna.samplers.RandomSampler(0))
        study.optimize(objective, n_trials=N_TRIALS)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1)
    finally:
        for prefix in prefixes:
            _workload.drop_prefix(redis_url, prefix)
