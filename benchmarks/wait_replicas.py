"""What ``wait_replicas=1`` costs a trial: ``study.optimize`` with and without it.

Starts a private master and one replica (``tests/_sentinel.py``, without the Sentinel) on
free loopback ports, then times ``study.optimize`` (RandomSampler, the 10-suggest objective
of ``_workload.py``, a fresh study each run) with ``wait_replicas=0`` (A) and ``=1`` (B),
interleaved A B A B ... for ``--rounds`` rounds, and prints the median milliseconds per trial
of each, their ratio and the median of the per-pair ratios. With ``wait_replicas=1`` a trial
makes two waited writes (``create_trial``, and ``set_trial_state`` when it finishes), so the
difference per trial is about two replication round trips.

    python benchmarks/wait_replicas.py [--trials 300] [--rounds 3]

A run that got a "replicas acknowledged" RuntimeWarning is reported: its time includes
``WAIT`` timing out, not a replication round trip.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
import warnings

import optuna

import _workload
from optuna_redis import RedisStorage

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from _sentinel import LocalSentinel  # noqa: E402


def time_optimize(storage: RedisStorage, n_trials: int, seed: int) -> tuple[float, int]:
    """Seconds per trial of one ``study.optimize`` on a fresh study, and the number of
    "replicas acknowledged" warnings it got."""
    study = optuna.create_study(
        storage=storage,
        study_name=f"wait-replicas-{uuid.uuid4().hex[:8]}",
        sampler=optuna.samplers.RandomSampler(seed),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        start = time.perf_counter()
        study.optimize(_workload.objective, n_trials=n_trials)
        elapsed = time.perf_counter() - start
    shortfalls = sum("replicas acknowledged" in str(w.message) for w in caught)
    return elapsed / n_trials, shortfalls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300, help="trials per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each setting")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    with LocalSentinel(sentinel=False) as servers:
        url = f"redis://127.0.0.1:{servers.master_port}/0"
        prefix = f"optuna-redis-bench-{uuid.uuid4().hex[:8]}"
        storages = {
            0: RedisStorage(url, prefix=prefix),
            1: RedisStorage(url, prefix=prefix, wait_replicas=1),
        }
        for waits, storage in storages.items():  # warm up: connections, scripts
            time_optimize(storage, 20, seed=1000 + waits)
        per_trial: dict[int, list[float]] = {0: [], 1: []}
        shortfalls = 0
        for r in range(args.rounds):
            for waits in (0, 1):
                seconds, short = time_optimize(storages[waits], args.trials, seed=r)
                per_trial[waits].append(seconds)
                shortfalls += short
                print(
                    f"round {r + 1}  wait_replicas={waits}: {seconds * 1e3:7.3f} ms/trial"
                    + (f"  ({short} replicas-acknowledged warnings)" if short else ""),
                    flush=True,
                )

    a = statistics.median(per_trial[0])
    b = statistics.median(per_trial[1])
    pairs = statistics.median(y / x for x, y in zip(per_trial[0], per_trial[1], strict=True))
    print()
    print(f"trials per run: {args.trials}, rounds: {args.rounds}")
    print(f"wait_replicas=0: median {a * 1e3:.3f} ms/trial")
    print(f"wait_replicas=1: median {b * 1e3:.3f} ms/trial")
    print(f"ratio (median B / median A): {b / a:.3f}; median of per-pair ratios: {pairs:.3f}")
    print(f"extra per trial: {(b - a) * 1e3:.3f} ms (two waited writes a trial)")
    if shortfalls:
        print(f"WARNING: {shortfalls} waited writes were not acknowledged in time.")


if __name__ == "__main__":
    main()
