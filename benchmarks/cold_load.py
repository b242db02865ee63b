"""Cold ``get_all_trials``: the compiled codec against the pure-Python one, side by side.

Writes a study of workload W (10 params of 4 distribution kinds, 10 intermediate values,
user and system attrs) once, then times the first ``get_all_trials`` of a fresh process,
alternating ``OPTUNA_REDIS_NO_EXTENSIONS`` unset and ``=1`` so both see the same machine
state. Prints the medians, their ratio, and where one compiled cold load spends its time.

    python benchmarks/cold_load.py [--trials 20000] [--rounds 5] [--url redis://...]

Uses $OPTUNA_REDIS_URL or redis://127.0.0.1:6379/0, under a prefix of its own that it
deletes at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import redis

import _workload
from optuna_redis import RedisStorage

STUDY = "workload-w"


def populate(url: str, prefix: str, n_trials: int) -> None:
    """Write the trials as workers do: create, set each param, report, finish."""
    _workload.populate(RedisStorage(url, prefix=prefix), n_trials, STUDY)


def cold_load(url: str, prefix: str) -> None:
    """Child process: one cold get_all_trials; print its seconds."""
    storage = RedisStorage(url, prefix=prefix)
    study_id = storage.get_study_id_from_name(STUDY)
    start = time.perf_counter()
    trials = storage.get_all_trials(study_id, deepcopy=False)
    elapsed = time.perf_counter() - start
    print(f"{elapsed:.6f} {len(trials)}")


def profile(url: str, prefix: str) -> None:
    """Child process: split one cold load into decode and the rest (Redis, network, hiredis)."""
    from optuna_redis import _codec
    from optuna_redis import _sync

    decode_seconds = 0.0

    def timed(decode):  # noqa: ANN001, ANN202
        def call(*args):  # noqa: ANN002, ANN202
            nonlocal decode_seconds
            start = time.perf_counter()
            try:
                return decode(*args)
            finally:
                decode_seconds += time.perf_counter() - start

        return call

    # The sync layer's bulk decodes, timed: the cold load's, and the sync that follows.
    _sync.decode_range = timed(_codec.decode_range)
    _sync.decode_trials = timed(_codec.decode_trials)
    storage = RedisStorage(url, prefix=prefix)
    study_id = storage.get_study_id_from_name(STUDY)
    start = time.perf_counter()
    trials = storage.get_all_trials(study_id, deepcopy=False)
    total = time.perf_counter() - start
    size = sum(
        len(v or b"")
        for v in storage._client.mget(
            [storage._keys.trial(study_id, n) for n in range(len(trials))]
        )
    )
    print(
        f"codec {_codec.decode_range.__module__}: {total:.3f} s = decode into {len(trials)} "
        f"FrozenTrials {decode_seconds:.3f} s + fetch and the rest (Redis, network, "
        f"hiredis; {size / 1e6:.1f} MB of records) {total - decode_seconds:.3f} s"
    )


def run_child(mode: str, url: str, prefix: str, pure: bool) -> str:
    env = dict(os.environ)
    env.pop("OPTUNA_REDIS_NO_EXTENSIONS", None)
    if pure:
        env["OPTUNA_REDIS_NO_EXTENSIONS"] = "1"
    out = subprocess.run(
        [sys.executable, __file__, mode, "--url", url, "--prefix", prefix],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="run", choices=["run", "child", "profile"])
    parser.add_argument(
        "--url", default=os.environ.get("OPTUNA_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--prefix")
    parser.add_argument("--trials", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--keep", action="store_true", help="keep the data; reuse it with --prefix next time"
    )
    args = parser.parse_args()
    if args.mode == "child":
        cold_load(args.url, args.prefix)
        return
    if args.mode == "profile":
        profile(args.url, args.prefix)
        return

    prefix = args.prefix or f"optuna-redis-bench-{uuid.uuid4().hex[:8]}"
    reuse = args.prefix is not None and redis.Redis.from_url(args.url).exists(f"{prefix}:format")
    try:
        if reuse:
            print(f"reusing the study under prefix {prefix!r}")
        else:
            t0 = time.perf_counter()
            populate(args.url, prefix, args.trials)
            print(f"wrote {args.trials} trials of workload W in {time.perf_counter() - t0:.1f} s")
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for pure in (False, True):
                seconds, count = run_child("child", args.url, prefix, pure).split()
                assert int(count) == args.trials
                times[pure].append(float(seconds))
        compiled, pure = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"cold get_all_trials of {args.trials} trials, "
            f"median of {args.rounds} fresh processes:"
        )
        print(
            f"  compiled codec           {compiled:.3f} s   {[round(t, 3) for t in times[False]]}"
        )
        print(
            f"  OPTUNA_REDIS_NO_EXTENSIONS=1 {pure:.3f} s   {[round(t, 3) for t in times[True]]}"
        )
        print(f"  ratio (pure / compiled)  {pure / compiled:.2f}x")
        print(run_child("profile", args.url, prefix, False))
        print(run_child("profile", args.url, prefix, True))
    finally:
        if args.keep:
            print(f"kept the data under prefix {prefix!r}")
        else:
            client = redis.Redis.from_url(args.url)
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                client.unlink(key)


if __name__ == "__main__":
    main()
