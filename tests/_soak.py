"""The chaos soak: heartbeat workers SIGKILLed at random moments and replaced, and Redis
restarted once, while the study runs; then what must hold of the study it leaves.

``run`` drives it (``tests/test_soak.py`` for the short run in CI, ``ci/soak.py`` for
release checks); ``worker`` is the spawn child; ``check`` returns what went wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
import dataclasses
import os
import queue as queue_module
import random
import time
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.storages import fail_stale_trials
from optuna.trial import FrozenTrial
from optuna.trial import TrialState

import _workers
from optuna_redis import RedisStorage

INTERVAL, GRACE = 1, 3
STEPS = 5  # intermediate values each trial reports
SAMPLERS = ("tpe", "random")


@dataclasses.dataclass
class Report:
    duration: float
    kills: int = 0
    restarts: int = 0
    started: int = 0
    killed_pids: set[int] = dataclasses.field(default_factory=set)
    errors: list[str] = dataclasses.field(default_factory=list)
    finished: list[int] = dataclasses.field(default_factory=list)
    trials: list[FrozenTrial] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        states = Counter(t.state.name for t in self.trials)
        retries = sum("failed_trial" in t.system_attrs for t in self.trials)
        return (
            f"soak {self.duration:.0f} s: {self.started} workers started, {self.kills} "
            f"SIGKILLed, {self.restarts} Redis restart(s); {len(self.trials)} trials "
            f"{dict(sorted(states.items()))}, {retries} of them retries"
        )


def _storage(url: str, prefix: str, **kwargs: Any) -> RedisStorage:
    return RedisStorage(
        url, prefix=prefix, heartbeat_interval=INTERVAL, grace_period=GRACE, **kwargs
    )


def worker(url: str, prefix: str, study_name: str, sampler: str, seed: int, stop: Any) -> int:
    """Optimize until ``stop`` is set; return the number of trials finished."""
    storage = _storage(
        url, prefix, heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=5)
    )
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=10),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=samplers[sampler]())
    finished = 0

    def objective(trial: optuna.Trial) -> float:
        # Keyed by number: a retry inherits its failed trial's user attrs.
        trial.set_user_attr(f"pid@{trial.number}", os.getpid())
        x = trial.suggest_float("x", -10, 10)
        y = trial.suggest_int("y", 0, 10)
        for step in range(STEPS):
            trial.report(x * x + step, step)
            time.sleep(0.01)
        return x * x + y

    def stop_when_asked(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal finished
        finished += 1
        if stop.is_set():
            study.stop()

    if not stop.is_set():
        study.optimize(objective, callbacks=[stop_when_asked])
    return finished


def run(
    url: str,
    prefix: str,
    duration: float,
    restart: Callable[[], None],
    n_workers: int = 6,
    kill_every: tuple[float, float] = (1.5, 3.5),
    seed: int = 0,
) -> Report:
    """Soak a new study for ``duration`` seconds; ``restart`` restarts Redis (once, at
    half time). Returns what happened and the trials left, once stale trials are failed."""
    rng = random.Random(seed)
    report = Report(duration)
    storage = _storage(url, prefix)
    study = optuna.create_study(study_name="soak", storage=storage)
    results = _workers.SPAWN.Queue()
    stop = _workers.SPAWN.Event()
    live: dict[int, Any] = {}  # worker index -> process

    def spawn() -> None:
        index = report.started
        args = (url, prefix, "soak", SAMPLERS[index % 2], seed * 1000 + index, stop)
        live[index] = _workers.start_process(f"{__name__}.worker", args, results, index)
        report.started += 1

    def gather(block: float) -> None:
        try:
            while True:
                index, status, value = results.get(timeout=block)
                if status == "ok":
                    report.finished.append(value)
                else:
                    report.errors.append(value)
                live.pop(index, None)
                block = 0.01
        except queue_module.Empty:
            pass

    start = time.monotonic()
    try:
        for _ in range(n_workers):
            spawn()
        next_kill = start + rng.uniform(*kill_every)
        restart_at = start + duration / 2
        while time.monotonic() < start + duration:
            gather(0.05)
            now = time.monotonic()
            if report.restarts == 0 and now >= restart_at:
                restart()
                report.restarts += 1
            if now >= next_kill and live:
                index = rng.choice(sorted(live))
                process = live.pop(index)
                process.kill()
                process.join(10)
                report.killed_pids.add(process.pid)
                report.kills += 1
                spawn()
                next_kill = now + rng.uniform(*kill_every)
        stop.set()
        deadline = time.monotonic() + 60
        while live and time.monotonic() < deadline:
            gather(0.5)
            for index, process in list(live.items()):
                if process.exitcode is not None and process.exitcode != 0:
                    report.errors.append(f"worker {index} exited with {process.exitcode}")
                    live.pop(index)
        for index in live:
            report.errors.append(f"worker {index} did not stop within 60 s")
    finally:
        stop.set()
        for process in live.values():
            process.kill()
            process.join(10)

    # Every worker is gone: once the grace period has passed, whatever is still RUNNING is
    # stale, and a fresh heartbeat storage fails it.
    judge = _storage(url, prefix)
    judged = optuna.load_study(study_name="soak", storage=judge)
    time.sleep(GRACE)
    deadline = time.monotonic() + INTERVAL + 10
    while True:
        fail_stale_trials(judged)
        report.trials = judge.get_all_trials(study._study_id)
        if time.monotonic() > deadline or all(
            t.state != TrialState.RUNNING for t in report.trials
        ):
            return report
        time.sleep(0.2)


def check(report: Report) -> list[str]:
    """What the soak's study must be, as a list of the ways it is not."""
    problems = [f"a worker failed: {e}" for e in report.errors]
    trials = report.trials
    if [t.number for t in trials] != list(range(len(trials))):
        problems.append("trial numbers are not dense and unique")
    running = [t.number for t in trials if t.state == TrialState.RUNNING]
    if running:
        problems.append(f"trials left RUNNING after the grace period: {running}")
    failed = [t for t in trials if t.state == TrialState.FAIL]
    # Each killed worker was running one trial at most, so it accounts for one FAIL at
    # most; a trial that got as far as its objective names its worker's pid.
    pids = Counter(t.user_attrs.get(f"pid@{t.number}") for t in failed)
    named = {pid for pid in pids if pid is not None}
    if named - report.killed_pids:
        problems.append(
            f"FAILed trials of workers never killed: pids {named - report.killed_pids}"
        )
    if any(n > 1 for pid, n in pids.items() if pid is not None):
        problems.append(f"a killed worker left more than one FAILed trial: {pids}")
    if len(failed) > report.kills:
        problems.append(f"{len(failed)} FAILed trials for {report.kills} kills")
    # Each retry names the trial it re-runs last in its retry history ("failed_trial" names
    # the first of a series: the retry of a retry shares it).
    retries = Counter(
        t.system_attrs["retry_history"][-1] for t in trials if "retry_history" in t.system_attrs
    )
    if any(n > 1 for n in retries.values()):
        problems.append(f"a failed trial was re-run more than once: {retries}")
    if set(retries) - {t.number for t in failed}:
        problems.append("a retry names a trial that did not fail")
    for t in trials:
        if t.state == TrialState.COMPLETE and sorted(t.intermediate_values) != list(range(STEPS)):
            problems.append(f"trial {t.number} is COMPLETE without all its intermediate values")
    if report.kills == 0 or report.restarts == 0:
        problems.append("the soak ran without a kill or without a restart")
    return problems
