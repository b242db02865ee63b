"""How much server CPU does a trial cost, and how many workers can one Redis serve?

W worker processes run ``study.optimize`` on one study (RandomSampler or TPESampler,
``_workload.objective``: 10 suggests, no objective time). For each backend this measures the
trials/s of the whole run and the CPU time the server spent on it, per trial:

- ours: ``optuna_redis.RedisStorage(url, prefix=...)``;
- journal_redis: Optuna's ``JournalStorage(JournalRedisBackend(url))``;
- rdb_postgres: Optuna's ``RDBStorage`` on PostgreSQL (behind ``_CachedStorage``, as
  ``optuna.load_study`` wraps it);
- floor: ``_workload.ContractFloor``, Optuna's in-memory work plus one raw ``PING`` per
  storage call: the least any storage keeping Optuna's contract on this Redis can cost
  (each worker optimizes a study of its own in its memory; only the PINGs are shared).

    python benchmarks/server_cost.py run --backend ours --workers 4 --trials 2000 \\
        --url redis://127.0.0.1:6379/0 [--sampler random|tpe] [--seed 0]
    python benchmarks/server_cost.py table [--workers 1,4,16,64] [--repeat 1] [--json PATH]

``run`` is one measurement. It creates a fresh study (a random key prefix on Redis, a random
study name on PostgreSQL), starts W workers that load it and wait on an event, so that
imports, connections and the first load are not timed, then times from the event to the
last worker's end. The study's total of N trials is split across the workers (their counts
differ by at most one). The study and its keys are deleted at the end. It prints one JSON
object on stdout and exits 1 with a one-line error if a worker fails. The workers are forked
from a forkserver that has imported this module, Optuna and redis-py once, so 64 workers
do not import them 64 times. They start in waves of 16, and RDBStorage keeps one pooled
connection, not two, so that W = 64 stays within PostgreSQL's default 100 connections.

What the server CPU counts, from just before the event to just after the last worker ends:

- Redis (ours, journal_redis): ``used_cpu_user + used_cpu_sys`` of ``INFO cpu``, the
  server process's getrusage: all its threads (the main thread, I/O threads if
  ``io-threads`` > 1, background threads), and also its idle timer work (``hz``) and the two
  ``INFO`` calls. The server must serve nothing else meanwhile. With ``io-threads`` > 1 this
  includes the I/O threads' busy polling (Valkey 9.1: ~7x the CPU per trial at W = 4), so
  ``server_main_thread_cpu_s`` (``used_cpu_*_main_thread``, Redis >= 7 and Valkey) is
  reported as well.
- PostgreSQL: utime + stime from ``/proc/<pid>/stat`` (in clock ticks,
  ``os.sysconf("SC_CLK_TCK")``, 10 ms here) of the postmaster and of each of its child
  processes (the backends the workers opened, checkpointer, WAL writer, background
  writer, autovacuum), plus the postmaster's cutime + cstime: the CPU of children that
  ended and were reaped. The postmaster is the parent of the backend of a connection of our
  own (``pg_backend_pid()``), so the server must run on this machine. I/O wait, and work
  done for the workers by the kernel outside these processes, are not counted.

``table`` starts a private Redis server (``find_server()``: $OPTUNA_REDIS_SERVER, else
redis-server or valkey-server on PATH, else an embedded one), so that its ``INFO cpu``
counts only this run, and a PostgreSQL database of its own on ``--pg-url``'s server
(dropped at the end). It runs ``run`` in a fresh process for each W and backend, the
backends interleaved (ours, journal_redis, rdb_postgres, ours, ...; medians over
``--repeat``), and prints a Markdown table. JournalRedis and RDB are far slower than ours,
so each backend has its own trial count (``DEFAULT_TRIALS``, scaled by ``--trials-scale``;
``--trials`` sets one count for all): a full table of W = 1, 4, 16, 64 takes about 6
minutes a repeat on 2 cores. ``--python`` runs the measurements with another interpreter,
e.g. a venv with another optuna_redis installed.

Only the public ``RedisStorage(url, prefix=...)``, Optuna, redis-py and ``_workload`` are used
on the ``run`` path, so it runs on older optuna_redis installs too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import contextlib
import json
import multiprocessing
import os
import platform
import queue
import statistics
import subprocess
import sys
import time
from typing import Any
import uuid
import warnings

import optuna
from optuna.storages import BaseStorage
from optuna.storages import RDBStorage
from optuna.trial import TrialState
import redis

import _workload
import optuna_redis

BACKENDS = ("ours", "journal_redis", "rdb_postgres", "floor")
REDIS_BACKENDS = ("ours", "journal_redis", "floor")
LABELS = {
    "ours": "ours",
    "journal_redis": "JournalRedis",
    "rdb_postgres": "RDB (PostgreSQL)",
    "floor": "contract floor (InMemory + 1 PING a call)",
}
# Trials per measurement in `table`, per backend: each takes ~5-30 s at W = 1.
DEFAULT_TRIALS = {"ours": 2000, "journal_redis": 600, "rdb_postgres": 400, "floor": 2000}
DEFAULT_WORKERS = (1, 4, 16, 64)
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
OBJECTIVE_SECONDS = (0.1, 1.0, 10.0)
READY_TIMEOUT = 600.0
STARTUP_WAVE = 16


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- server CPU -------------------------------------------------------------------------


class RedisCpu:
    """The CPU seconds a Redis server has used, from ``INFO cpu``."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)

    def seconds(self) -> tuple[float, float | None]:
        """user + sys of the whole server process, and of its main thread if reported."""
        cpu = self.client.info("cpu")
        total = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        main = None
        if "used_cpu_user_main_thread" in cpu:
            main = float(cpu["used_cpu_user_main_thread"]) + float(cpu["used_cpu_sys_main_thread"])
        return total, main

    def describe(self) -> dict[str, Any]:
        info = self.client.info("server")
        name = info.get("server_name", "redis")
        version = info.get(f"{name}_version", info.get("redis_version"))
        try:
            io_threads = self.client.config_get("io-threads").get("io-threads")
        except redis.ResponseError:  # CONFIG disabled (a managed server)
            io_threads = None
        return {"name": name, "version": version, "io_threads": io_threads}

    def close(self) -> None:
        self.client.close()


def _libpq_url(url: str) -> str:
    """An SQLAlchemy PostgreSQL URL as libpq reads it (``postgresql+psycopg2://`` → ...)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 is ``[0]``)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def _comm(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as f:
        return f.read().strip()


class PostgresCpu:
    """The CPU seconds a local PostgreSQL server's processes have used, from /proc."""

    def __init__(self, url: str) -> None:
        import psycopg2

        conn = psycopg2.connect(_libpq_url(url))
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_backend_pid(), current_setting('server_version')")
                backend, self.version = cur.fetchone()
            stat = _proc_stat(backend)  # while the backend lives: it ends with the connection
        finally:
            conn.close()
        if stat is None:
            raise RuntimeError(
                f"PostgreSQL backend {backend} is not in /proc: the server must run here"
            )
        self.postmaster = int(stat[1])
        if _comm(self.postmaster) != "postgres":
            raise RuntimeError(f"the parent of PostgreSQL backend {backend} is not postgres")
        self.tick = os.sysconf("SC_CLK_TCK")

    def seconds(self) -> tuple[float, None]:
        """utime + stime of the postmaster and its children, and of its reaped children."""
        stat = _proc_stat(self.postmaster)
        if stat is None:
            raise RuntimeError("the PostgreSQL postmaster is gone")
        # Fields 14-17: utime, stime, cutime, cstime.
        ticks = sum(int(v) for v in stat[11:15])
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            child = _proc_stat(int(name))
            if child is not None and int(child[1]) == self.postmaster:
                ticks += sum(int(v) for v in child[11:15])
        return ticks / self.tick, None

    def describe(self) -> dict[str, Any]:
        return {"name": "postgresql", "version": self.version, "io_threads": None}

    def close(self) -> None:
        pass


# --- one measurement --------------------------------------------------------------------


def _sqlalchemy_url(url: str) -> str:
    """psycopg2 for a plain ``postgresql://`` URL (SQLAlchemy 2.1 would pick psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def storage_for(backend: str, url: str, prefix: str) -> BaseStorage:
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if backend == "rdb_postgres":
        # One pooled connection, not two: RDBStorage.__init__ opens a second one and the
        # default pool keeps it, idle, which would take PostgreSQL's default 100
        # connections at W = 64. study.optimize uses one either way.
        return RDBStorage(_sqlalchemy_url(url), engine_kwargs={"pool_size": 1})
    return _workload.storage_for(backend, url, prefix)


def _one_line(report: str) -> str:
    """A worker's traceback (``_workload.optimize_worker`` reports one) as its last line:
    the exception raised."""
    lines = [line for line in report.strip().splitlines() if line.strip()]
    return lines[-1] if lines else report


class WorkerFailed(Exception):
    pass


def _collect(q: Any, processes: list[Any], n: int, timeout: float) -> list[Any]:
    """n items from q; WorkerFailed if a worker exits without reporting, or on timeout."""
    items: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(items) < n:
        try:
            items.append(q.get(timeout=0.2))
            continue
        except queue.Empty:
            pass
        dead = [p for p in processes if p.exitcode not in (None, 0)]
        if dead:
            # A worker that reported an error exits 0, so this one died without a word.
            raise WorkerFailed(f"worker pid {dead[0].pid} exited with code {dead[0].exitcode}")
        if time.monotonic() > deadline:
            raise WorkerFailed(f"{n - len(items)} of {n} workers did not report in {timeout} s")
    return items


def split(total: int, workers: int) -> list[int]:
    """Trials per worker: ``total`` in all, counts that differ by at most one."""
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def measure(
    backend: str, workers: int, trials: int, url: str, sampler: str, seed: int, timeout: float
) -> dict[str, Any]:
    """One run: a fresh study, W ready workers, N trials timed; the study deleted after."""
    if trials < workers:
        raise ValueError(f"--trials {trials} is fewer than --workers {workers}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cpu: RedisCpu | PostgresCpu
    cpu = RedisCpu(url) if backend in REDIS_BACKENDS else PostgresCpu(url)
    prefix = _workload.new_prefix()
    study_name = f"server-cost-{prefix}"
    storage = storage_for(backend, url, prefix)
    processes: list[Any] = []
    created = False
    try:
        study = optuna.create_study(study_name=study_name, storage=storage)
        created = True
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["__main__"])
        ready, go, done = ctx.Queue(), ctx.Event(), ctx.Queue()
        for i, n in enumerate(split(trials, workers)):
            args = (backend, url, prefix, study_name, n, sampler, seed + i, ready, go, done)
            kwargs = {"make_storage": storage_for}  # rdb_postgres too
            target = _workload.optimize_worker
            processes.append(ctx.Process(target=target, args=args, kwargs=kwargs, daemon=True))
        # In waves, so that the connections each worker holds while it starts (RDBStorage: 2)
        # stay below PostgreSQL's max_connections.
        for wave in range(0, workers, STARTUP_WAVE):
            for process in processes[wave : wave + STARTUP_WAVE]:
                process.start()
            _collect(ready, processes, len(processes[wave : wave + STARTUP_WAVE]), READY_TIMEOUT)
        early = []
        while True:  # the workers that failed while loading have reported already
            try:
                early.append(done.get_nowait())
            except queue.Empty:
                break
        if early:
            raise WorkerFailed(f"worker {early[0][0] - seed}: {_one_line(early[0][1])}")

        cpu_before, main_before = cpu.seconds()
        start = time.perf_counter()
        go.set()
        results = _collect(done, processes, workers, timeout)
        seconds = time.perf_counter() - start
        cpu_after, main_after = cpu.seconds()

        failed = [(s, error) for s, error in results if error is not None]
        if failed:
            raise WorkerFailed(f"worker {failed[0][0] - seed}: {_one_line(failed[0][1])}")
        for process in processes:
            process.join(timeout=60)
        if backend == "floor":  # each worker's trials are in its own memory; none failed
            complete = trials
        else:
            complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        server = cpu.describe()
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
        if backend in REDIS_BACKENDS:
            _workload.drop_prefix(url, prefix)
        elif created:
            optuna.delete_study(study_name=study_name, storage=storage)
        if isinstance(storage, RDBStorage):
            storage.engine.dispose()
        cpu.close()

    server_cpu = cpu_after - cpu_before
    main_thread_cpu = None
    if main_before is not None and main_after is not None:
        main_thread_cpu = main_after - main_before
    return {
        "backend": backend,
        "workers": workers,
        "trials": trials,
        "complete": complete,
        "seconds": seconds,
        "trials_per_s": complete / seconds,
        "server_cpu_s": server_cpu,
        "server_cpu_us_per_trial": server_cpu / complete * 1e6 if complete else None,
        "server_main_thread_cpu_s": main_thread_cpu,
        "server": server,
        "sampler": sampler,
        "seed": seed,
        "optuna_redis_version": {
            "version": getattr(optuna_redis, "__version__", None),
            "file": optuna_redis.__file__,
            "extensions": getattr(optuna_redis, "USE_EXTENSIONS", None),
        },
        "optuna_version": optuna.__version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
    }


def cmd_run(args: argparse.Namespace) -> int:
    if args.backend != "rdb_postgres":
        # At once and in one line, not after the storage's 30 s of retries.
        try:
            with redis.Redis.from_url(args.url, socket_connect_timeout=5) as client:
                client.ping()
        except (redis.RedisError, ValueError) as e:
            print(f"server_cost: error: cannot reach Redis at {args.url}: {e}", file=sys.stderr)
            return 1
    try:
        result = measure(
            args.backend,
            args.workers,
            args.trials,
            args.url,
            args.sampler,
            args.seed,
            args.timeout,
        )
    except WorkerFailed as e:
        print(f"server_cost: {args.backend} W={args.workers}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


# --- the table --------------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Any:
    """A new database on admin_url's server, dropped at the end; yields its URL."""
    import psycopg2

    name = f"optuna_redis_server_cost_{uuid.uuid4().hex[:8]}"
    admin = _libpq_url(admin_url)
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        try:
            yield admin_url.rsplit("/", 1)[0] + "/" + name
        finally:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        conn.close()


def _run_subprocess(
    python: str, backend: str, workers: int, trials: int, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """``run`` in a fresh process: its JSON, or ``{"error": its last stderr line, ...}``."""
    command = [python, os.path.abspath(__file__), "run", "--backend", backend]
    command += ["--workers", str(workers), "--trials", str(trials), "--url", url]
    command += ["--sampler", args.sampler, "--seed", str(args.seed)]
    command += ["--timeout", str(args.timeout)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    sys.stderr.write(done.stderr)
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1])
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return {"backend": backend, "workers": workers, "trials": trials, "error": last}


def _fmt(value: float) -> str:
    """3 significant digits, thousands separated."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The medians of the runs that succeeded, or the first error if none did."""
    good = [r for r in runs if "error" not in r]
    if not good:
        return {"trials": runs[0]["trials"], "error": runs[0]["error"]}
    return {
        "trials": good[0]["trials"],
        "runs": len(good),
        "trials_per_s": statistics.median(r["trials_per_s"] for r in good),
        "us_per_trial": statistics.median(r["server_cpu_us_per_trial"] for r in good),
    }


def markdown(
    cells: dict[tuple[str, int], dict[str, Any]], backends: list[str], workers: list[int]
) -> str:
    head = "| backend | W | trials | trials/s | server CPU per trial | one core serves |"
    head += "".join(f" workers at T = {t:g} s |" for t in OBJECTIVE_SECONDS)
    lines = [head, "|---|" + "---:|" * (5 + len(OBJECTIVE_SECONDS))]
    for backend in backends:
        for w in workers:
            cell = cells[backend, w]
            row = f"| {LABELS[backend]} | {w} | {cell['trials']:,} |"
            if "error" in cell:
                lines.append(
                    f"{row} failed: {cell['error']} |" + " |" * (2 + len(OBJECTIVE_SECONDS))
                )
                continue
            per_s = 1e6 / cell["us_per_trial"]
            row += f" {_fmt(cell['trials_per_s'])} | {cell['us_per_trial']:,.0f} µs |"
            row += f" {_fmt(per_s)} trials/s |" + "".join(
                f" {_fmt(per_s * t)} |" for t in OBJECTIVE_SECONDS
            )
            lines.append(row)
    others = [b for b in backends if b != "ours"]
    if "ours" in backends and others:
        lines += ["", "Server CPU per trial, ours ÷ reference:", ""]
        lines += ["| W |" + "".join(f" ours ÷ {LABELS[b]} |" for b in others)]
        lines.append("|---:|" + "---:|" * len(others))
        for w in workers:
            ours = cells["ours", w].get("us_per_trial")
            ratios = ""
            for b in others:
                theirs = cells[b, w].get("us_per_trial")
                ratios += f" {ours / theirs:.3f} |" if ours and theirs else " – |"
            lines.append(f"| {w} |{ratios}")
    return "\n".join(lines)


def cmd_table(args: argparse.Namespace) -> int:
    from optuna_redis._local_redis import LocalRedisServer

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        raise SystemExit(f"server_cost: unknown backend(s) {sorted(unknown)}")
    workers = [int(w) for w in args.workers.split(",")]
    trials = {
        b: args.trials or max(1, round(DEFAULT_TRIALS[b] * args.trials_scale)) for b in backends
    }
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {
        (b, w): [] for b in backends for w in workers
    }
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        redis_url = ""
        if set(backends) & set(REDIS_BACKENDS):
            server = stack.enter_context(LocalRedisServer(dir_prefix="optuna-redis-server-cost-"))
            redis_url = server.url
        pg_url = ""
        if "rdb_postgres" in backends:
            pg_url = stack.enter_context(postgres_database(args.pg_url))
        for w in workers:
            for k in range(args.repeat):
                for b in backends:
                    url = pg_url if b == "rdb_postgres" else redis_url
                    result = _run_subprocess(args.python, b, w, max(trials[b], w), url, args)
                    runs[b, w].append(result)
                    what = f"[{time.monotonic() - started:4.0f} s] {b} W={w} #{k + 1}:"
                    if "error" in result:
                        _log(f"{what} failed: {result['error']}")
                        continue
                    _log(
                        f"{what} {result['complete']} trials in {result['seconds']:.1f} s, "
                        f"{result['trials_per_s']:.1f} trials/s, server "
                        f"{result['server_cpu_us_per_trial']:.0f} µs/trial"
                    )
    cells = {key: _medians(value) for key, value in runs.items()}
    good = [r for value in runs.values() for r in value if "error" not in r]
    servers: list[str] = []
    for result in good:
        server = result["server"]
        threads = f" (io-threads {server['io_threads']})" if server["io_threads"] else ""
        if f"{server['name']} {server['version']}{threads}" not in servers:
            servers.append(f"{server['name']} {server['version']}{threads}")
    about = f"{args.sampler} sampler, medians of {args.repeat}; {', '.join(servers)}"
    if good:
        about += (
            f"; Python {good[0]['python']['version']}, Optuna {good[0]['optuna_version']}, "
            f"optuna_redis {good[0]['optuna_redis_version']['file']}"
        )
    print(f"{about}; {time.monotonic() - started:.0f} s in all\n")
    print(markdown(cells, backends, workers))
    if args.json:
        with open(args.json, "w") as f:
            medians = [{"backend": b, "workers": w, **cells[b, w]} for b, w in cells]
            every = [r for value in runs.values() for r in value]
            json.dump(
                {"argv": sys.argv, "trials": trials, "runs": every, "medians": medians},
                f,
                indent=1,
            )
    return 1 if len(good) < sum(len(value) for value in runs.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one measurement; prints one JSON object")
    run.add_argument("--backend", choices=BACKENDS, required=True)
    run.add_argument("--workers", type=int, required=True)
    run.add_argument("--trials", type=int, required=True, help="in all, split across workers")
    run.add_argument("--url", required=True, help="redis://... or postgresql://.../db")
    table = sub.add_parser("table", help="run each backend and W; print a Markdown table")
    table.add_argument("--workers", default=",".join(map(str, DEFAULT_WORKERS)))
    table.add_argument("--trials", type=int, default=0, help="the same count for all backends")
    table.add_argument("--trials-scale", type=float, default=1.0, help="x DEFAULT_TRIALS")
    table.add_argument(
        "--backends", default="ours,journal_redis,rdb_postgres", help=f"of {', '.join(BACKENDS)}"
    )
    table.add_argument("--repeat", type=int, default=1)
    table.add_argument("--json", help="write every run and the medians here")
    table.add_argument("--pg-url", default=DEFAULT_PG_URL, help="creates its database there")
    table.add_argument("--python", default=sys.executable, help="the interpreter of the runs")
    for p in (run, table):
        p.add_argument("--sampler", choices=("random", "tpe"), default="random")
        p.add_argument("--seed", type=int, default=0, help="worker i's sampler seed is S + i")
        p.add_argument("--timeout", type=float, default=1800.0, help="seconds a run may take")
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = cmd_run if args.command == "run" else cmd_table
    return command(args)


if __name__ == "__main__":
    sys.exit(main())
