"""Worker functions for the multi-process tests, importable by ``spawn`` children.

Every worker builds its own ``RedisStorage`` from a URL and prefix, so the processes share
nothing but the Redis server. ``run_processes`` starts workers, collects their results and
re-raises a worker's traceback in the test process.
"""

from __future__ import annotations

from collections.abc import Sequence
import importlib
import multiprocessing
import os
import queue as queue_module
import time
import traceback
from typing import Any
import warnings

import optuna
from optuna.distributions import FloatDistribution
from optuna.exceptions import DuplicatedStudyError
from optuna.exceptions import ExperimentalWarning
from optuna.exceptions import UpdateFinishedTrialError
from optuna.study import StudyDirection
from optuna.trial import TrialState
import redis

from optuna_redis import RedisStorage

SPAWN = multiprocessing.get_context("spawn")
BARRIER_TIMEOUT = 60.0


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", ExperimentalWarning)


def _entry(results: Any, index: int, name: str, args: tuple[Any, ...]) -> None:
    _quiet()
    try:
        # "function" of this module, or "module.function" of another worker module.
        module, _, function = name.rpartition(".")
        found = vars(importlib.import_module(module)) if module else globals()
        result = found[function](*args)
    except BaseException:
        results.put((index, "error", traceback.format_exc()))
    else:
        results.put((index, "ok", result))


def start_process(name: str, args: tuple[Any, ...], results: Any, index: int) -> Any:
    process = SPAWN.Process(target=_entry, args=(results, index, name, args), daemon=True)
    process.start()
    return process


def collect(results: Any, processes: Sequence[Any], timeout: float) -> list[Any]:
    """Wait for one result per process; raise if a worker failed or took too long."""
    deadline = time.monotonic() + timeout
    out: dict[int, Any] = {}
    errors = []
    try:
        while len(out) + len(errors) < len(processes):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"only {len(out)} of {len(processes)} workers reported")
            try:
                index, status, value = results.get(timeout=min(remaining, 1.0))
            except queue_module.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    codes = [p.exitcode for p in dead]
                    raise RuntimeError(f"worker died: exit codes {codes}") from None
                continue
            if status == "ok":
                out[index] = value
            else:
                errors.append(value)
        if errors:
            raise AssertionError("worker failed:\n" + "\n".join(errors))
    finally:
        for p in processes:
            p.join(timeout=max(0.1, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join()
    return [out[i] for i in range(len(processes))]


def run_processes(calls: Sequence[tuple[str, tuple[Any, ...]]], timeout: float = 120) -> list:
    """Run ``globals()[name](*args)`` for each call in its own spawned process."""
    results = SPAWN.Queue()
    processes = [start_process(name, args, results, i) for i, (name, args) in enumerate(calls)]
    return collect(results, processes, timeout)


def poll(condition: Any, timeout: float, what: str = "condition") -> Any:
    """Call ``condition`` every 50 ms until it returns something true, and return that;
    TimeoutError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


# ------------------------------------------------------------------ workers


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -100, 100)
    y = trial.suggest_int("y", 0, 10)
    return x * x + y


def optimize(url: str, prefix: str, study_name: str, n_trials: int, seed: int, barrier) -> int:
    storage = RedisStorage(url, prefix=prefix)
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed)
    )
    barrier.wait(BARRIER_TIMEOUT)
    study.optimize(objective, n_trials=n_trials)
    return n_trials


def create_study(url: str, prefix: str, study_name: str, barrier) -> tuple[str, int | None]:
    storage = RedisStorage(url, prefix=prefix)
    barrier.wait(BARRIER_TIMEOUT)
    try:
        return "id", storage.create_new_study([StudyDirection.MINIMIZE], study_name)
    except DuplicatedStudyError:
        return "duplicated", None


def claim(url: str, prefix: str, trial_ids: list[int], barrier, finish: bool) -> list[int]:
    """Try to move every trial WAITING -> RUNNING; return the ids this process won."""
    storage = RedisStorage(url, prefix=prefix)
    won = []
    barrier.wait(BARRIER_TIMEOUT)
    for trial_id in trial_ids:
        try:
            if storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                won.append(trial_id)
                if finish:
                    storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [0.0])
        except UpdateFinishedTrialError:
            # Another process claimed and finished it already (see Study._pop_waiting_trial_id).
            pass
    return won


WRITE_KINDS = ("intermediate", "user_attr", "param")


def _write(storage: RedisStorage, trial_id: int, i: int) -> str:
    kind = WRITE_KINDS[i % 3]
    if kind == "intermediate":
        storage.set_trial_intermediate_value(trial_id, i, float(i))
    elif kind == "user_attr":
        storage.set_trial_user_attr(trial_id, f"a{i}", i)
    else:
        storage.set_trial_param(trial_id, f"p{i}", i / 1e6, FloatDistribution(0.0, 1.0))
    return kind


def write_until_finished(
    url: str, prefix: str, trial_ids: list[int], started: list, deadline_s: float
) -> list[tuple[list[int], int]]:
    """Write to each trial in turn until it is finished under us.

    Returns, per trial, the indices of the writes that succeeded and of the one that raised
    UpdateFinishedTrialError.
    """
    storage = RedisStorage(url, prefix=prefix)
    deadline = time.monotonic() + deadline_s
    out = []
    for trial_id, event in zip(trial_ids, started, strict=True):
        succeeded = []
        i = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError(f"trial {trial_id} was never finished")
            try:
                _write(storage, trial_id, i)
            except UpdateFinishedTrialError:
                out.append((succeeded, i))
                break
            succeeded.append(i)
            if i == 30:
                event.set()
            i += 1
    return out


def finish_when_started(
    url: str, prefix: str, trial_ids: list[int], started: list, values: list[float]
) -> list[bool]:
    storage = RedisStorage(url, prefix=prefix)
    out = []
    for trial_id, event, value in zip(trial_ids, started, values, strict=True):
        if not event.wait(BARRIER_TIMEOUT):
            raise TimeoutError("the writer never started")
        out.append(storage.set_trial_state_values(trial_id, TrialState.COMPLETE, [value]))
    return out


def optimize_and_hang(url: str, prefix: str, study_name: str, started) -> None:
    """Start one trial with heartbeats on, signal, and never finish (killed by the test)."""
    storage = RedisStorage(url, prefix=prefix, heartbeat_interval=1, grace_period=2)
    study = optuna.load_study(study_name=study_name, storage=storage)

    def hang(trial: optuna.Trial) -> float:
        trial.suggest_float("x", -10, 10)
        trial.set_user_attr("worker", "doomed")
        started.set()
        while True:
            time.sleep(3600)

    study.optimize(hang, n_trials=1)


class CountingCallback:
    """A stale-trial callback that counts its calls per trial number in a Redis hash."""

    def __init__(self, url: str, key: str) -> None:
        if url.startswith("redis+cluster://"):
            from redis.cluster import RedisCluster

            self.client = RedisCluster.from_url(url.replace("redis+cluster://", "redis://", 1))
        else:
            self.client = redis.Redis.from_url(url)
        self.key = key
        self.calls = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        assert trial.state == TrialState.FAIL, trial
        self.client.hincrby(self.key, str(trial.number), 1)
        self.calls += 1


def fail_stale(
    url: str, prefix: str, study_name: str, counter_key: str, barrier, repeats: int
) -> int:
    callback = CountingCallback(url, counter_key)
    storage = RedisStorage(
        url, prefix=prefix, heartbeat_interval=1, heartbeat_stale_trial_callback=callback
    )
    study = optuna.load_study(study_name=study_name, storage=storage)
    barrier.wait(BARRIER_TIMEOUT)
    for _ in range(repeats):
        optuna.storages.fail_stale_trials(study)
    return callback.calls


def optimize_in_time_zone(url: str, prefix: str, study_name: str, tz: str, n_trials: int) -> str:
    """Optimize with this process's local time zone set to ``tz``; return its UTC offset."""
    os.environ["TZ"] = tz
    time.tzset()
    storage = RedisStorage(url, prefix=prefix)
    study = optuna.load_study(study_name=study_name, storage=storage)
    study.optimize(objective, n_trials=n_trials)
    return time.strftime("%z")
