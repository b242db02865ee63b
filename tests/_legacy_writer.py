"""Writes studies through Optuna 3.0.6's own pickling ``optuna.storages.RedisStorage``, and
dumps what it wrote as JSON, for ``test_import_legacy.py`` to compare with what the import
produced.

Run with the Python of a venv holding Optuna 3.0.6 (the test builds it), not the suite's:
``python _legacy_writer.py REDIS_URL OUT.json``. The studies cover every trial state
(COMPLETE, PRUNED, FAIL, RUNNING, WAITING from ``enqueue_trial``), a multi-objective study,
study and trial user and system attrs, intermediate values, every distribution class of
Optuna 3.0 (and the deprecated 2.x ones, which 3.0 converts to Float/IntDistribution before
it pickles a trial), ±inf values, and a study deleted again (which must not be imported).
"""

from __future__ import annotations

import json
import math
import sys
import warnings

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import DiscreteUniformDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import IntLogUniformDistribution
from optuna.distributions import IntUniformDistribution
from optuna.distributions import LogUniformDistribution
from optuna.distributions import UniformDistribution
from optuna.distributions import distribution_to_json
from optuna.trial import TrialState

warnings.simplefilter("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)


# The studies left after write(), in creation order ("deleted" is gone).
STUDY_NAMES = ["single", "multi", "old-distributions", "empty"]


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -10.0, 10.0)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    q = trial.suggest_float("q", 0.0, 1.0, step=0.25)
    n = trial.suggest_int("n", 1, 9)
    units = trial.suggest_int("units", 1, 1024, log=True)
    even = trial.suggest_int("even", 0, 10, step=2)
    kind = trial.suggest_categorical("kind", ["a", 1, 2.5, None, True])
    trial.set_user_attr("note", f"trial {trial.number}")
    trial.set_user_attr("nested", {"list": [1, 2.5, "x"], "n": None})
    for step in range(3):
        trial.report(x * x + step, step)
    if trial.number % 5 == 3:
        raise optuna.TrialPruned()
    if trial.number % 5 == 4:
        raise RuntimeError("a failing trial")
    return x * x + lr + q + n + units / 1024 + even + (0 if kind is None else 1)


def write(url: str) -> None:
    storage = optuna.storages.RedisStorage(url)

    single = optuna.create_study(study_name="single", storage=storage, direction="minimize")
    single.set_user_attr("owner", "legacy")
    single.set_user_attr("config", {"layers": [64, 32], "dropout": 0.5})
    storage.set_study_system_attr(single._study_id, "origin", "optuna 3.0.6")
    single.enqueue_trial({"x": 1.5, "n": 3})
    single.optimize(objective, n_trials=10, catch=(RuntimeError,))
    single.enqueue_trial({"x": -2.0})  # Stays WAITING.
    running = single.ask()  # Stays RUNNING.
    running.suggest_float("x", -10.0, 10.0)
    running.report(0.5, 0)
    running.set_user_attr("alive", True)
    storage.set_trial_system_attr(running._trial_id, "worker", "host-1")

    multi = optuna.create_study(
        study_name="multi", storage=storage, directions=["minimize", "maximize"]
    )
    multi.set_user_attr("kind", "pareto")

    def two(trial: optuna.Trial) -> tuple[float, float]:
        a = trial.suggest_float("a", 0.0, 1.0)
        b = trial.suggest_int("b", 0, 5)
        return a + b, a * b

    multi.optimize(two, n_trials=6)
    multi.enqueue_trial({"a": 0.5, "b": 2})

    # Deprecated 2.x distribution classes: 3.0 converts them before it pickles the trial.
    old = optuna.create_study(
        study_name="old-distributions", storage=storage, direction="maximize"
    )
    old.add_trial(
        optuna.trial.create_trial(
            params={"u": 0.5, "lu": 0.01, "du": 0.5, "iu": 4, "ilu": 8, "c": "b"},
            distributions={
                "u": UniformDistribution(0.0, 1.0),
                "lu": LogUniformDistribution(1e-3, 1.0),
                "du": DiscreteUniformDistribution(0.0, 1.0, 0.25),
                "iu": IntUniformDistribution(0, 10, 2),
                "ilu": IntLogUniformDistribution(1, 64),
                "c": CategoricalDistribution(("a", "b")),
            },
            value=math.inf,
            intermediate_values={0: 1.0, 1: -math.inf},
            user_attrs={"added": True},
            system_attrs={"sys": [1, 2]},
        )
    )
    old.add_trial(
        optuna.trial.create_trial(
            params={"f": 0.3, "i": 2},
            distributions={"f": FloatDistribution(0.0, 1.0), "i": IntDistribution(0, 3)},
            state=TrialState.FAIL,
        )
    )

    gone = optuna.create_study(study_name="deleted", storage=storage)
    gone.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    optuna.delete_study(study_name="deleted", storage=storage)

    optuna.create_study(study_name="empty", storage=storage)


def dump(url: str) -> list[dict]:
    storage = optuna.storages.RedisStorage(url)
    studies = []
    # Not get_all_studies(): Optuna 3.0.6's raises on a multi-objective study.
    for name in STUDY_NAMES:
        study_id = storage.get_study_id_from_name(name)
        trials = []
        for t in storage.get_all_trials(study_id, deepcopy=False):
            trials.append(
                {
                    "number": t.number,
                    "state": t.state.name,
                    "values": None if t.values is None else [repr(v) for v in t.values],
                    "intermediate_values": {
                        str(k): repr(v) for k, v in t.intermediate_values.items()
                    },
                    "params": t.params,
                    "distributions": {
                        k: json.loads(distribution_to_json(d)) for k, d in t.distributions.items()
                    },
                    "distribution_classes": {
                        k: type(d).__name__ for k, d in t.distributions.items()
                    },
                    "user_attrs": t.user_attrs,
                    "system_attrs": t.system_attrs,
                    "datetime_start": None
                    if t.datetime_start is None
                    else t.datetime_start.isoformat(),
                    "datetime_complete": None
                    if t.datetime_complete is None
                    else t.datetime_complete.isoformat(),
                }
            )
        studies.append(
            {
                "study_name": name,
                "directions": [d.name for d in storage.get_study_directions(study_id)],
                "user_attrs": storage.get_study_user_attrs(study_id),
                "system_attrs": storage.get_study_system_attrs(study_id),
                "trials": trials,
            }
        )
    return studies


def main() -> None:
    url, out = sys.argv[1], sys.argv[2]
    write(url)
    with open(out, "w") as f:
        json.dump({"optuna": optuna.__version__, "studies": dump(url)}, f, indent=1)


if __name__ == "__main__":
    main()
