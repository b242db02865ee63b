"""End-to-end ``study.optimize`` (10 suggests), ours side by side with JournalRedis and InMemory.

    python -m pytest benchmarks/test_optimize.py

One worker: N_TRIALS trials with RandomSampler (storage-bound) and with TPESampler (which
reads all trials for every trial it samples), for ours, JournalRedis and InMemory.

Four worker processes (multiprocessing "spawn", each ``optuna.load_study(...).optimize``
of N_TRIALS_PER_WORKER trials on one study): ours and JournalRedis only, since an
InMemoryStorage lives in one process and cannot be shared. A round times the optimize
loops alone: the workers start, load the study and wait for a go before the clock starts,
and it stops when the last worker reports done.

Every case reports ``extra_info["trials_per_s"]`` (trials of a round / median round).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
import multiprocessing
from typing import Any

import optuna
import pytest

import _workload
from _workload import objective

N_TRIALS = 200
WORKERS = 4
N_TRIALS_PER_WORKER = 100
# Seconds a spawned worker may take to import Optuna and load the study, and to finish.
WORKER_TIMEOUT = 300

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _report_trials_per_s(benchmark, n_trials: int) -> None:  # noqa: ANN001
    benchmark.extra_info["trials_per_s"] = round(n_trials / benchmark.stats.stats.median, 1)


@pytest.mark.parametrize("backend", ["ours", "journal_redis", "inmemory"])
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_optimize_one_worker(benchmark, redis_url: str, backend: str, sampler: str) -> None:
    name = {"random": "RandomSampler", "tpe": "TPESampler"}[sampler]
    benchmark.group = f"optimize {N_TRIALS} trials, {name}, 10 suggests, 1 worker"
    prefixes = []

    def run() -> None:
        prefix = _workload.new_prefix()
        prefixes.append(prefix)
        storage = _workload.storage_for(backend, redis_url, prefix)
        study = optuna.create_study(storage=storage, sampler=_workload.sampler_for(sampler, 0))
        study.optimize(objective, n_trials=N_TRIALS)

    try:
        benchmark.pedantic(run, rounds=3, iterations=1)
        _report_trials_per_s(benchmark, N_TRIALS)
    finally:
        for prefix in prefixes:
            _workload.drop_prefix(redis_url, prefix)


@dataclass
class _Workers:
    """Worker processes of one round, loaded and waiting for ``go``."""

    processes: list[Any]
    go: Any
    done: Any
    prefix: str
    study_name: str
    results: list[tuple[int, str | None]] = field(default_factory=list)


def _spawn_workers(backend: str, url: str, sampler: str) -> _Workers:
    """A new study and WORKERS processes that have loaded it; returns once all are ready."""
    ctx = multiprocessing.get_context("spawn")
    prefix = _workload.new_prefix()
    study_name = f"bench-{prefix}"
    optuna.create_study(study_name=study_name, storage=_workload.storage_for(backend, url, prefix))
    ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(
            target=_workload.optimize_worker,
            args=(backend, url, prefix, study_name, N_TRIALS_PER_WORKER, sampler, seed),
            kwargs={"ready": ready, "go": go, "done": done},
            daemon=True,
        )
        for seed in range(WORKERS)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=WORKER_TIMEOUT)
    return _Workers(processes, go, done, prefix, study_name)


def _run_workers(workers: _Workers) -> None:
    workers.go.set()
    for _ in workers.processes:
        workers.results.append(workers.done.get(timeout=WORKER_TIMEOUT))


def _finish(workers: _Workers, url: str, backend: str) -> list[str]:
    """Join the processes, check the study, drop its keys; return what went wrong."""
    try:
        for process in workers.processes:
            process.join(timeout=WORKER_TIMEOUT)
            if process.is_alive():
                process.kill()
        errors = [error for _, error in workers.results if error is not None]
        if not errors:
            storage = _workload.storage_for(backend, url, workers.prefix)
            n = storage.get_n_trials(storage.get_study_id_from_name(workers.study_name))
            if n != WORKERS * N_TRIALS_PER_WORKER:
                errors.append(f"the study has {n} trials, not {WORKERS * N_TRIALS_PER_WORKER}")
        return errors
    finally:
        _workload.drop_prefix(url, workers.prefix)


@pytest.mark.parametrize("backend", ["ours", "journal_redis"])
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_optimize_worker_processes(benchmark, redis_url: str, backend: str, sampler: str) -> None:
    name = {"random": "RandomSampler", "tpe": "TPESampler"}[sampler]
    benchmark.group = (
        f"optimize {WORKERS}x{N_TRIALS_PER_WORKER} trials, {name}, 10 suggests, "
        f"{WORKERS} worker processes"
    )
    rounds: list[_Workers] = []

    def setup() -> tuple[tuple[_Workers], dict[str, Any]]:
        rounds.append(_spawn_workers(backend, redis_url, sampler))
        return (rounds[-1],), {}

    errors: list[str] = []
    try:
        benchmark.pedantic(_run_workers, setup=setup, rounds=3, iterations=1)
        _report_trials_per_s(benchmark, WORKERS * N_TRIALS_PER_WORKER)
    finally:
        for workers in rounds:
            errors += _finish(workers, redis_url, backend)
    assert not errors, errors[0]
