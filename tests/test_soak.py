"""The chaos soak (``_soak``): workers SIGKILLed at random moments and replaced, Redis
killed and restarted once (AOF, fsync always), over TPE and Random; afterwards no trial is
left RUNNING, numbers are dense, every FAIL is a killed worker's, re-run once at most, no
worker died of an exception, and every COMPLETE trial has all its intermediate values.

About 30 s here; ``OPTUNA_REDIS_SOAK_SECONDS`` sets the length (``ci/soak.py`` runs it
for release checks)."""

from __future__ import annotations

import os
import time

import optuna
import pytest

from _restartable import RestartableRedis
import _soak

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

DURATION = float(os.environ.get("OPTUNA_REDIS_SOAK_SECONDS", "30"))


@pytest.mark.timeout(DURATION + 300)
def test_chaos_soak_leaves_no_trial_running(restartable: RestartableRedis) -> None:
    def restart() -> None:
        restartable.kill()
        time.sleep(0.5)
        restartable.start()

    seed = int(os.environ.get("OPTUNA_REDIS_SOAK_SEED", "0"))
    report = _soak.run(restartable.url, "soak", DURATION, restart, seed=seed)
    print(f"\n{report.summary()}")
    assert _soak.check(report) == []
