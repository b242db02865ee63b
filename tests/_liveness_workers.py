"""Workers of the liveness tests (``test_liveness``), importable by ``spawn`` children.

Each one runs a heartbeat storage and stops dead at a chosen point of a trial's life,
where the test SIGKILLs it: ``entered`` is set there, and the worker never goes on.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from optuna_redis import RedisStorage

# Long enough never to end before the test kills the worker.
FOREVER = 3600.0

# Where a worker stops, in the order Optuna's optimize reaches them for a new trial:
# - "get_trial": inside study.ask(), after create_new_trial (or the claim of a WAITING
#   trial), in the Trial constructor's get_trial;
# - "before_trial": inside study.ask(), in the sampler's before_trial;
# - "sample_relative": in the objective's first suggest (Optuna samples the relative
#   params lazily), once the heartbeat thread has started, most often before its first
#   beat;
# - "ask": a process using ask()/tell(), after study.ask() returned.
POINTS = ("get_trial", "before_trial", "sample_relative", "ask")


def _stop_here(entered: Any) -> None:
    entered.set()
    time.sleep(FOREVER)


class _StoppingStorage(RedisStorage):
    """Stops in the first get_trial after this process created or claimed a trial."""

    entered: Any = None
    _armed = False

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        self._armed = True
        return trial_id

    def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
        changed = super().set_trial_state_values(trial_id, state, values)
        if changed and state == optuna.trial.TrialState.RUNNING:
            self._armed = True
        return changed

    def get_trial(self, trial_id: int) -> FrozenTrial:
        if self._armed:
            _stop_here(self.entered)
        return super().get_trial(trial_id)


class _StoppingSampler(optuna.samplers.RandomSampler):
    def __init__(self, point: str, entered: Any) -> None:
        super().__init__(seed=0)
        self._point = point
        self._entered = entered

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if self._point == "before_trial":
            _stop_here(self._entered)
        super().before_trial(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: Any) -> Any:
        if self._point == "sample_relative":
            _stop_here(self._entered)
        return super().sample_relative(study, trial, search_space)


def stop_in_trial(
    url: str, prefix: str, study_name: str, point: str, interval: int, grace: int, entered: Any
) -> None:
    """Start one trial on a heartbeat storage and stop at ``point`` (see ``POINTS``)."""
    storage_class = _StoppingStorage if point == "get_trial" else RedisStorage
    storage = storage_class(url, prefix=prefix, heartbeat_interval=interval, grace_period=grace)
    storage.entered = entered
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=_StoppingSampler(point, entered)
    )
    if point == "ask":
        study.ask().suggest_float("x", -10, 10)
        _stop_here(entered)

    def objective(trial: optuna.Trial) -> float:
        # "y" is never enqueued: its suggest samples the relative params.
        return trial.suggest_float("x", -10, 10) ** 2 + trial.suggest_float("y", -1, 1)

    study.optimize(objective, n_trials=1)
    raise AssertionError(f"the worker went past {point!r}")
