"""How fast ``optuna_redis.copy_studies`` copies workload W, side by side with
``optuna.copy_study`` in the same direction.

Builds N trials of W (benchmarks/_workload.py) in a journal file, then times:
journal file -> ours, ours -> journal file, and with ``--postgres N`` PostgreSQL -> ours
(the source built with copy_studies' bulk RDB path). ``optuna.copy_study`` is timed on the
first ``--sample`` trials of the same study (it writes one trial in ~25 calls). Each copy
time covers reading the source's trials, writing, and the final check (reading the
target back and comparing digests); a journal's log replay is timed on its own.

    python benchmarks/copy_speed.py [--trials 100000] [--sample 2000] [--postgres 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

import optuna
from optuna.storages import InMemoryStorage
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalStorage

from _workload import drop_prefix
from _workload import populate_from_templates
from _workload import redis_url
from optuna_redis import RedisStorage
from optuna_redis import copy_studies


def journal(path: str) -> JournalStorage:
    return JournalStorage(JournalFileBackend(path))


def build_journal(path: str, n: int) -> None:
    memory = InMemoryStorage()
    populate_from_templates(memory, n)
    copy_studies(memory, journal(path), progress=False)


def timed_copy(source, target) -> float:  # noqa: ANN001
    start = time.perf_counter()
    copy_studies(source, target, progress=False)
    return time.perf_counter() - start


def timed_copy_study(source, target) -> float:  # noqa: ANN001
    start = time.perf_counter()
    optuna.copy_study(from_study_name="w", from_storage=source, to_storage=target)
    return time.perf_counter() - start


def line(what: str, n: int, seconds: float, n_ref: int, ref_seconds: float) -> None:
    ours_rate, ref_rate = n / seconds, n_ref / ref_seconds
    print(
        f"{what:<28} copy_studies {n:>7} trials {seconds:7.2f} s {ours_rate:>9,.0f}/s | "
        f"optuna.copy_study {n_ref:>6} trials {ref_seconds:7.2f} s {ref_rate:>7,.0f}/s | "
        f"{ours_rate / ref_rate:5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100_000, help="trials of W (100000)")
    parser.add_argument(
        "--sample", type=int, default=2000, help="trials optuna.copy_study copies (2000)"
    )
    parser.add_argument(
        "--postgres", type=int, default=0, metavar="N", help="also PostgreSQL -> ours, N trials"
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tmp = tempfile.mkdtemp(prefix="optuna-redis-copy-bench-")
    with redis_url() as url:
        prefixes = []

        def fresh() -> RedisStorage:
            prefixes.append(f"optuna-redis-bench-{uuid.uuid4().hex[:8]}")
            return RedisStorage(url, prefix=prefixes[-1])

        try:
            big, small = os.path.join(tmp, "w.log"), os.path.join(tmp, "sample.log")
            start = time.perf_counter()
            build_journal(big, args.trials)
            build_journal(small, args.sample)
            print(
                f"built {args.trials} + {args.sample} trials of W in journal files "
                f"in {time.perf_counter() - start:.1f} s"
            )
            start = time.perf_counter()
            source = journal(big)
            source.get_all_studies()  # replays the log
            print(
                f"journal log replay of {args.trials} trials (Optuna's): "
                f"{time.perf_counter() - start:.2f} s"
            )
            small_source = journal(small)
            small_source.get_all_studies()
            target = fresh()
            seconds = timed_copy(source, target)
            ref = timed_copy_study(small_source, fresh())
            line("journal file -> ours", args.trials, seconds, args.sample, ref)

            small_ours = fresh()
            copy_studies(small_source, small_ours, progress=False)
            seconds = timed_copy(target, journal(os.path.join(tmp, "out.log")))
            ref = timed_copy_study(small_ours, journal(os.path.join(tmp, "ref.log")))
            line("ours -> journal file", args.trials, seconds, args.sample, ref)
            if args.postgres:
                postgres(url, args.postgres, fresh)
        finally:
            for prefix in prefixes:
                drop_prefix(url, prefix)


def postgres(url: str, n: int, fresh) -> None:  # noqa: ANN001
    import sqlalchemy

    name = f"optuna_redis_bench_{uuid.uuid4().hex[:8]}"
    admin = sqlalchemy.create_engine(
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    try:
        rdb = RDBStorage(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
        memory = InMemoryStorage()
        populate_from_templates(memory, n)
        start = time.perf_counter()
        copy_studies(memory, rdb, progress=False)
        print(
            f"built {n} trials of W in PostgreSQL (copy_studies' bulk INSERTs) in "
            f"{time.perf_counter() - start:.1f} s"
        )
        seconds = timed_copy(rdb, fresh())
        ref = timed_copy_study(rdb, fresh())
        line("PostgreSQL -> ours", n, seconds, n, ref)
        rdb.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
