"""Whole Optuna workflows on RedisStorage: what users actually run."""

from __future__ import annotations

import math

import optuna
from optuna.storages import RDBStorage
from optuna.trial import TrialState
import pytest

from optuna_redis import RedisStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_int("y", -3, 3)
    c = trial.suggest_categorical("c", ["a", "b", None])
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.set_user_attr("note", {"c": c, "tags": [1, 2]})
    return (x - 1) ** 2 + y**2 + (0.5 if c == "a" else 0.0) + math.log10(lr) ** 2 / 100


def test_tpe_optimize(storage: RedisStorage) -> None:
    study = optuna.create_study(storage=storage, sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(_objective, n_trials=40)

    trials = study.trials
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert study.best_value == min(t.value for t in trials)
    assert study.best_trial.user_attrs["note"]["tags"] == [1, 2]
    # The same study seen through another storage instance (another worker).
    again = optuna.load_study(study_name=study.study_name, storage=storage)
    assert again.trials == trials


def test_load_if_exists_and_reopen(redis_url: str, prefix: str) -> None:
    first = optuna.create_study(
        study_name="shared", storage=RedisStorage(redis_url, prefix=prefix)
    )
    first.optimize(_objective, n_trials=5)
    second = optuna.create_study(
        study_name="shared", storage=RedisStorage(redis_url, prefix=prefix), load_if_exists=True
    )
    second.optimize(_objective, n_trials=5)
    assert [t.number for t in first.trials] == list(range(10))
    with pytest.raises(optuna.exceptions.DuplicatedStudyError):
        optuna.create_study(study_name="shared", storage=RedisStorage(redis_url, prefix=prefix))


def test_multi_objective_with_constraints(storage: RedisStorage) -> None:
    sampler = optuna.samplers.NSGAIISampler(seed=1)
    study = optuna.create_study(
        storage=storage, directions=["minimize", "maximize"], sampler=sampler
    )

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 2)
        y = trial.suggest_float("y", 0, 2)
        trial.set_user_attr("constraint", x + y - 2.5)
        trial.set_constraint("sum", x + y - 2.5)
        return x**2 + y, -x + y**2

    study.optimize(objective, n_trials=30)
    assert len(study.trials) == 30
    assert all(len(t.values) == 2 for t in study.trials)
    assert any(t.user_attrs["constraint"] > 0 for t in study.trials)
    best = study.best_trials
    assert best and all(t.user_attrs["constraint"] <= 0 for t in best)


def test_pruning_with_intermediate_values(storage: RedisStorage) -> None:
    study = optuna.create_study(
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=2),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 10)
        for step in range(10):
            trial.report(x * (10 - step), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=25)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for t in study.trials:
        assert list(t.intermediate_values) == list(range(len(t.intermediate_values)))
        assert t.intermediate_values[0] == t.params["x"] * 10


def test_enqueue_trial_runs_fixed_params(storage: RedisStorage) -> None:
    study = optuna.create_study(storage=storage)
    study.enqueue_trial({"x": 1.5, "y": 2, "c": "b", "lr": 0.01})
    study.enqueue_trial({"x": -2.0}, user_attrs={"why": "hunch"})
    assert [t.state for t in study.trials] == [TrialState.WAITING, TrialState.WAITING]

    study.optimize(_objective, n_trials=3)
    trials = study.trials
    assert len(trials) == 3
    assert trials[0].params == {"x": 1.5, "y": 2, "c": "b", "lr": 0.01}
    assert trials[1].params["x"] == -2.0 and trials[1].user_attrs["why"] == "hunch"
    assert all(t.state == TrialState.COMPLETE for t in trials)


def test_ask_and_tell(storage: RedisStorage) -> None:
    study = optuna.create_study(storage=storage, direction="maximize")
    for i in range(5):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, trial.params["x"] + i)
    failed = study.ask()
    study.tell(failed, state=TrialState.FAIL)
    with pytest.raises(ValueError, match="Cannot tell a FAIL trial"):
        study.tell(failed, 1.0)
    assert study.best_trial.number == 4
    assert study.trials[-1].state == TrialState.FAIL


@pytest.mark.parametrize("direction", ["to_redis", "from_redis"])
def test_copy_study_with_rdb(
    storage: RedisStorage,
    tmp_path,
    direction: str,  # noqa: ANN001
) -> None:
    rdb = RDBStorage(f"sqlite:///{tmp_path / 'copy.db'}")
    source, target = (rdb, storage) if direction == "to_redis" else (storage, rdb)
    study = optuna.create_study(study_name="orig", storage=source)
    study.set_user_attr("dataset", "mnist")
    study.optimize(_objective, n_trials=8)
    study.enqueue_trial({"x": 0.0})

    optuna.copy_study(
        from_study_name="orig",
        from_storage=source,
        to_storage=target,
        to_study_name="copy",
    )
    copied = optuna.load_study(study_name="copy", storage=target)
    assert copied.user_attrs == {"dataset": "mnist"}
    original = study.trials
    assert len(copied.trials) == len(original)
    for a, b in zip(original, copied.trials, strict=True):
        assert (a.number, a.state, a.values, a.params) == (b.number, b.state, b.values, b.params)
        assert a.distributions == b.distributions
        assert a.user_attrs == b.user_attrs
        assert a.datetime_start == b.datetime_start
        assert a.datetime_complete == b.datetime_complete
