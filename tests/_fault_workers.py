"""Worker functions for the fault tests (``test_faults``), importable by ``spawn`` children.

Each worker builds its own ``RedisStorage`` from a URL and prefix. ``start`` runs one in a
daemon process and reports its result or traceback on a queue; ``_workers.collect`` gathers
the reports and re-raises a worker's traceback in the test process.
"""

from __future__ import annotations

import os
import time
from typing import Any

import optuna
from optuna.exceptions import StorageInternalError
from optuna.storages import RetryHeartbeatStaleTrialCallback

import _workers
from optuna_redis import RedisStorage
from optuna_redis import RedisUnavailableError

SPAWN = _workers.SPAWN
# Each stop condition of a worker is an event the test sets; this bounds a forgotten one.
WORKER_LIMIT = 120.0


def start(name: str, args: tuple[Any, ...], results: Any, index: int) -> Any:
    """Run ``name(*args)`` of this module in a daemon spawn process."""
    return _workers.start_process(f"{__name__}.{name}", args, results, index)


def _load(storage: RedisStorage, study_name: str, seed: int) -> optuna.Study:
    return optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed)
    )


def cheap_objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10, 10)
    y = trial.suggest_int("y", 0, 10)
    z = trial.suggest_categorical("z", ["a", "b", "c"])
    # Stretches the run over several seconds, so a restart lands in its middle.
    time.sleep(0.01)
    return x * x + y + "abc".index(z)


def optimize_through_restart(
    url: str, prefix: str, study_name: str, n_trials: int, seed: int, barrier
) -> int:
    storage = RedisStorage(url, prefix=prefix, retry_deadline=30)
    study = _load(storage, study_name, seed)
    barrier.wait(_workers.BARRIER_TIMEOUT)
    study.optimize(cheap_objective, n_trials=n_trials)
    return n_trials


def optimize_until_stopped(
    url: str, prefix: str, study_name: str, seed: int, stop, hang_after: int | None = None
) -> int:
    """Run trials with heartbeats until ``stop`` is set; return how many finished.

    Each trial is tagged with this process's pid and works for 0.8 s. With ``hang_after``,
    the trial after that many (not a retry) is tagged ``hang`` and never ends: the test
    kills the worker in it.
    """
    storage = RedisStorage(
        url,
        prefix=prefix,
        heartbeat_interval=1,
        grace_period=3,
        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(),
    )
    study = _load(storage, study_name, seed)
    started = finished = 0

    def objective(trial: optuna.Trial) -> float:
        nonlocal started
        x = trial.suggest_float("x", -10, 10)
        trial.set_user_attr("pid", os.getpid())
        if (
            hang_after is not None
            and started >= hang_after
            and "failed_trial" not in storage.get_trial_system_attrs(trial._trial_id)
        ):
            trial.set_user_attr("hang", True)
            time.sleep(WORKER_LIMIT)
        started += 1
        time.sleep(0.8)
        return x * x

    def stop_when_asked(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal finished
        finished += 1
        if stop.is_set():
            study.stop()

    study.optimize(objective, timeout=WORKER_LIMIT, callbacks=[stop_when_asked])
    return finished


def _chain(error: BaseException) -> list[BaseException]:
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def optimize_into_outage(
    url: str, prefix: str, study_name: str, raised, back, retry_deadline: float
) -> dict[str, Any]:
    """Optimize until the storage gives up on a Redis outage; once Redis is back, go on.

    When ``optimize`` raises, makes one more storage call (Redis is still down) and times
    it, then sets ``raised``, waits for ``back`` and runs a few more trials with the same
    storage.
    """
    storage = RedisStorage(url, prefix=prefix, retry_deadline=retry_deadline)
    study = _load(storage, study_name, 0)
    try:
        try:
            study.optimize(cheap_objective, timeout=WORKER_LIMIT)
        except Exception as e:
            raised_at = time.monotonic()
            chain = _chain(e)
        else:
            raise AssertionError("optimize ran to its timeout: Redis never went away")
        call_start = time.monotonic()
        try:
            storage.get_all_trials(study._study_id)
        except RedisUnavailableError as e:
            call = {"seconds": time.monotonic() - call_start, "message": str(e)}
        else:
            raise AssertionError("a storage call succeeded during the outage")
    finally:
        raised.set()
    if not back.wait(WORKER_LIMIT):
        raise TimeoutError("the test never said Redis is back")
    before = len(study.trials)
    study.optimize(cheap_objective, n_trials=5)
    unavailable = [x for x in chain if isinstance(x, RedisUnavailableError)]
    return {
        "raised_at": raised_at,
        "chain": [type(x).__name__ for x in chain],
        "storage_internal": bool(unavailable) and isinstance(unavailable[0], StorageInternalError),
        "message": str(unavailable[0]) if unavailable else "",
        "call": call,
        "resumed": len(study.trials) - before,
    }
