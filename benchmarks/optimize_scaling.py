"""Does a trial's storage time grow with the study? ``study.optimize`` through a timing proxy.

Runs ``study.optimize`` of N trials (1 worker; the objective of test_optimize.py, 10
suggests) on one backend, through a proxy that forwards every storage call and adds the
time spent inside it to the trial it belongs to. Prints the mean storage time per trial of
the first and of the last ``--window`` trials and their ratio, the storage time of the whole
run (the time inside storage calls only: sampler, objective and the rest of Optuna are
excluded) next to the wall time, and appends one JSON line of results, with the storage
time of every trial, to ``--out`` when given.

    python benchmarks/optimize_scaling.py --trials 10000 --sampler tpe --backend ours \\
        [--url redis://...] [--out scaling.jsonl]

``--backend`` is one of ours, journal_redis (Redis at ``--url``: $OPTUNA_REDIS_URL or
redis://127.0.0.1:6379/0, under a prefix of its own that is deleted at the end),
rdb_cached (``_CachedStorage(RDBStorage)``, as ``optuna.create_study`` wraps an RDB; a
SQLite file in a temp dir unless ``--rdb-url``), inmemory. Target of the issue: with
TPESampler over 10k trials, the last 1,000 trials cost at most 1.5x the first 1,000 in
storage time.

A call belongs to the trial created last: the one running, or for the calls between its
end and the next ``create_new_trial`` (the next ``ask``'s look for WAITING trials), the
trial just finished. Calls before the first trial (creating the study) are left out.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat

import _workload

BACKENDS = ("ours", "journal_redis", "rdb_cached", "inmemory")
TARGET_RATIO = 1.5


def _forwarder(name: str) -> Callable[..., Any]:
    def method(self: TimedStorage, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    method.__name__ = name
    return method


def _forwarding(base: type) -> Callable[[type], type]:
    """Give a class a timed forwarder for every method of ``base`` it does not define."""

    def decorate(cls: type) -> type:
        for name, attr in vars(base).items():
            if callable(attr) and not name.startswith("__") and name not in vars(cls):
                setattr(cls, name, _forwarder(name))
        return abc.update_abstractmethods(cls)

    return decorate


@_forwarding(BaseStorage)
class TimedStorage(BaseStorage):
    """A storage that forwards every call to ``inner`` and times it per trial.

    ``per_trial[n]`` is the seconds spent inside storage calls belonging to the n-th trial
    this storage created (the trial number, for one worker on a new study);
    ``per_method[name]`` the calls and seconds of each method over the whole run.
    """

    def __init__(self, inner: BaseStorage) -> None:
        self.inner = inner
        self.setup_seconds = 0.0
        self.per_trial: list[float] = []
        self.per_method: dict[str, list[float]] = {}

    def _call(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        start = time.perf_counter()
        try:
            return getattr(self.inner, name)(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - start
            calls_seconds = self.per_method.setdefault(name, [0, 0.0])
            calls_seconds[0] += 1
            calls_seconds[1] += elapsed
            if name == "create_new_trial":
                self.per_trial.append(elapsed)
            elif self.per_trial:
                self.per_trial[-1] += elapsed
            else:
                self.setup_seconds += elapsed


@_forwarding(BaseHeartbeat)
class TimedHeartbeatStorage(TimedStorage, BaseHeartbeat):
    """TimedStorage of a storage that is also a BaseHeartbeat (Optuna checks isinstance)."""


def timed(inner: BaseStorage) -> TimedStorage:
    if isinstance(inner, BaseHeartbeat):
        return TimedHeartbeatStorage(inner)
    return TimedStorage(inner)


def make_storage(args: argparse.Namespace, prefix: str) -> BaseStorage:
    """The backend's storage, as ``optuna.create_study`` would use it."""
    if args.backend == "rdb_cached":
        # create_study wraps an RDBStorage in _CachedStorage itself, but not one inside our
        # proxy: wrap it here.
        return _workload.rdb_cached(args.rdb_url)
    return _workload.storage_for(args.backend, args.url, prefix)


def window_means_ms(per_trial: list[float], window: int) -> tuple[float, float]:
    first = statistics.fmean(per_trial[:window]) * 1e3
    last = statistics.fmean(per_trial[-window:]) * 1e3
    return first, last


def run(args: argparse.Namespace, prefix: str) -> dict[str, Any]:
    storage = timed(make_storage(args, prefix))
    study = optuna.create_study(storage=storage, sampler=_workload.sampler_for(args.sampler, 0))
    start = time.perf_counter()

    def progress(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        done = trial.number + 1
        if args.progress and done % args.progress == 0:
            recent = statistics.fmean(storage.per_trial[-args.progress :]) * 1e3
            print(
                f"  {done} trials, {time.perf_counter() - start:.1f} s; storage of the last "
                f"{args.progress}: {recent:.3f} ms/trial",
                file=sys.stderr,
                flush=True,
            )

    study.optimize(_workload.objective, n_trials=args.trials, callbacks=[progress])
    wall = time.perf_counter() - start
    per_trial = storage.per_trial
    assert len(per_trial) == args.trials, (len(per_trial), args.trials)
    window = min(args.window, args.trials // 2)
    first, last = window_means_ms(per_trial, window)
    return {
        "backend": args.backend,
        "sampler": args.sampler,
        "trials": args.trials,
        "window": window,
        "first_ms": first,
        "last_ms": last,
        "ratio": last / first,
        "storage_s": sum(per_trial),
        "wall_s": wall,
        "trials_per_s": args.trials / wall,
        "per_method": {
            name: {"calls": int(calls), "s": seconds}
            for name, (calls, seconds) in sorted(
                storage.per_method.items(), key=lambda item: -item[1][1]
            )
        },
        "per_trial_ms": [round(s * 1e3, 4) for s in per_trial],
        "optuna": optuna.__version__,
        "codec": _codec_name(args.backend),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }


def _codec_name(backend: str) -> str | None:
    if backend != "ours":
        return None
    import optuna_redis

    return "compiled" if optuna_redis.USE_EXTENSIONS else "pure"


def report(result: dict[str, Any]) -> None:
    window, ratio = result["window"], result["ratio"]
    print(
        f"{result['backend']}, {result['sampler']} sampler, {result['trials']} trials "
        f"({result['trials_per_s']:.1f} trials/s):"
    )
    print(f"  storage time per trial, first {window} trials  {result['first_ms']:.3f} ms")
    print(f"  storage time per trial, last {window} trials   {result['last_ms']:.3f} ms")
    print(f"  ratio (last / first)                         {ratio:.2f}x")
    share = result["storage_s"] / result["wall_s"]
    print(
        f"  storage time of all trials {result['storage_s']:.2f} s of {result['wall_s']:.2f} s "
        f"wall ({share:.0%}; the rest is sampler, objective and Optuna)"
    )
    n = result["trials"]
    for name, method in list(result["per_method"].items())[:5]:
        print(
            f"    {name:<32} {method['calls'] / n:5.1f} calls/trial  "
            f"{method['s'] / n * 1e3:8.3f} ms/trial"
        )
    if result["sampler"] == "tpe" and result["trials"] >= 10_000 and window == 1000:
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        print(f"  target last/first <= {TARGET_RATIO}x (TPE, 10k trials): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--sampler", choices=["tpe", "random"], default="tpe")
    parser.add_argument("--backend", choices=BACKENDS, default="ours")
    parser.add_argument(
        "--url", default=os.environ.get("OPTUNA_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--rdb-url", help="for rdb_cached; default: SQLite in a temp dir")
    parser.add_argument(
        "--window", type=int, default=1000, help="trials at each end (at most half of them)"
    )
    parser.add_argument(
        "--progress", type=int, default=1000, help="report every N trials (0: never)"
    )
    parser.add_argument("--out", help="append the results as one JSON line to this file")
    args = parser.parse_args()
    if args.trials < 2:
        parser.error("--trials must be at least 2")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    prefix = _workload.new_prefix()
    rdb_dir = None
    if args.backend == "rdb_cached" and args.rdb_url is None:
        rdb_dir = tempfile.TemporaryDirectory(prefix="optuna-redis-bench-")
        args.rdb_url = f"sqlite:///{os.path.join(rdb_dir.name, 'scaling.db')}"
    try:
        result = run(args, prefix)
    finally:
        if args.backend in ("ours", "journal_redis"):
            _workload.drop_prefix(args.url, prefix)
        if rdb_dir is not None:
            rdb_dir.cleanup()
    report(result)
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
