"""Workload W of the benchmarks: trials with 10 params of 4 distribution kinds, 10
intermediate values, user and system attrs; the backends they are compared on; the
studies written once for the read benchmarks and the regression gate; and the objective of
the end-to-end optimize benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import datetime
import json
import os
import random
import shutil
import tempfile
import time
from typing import Any
import uuid

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.distributions import distribution_to_json
from optuna.storages import BaseStorage
from optuna.storages import InMemoryStorage
from optuna.storages import RDBStorage
from optuna.study import StudyDirection
import redis
import redis.connection

from optuna_redis import RedisStorage
from optuna_redis._local_redis import LocalRedisServer


def workload_trial(rng: random.Random, n: int) -> optuna.trial.FrozenTrial:
    """The n-th finished trial of workload W (deterministic for a given rng state)."""
    dists = {}
    params = {}
    for i in range(3):
        dists[f"x{i}"] = FloatDistribution(-10, 10)
        params[f"x{i}"] = rng.uniform(-10, 10)
        dists[f"lr{i}"] = FloatDistribution(1e-5, 1e-1, log=True)
        params[f"lr{i}"] = 10 ** rng.uniform(-5, -1)
    for i in range(2):
        dists[f"n{i}"] = IntDistribution(1, 512)
        params[f"n{i}"] = rng.randint(1, 512)
        dists[f"opt{i}"] = CategoricalDistribution(["adam", "sgd", "rmsprop"])
        params[f"opt{i}"] = rng.choice(["adam", "sgd", "rmsprop"])
    start = datetime.datetime(2026, 11, 1) + datetime.timedelta(seconds=n)
    trial = optuna.trial.create_trial(
        params=params,
        distributions=dists,
        value=rng.random(),
        intermediate_values={step: rng.random() for step in range(10)},
        user_attrs={"worker": f"host-{n % 8}", "loss_curve_min": rng.random(), "seed": n},
        system_attrs={"constraints": [rng.random() - 0.5]},
    )
    trial.datetime_start = start
    trial.datetime_complete = start + datetime.timedelta(seconds=1.5)
    return trial


def write_like_a_worker(
    storage: BaseStorage, study_id: int, trial: optuna.trial.FrozenTrial
) -> int:
    """Write a trial call by call, as a worker running it does; return its id."""
    trial_id = storage.create_new_trial(study_id)
    for name, value in trial.params.items():
        dist = trial.distributions[name]
        storage.set_trial_param(trial_id, name, dist.to_internal_repr(value), dist)
    for step, value in trial.intermediate_values.items():
        storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in trial.user_attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)
    for key, value in trial.system_attrs.items():
        storage.set_trial_system_attr(trial_id, key, value)
    storage.set_trial_state_values(trial_id, trial.state, trial.values)
    return trial_id


def workload_trials(n_trials: int) -> Iterator[optuna.trial.FrozenTrial]:
    """The first n_trials trials of workload W, the same for every backend."""
    rng = random.Random(0)
    for n in range(n_trials):
        yield workload_trial(rng, n)


def populate(storage: BaseStorage, n_trials: int, name: str = "w") -> int:
    """A study of n_trials trials of workload W, each written as a worker writes it."""
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
    for trial in workload_trials(n_trials):
        write_like_a_worker(storage, study_id, trial)
    return study_id


def populate_from_templates(storage: BaseStorage, n_trials: int, name: str = "w") -> int:
    """The same study as ``populate``, one ``create_new_trial(template_trial=...)`` a trial.

    Each trial is one write instead of ~25, but what a backend stores can differ from what
    workers write (ours: every param entry carries its distribution's JSON; journal: one
    log record per trial).
    """
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
    for trial in workload_trials(n_trials):
        storage.create_new_trial(study_id, template_trial=trial)
    return study_id


def populate_journal_redis(url: str, prefix: str, n_trials: int, name: str = "w") -> int:
    """The study of ``populate`` in JournalRedis, as workers leave it, in a quarter of the time.

    The workers' calls are replayed in this process first: a JournalStorage over an
    in-memory journal records the log (each log record read back through JSON, as from
    Redis) and the last snapshot, which are then appended to Redis with
    JournalRedisBackend's own methods. Only timestamps and worker ids differ from the keys
    that ``populate(journal_redis(url, prefix), n_trials)`` would leave.
    """
    from optuna.storages.journal import BaseJournalBackend
    from optuna.storages.journal import JournalRedisBackend
    from optuna.storages.journal import JournalStorage

    # Not exported, but JournalStorage saves snapshots only to a backend that is one.
    from optuna.storages.journal._base import BaseJournalSnapshot

    class Recorder(BaseJournalBackend, BaseJournalSnapshot):
        def __init__(self) -> None:
            self.logs: list = []
            self.snapshot: bytes | None = None

        def read_logs(self, log_number_from: int) -> list:
            return self.logs[log_number_from:]

        def append_logs(self, logs: list) -> None:
            self.logs.extend(json.loads(json.dumps(log)) for log in logs)

        def save_snapshot(self, snapshot: bytes) -> None:
            self.snapshot = snapshot

        def load_snapshot(self) -> bytes | None:
            return self.snapshot

    recorder = Recorder()
    study_id = populate(JournalStorage(recorder), n_trials, name)
    backend = JournalRedisBackend(url, prefix=prefix)
    backend.append_logs(recorder.logs)
    if recorder.snapshot is not None:
        backend.save_snapshot(recorder.snapshot)
    return study_id


def populate_rdb(url: str, n_trials: int, name: str = "w") -> int:
    """The study of ``populate`` in a new RDB, written in one transaction of bulk INSERTs.

    Optuna's RDBStorage writes ~25 trials/s call by call, and hardly more from templates
    (~30/s, slower as the study grows), too slow for 10k trials. This writes the rows
    ``RDBStorage.create_new_trial(template_trial=...)`` writes, and checks a few trials that
    RDBStorage reads back against workload W.
    """
    # Imported here: SQLAlchemy is big, and most users of this module never touch an RDB.
    from optuna.storages._rdb import models
    import sqlalchemy

    storage = RDBStorage(url)
    try:
        study_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
        trials = list(workload_trials(n_trials))
        trial_table = models.TrialModel.__table__
        with storage.engine.begin() as conn:
            conn.execute(
                sqlalchemy.insert(trial_table),
                [_rdb_trial_row(study_id, n, t) for n, t in enumerate(trials)],
            )
            number_to_id = sqlalchemy.select(trial_table.c.number, trial_table.c.trial_id)
            ids = dict(conn.execute(number_to_id.where(trial_table.c.study_id == study_id)).all())
            for model, rows in _rdb_child_rows(trials, ids).items():
                conn.execute(sqlalchemy.insert(model.__table__), rows)
        assert storage.get_n_trials(study_id) == n_trials
        for number in sorted({0, n_trials // 2, n_trials - 1} & set(ids)):
            _check_same_trial(storage.get_trial(ids[number]), number, trials[number])
        return study_id
    finally:
        storage.engine.dispose()


def _naive_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """As RDBStorage stores datetimes (TrialModel.datetime_start's setter)."""
    if value is None:
        return None
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _rdb_trial_row(study_id: int, number: int, trial: optuna.trial.FrozenTrial) -> dict:
    return {
        "study_id": study_id,
        "number": number,
        "state": trial.state,
        "datetime_start": _naive_utc(trial.datetime_start),
        "datetime_complete": _naive_utc(trial.datetime_complete),
    }


def _rdb_child_rows(
    trials: Sequence[optuna.trial.FrozenTrial], ids: dict[int, int]
) -> dict[type, list[dict[str, Any]]]:
    """The param, value, intermediate value and attribute rows of trials (number -> id)."""
    from optuna.storages._rdb import models

    values = models.TrialValueModel
    intermediates = models.TrialIntermediateValueModel
    rows: dict[type, list[dict[str, Any]]] = {
        models.TrialParamModel: [],
        values: [],
        intermediates: [],
        models.TrialUserAttributeModel: [],
        models.TrialSystemAttributeModel: [],
    }
    for number, trial in enumerate(trials):
        trial_id = ids[number]
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            rows[models.TrialParamModel].append(
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": dist.to_internal_repr(value),
                    "distribution_json": distribution_to_json(dist),
                }
            )
        for objective, value in enumerate(trial.values or []):
            stored, kind = values.value_to_stored_repr(value)
            rows[values].append(
                {"trial_id": trial_id, "objective": objective, "value": stored, "value_type": kind}
            )
        for step, value in trial.intermediate_values.items():
            stored, kind = intermediates.intermediate_value_to_stored_repr(value)
            rows[intermediates].append(
                {
                    "trial_id": trial_id,
                    "step": step,
                    "intermediate_value": stored,
                    "intermediate_value_type": kind,
                }
            )
        for model, attrs in (
            (models.TrialUserAttributeModel, trial.user_attrs),
            (models.TrialSystemAttributeModel, trial.system_attrs),
        ):
            for key, value in attrs.items():
                row = {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                rows[model].append(row)
    return rows


def _check_same_trial(
    got: optuna.trial.FrozenTrial, number: int, want: optuna.trial.FrozenTrial
) -> None:
    fields = ("state", "values", "params", "distributions", "intermediate_values")
    fields += ("user_attrs", "system_attrs", "datetime_start", "datetime_complete")
    assert got.number == number, (got.number, number)
    for field in fields:
        assert getattr(got, field) == getattr(want, field), (number, field)


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    """$OPTUNA_REDIS_URL, else a private redis-server for the run."""
    url = os.environ.get("OPTUNA_REDIS_URL")
    if url:
        yield url
        return
    with LocalRedisServer(dir_prefix="optuna-redis-bench-") as server:
        yield server.url


def new_prefix() -> str:
    return f"optuna-redis-bench-{uuid.uuid4().hex[:8]}"


def drop_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
    finally:
        client.close()


RAW_FETCH_CHUNK = 5000


def raw_fetch(client: redis.Redis, keys: Sequence[str]) -> list:
    """MGET of keys in chunks of RAW_FETCH_CHUNK, decoding nothing: the lower bound of a cold
    read of the records under those keys. Returns the replies."""
    chunk = RAW_FETCH_CHUNK
    return [client.mget(keys[lo : lo + chunk]) for lo in range(0, len(keys), chunk)]


@contextlib.contextmanager
def round_trips() -> Iterator[list[int]]:
    """Count what redis-py sends while inside, in ``sent[0]`` (a pipeline sends once)."""
    sent = [0]
    connection = redis.connection.AbstractConnection
    original = connection.send_packed_command

    def counting(conn, command, check_health=True):  # noqa: ANN001, ANN202
        sent[0] += 1
        return original(conn, command, check_health)

    connection.send_packed_command = counting
    try:
        yield sent
    finally:
        connection.send_packed_command = original


def ours(url: str, prefix: str) -> RedisStorage:
    return RedisStorage(url, prefix=prefix)


def journal_redis(url: str, prefix: str) -> BaseStorage:
    from optuna.storages.journal import JournalRedisBackend
    from optuna.storages.journal import JournalStorage

    return JournalStorage(JournalRedisBackend(url, prefix=prefix))


def rdb_raw(url: str) -> RDBStorage:
    """RDBStorage used directly: every read queries the database."""
    return RDBStorage(url)


def rdb_cached(url: str) -> BaseStorage:
    """RDBStorage as ``optuna.create_study`` uses it, behind Optuna's ``_CachedStorage``."""
    from optuna.storages import _CachedStorage

    return _CachedStorage(RDBStorage(url))


class RawConnection:
    """One socket to Redis, commands packed by hiredis and replies parsed by its Reader: a
    round trip with no redis-py layer (``call_cost.py``, ``ContractFloor``)."""

    def __init__(self, host: str, port: int) -> None:
        import socket

        import hiredis

        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, packed: bytes) -> Any:
        """Send one packed command; its reply."""
        self.sock.sendall(packed)
        while (reply := self.reader.gets()) is False:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            self.reader.feed(data)
        return reply


class ContractFloor(BaseStorage):
    """What any storage that keeps Optuna's storage contract on Redis costs at the least:
    Optuna's own work (an ``InMemoryStorage``) plus one round trip to Redis per storage call,
    the cheapest one there is (``PING``, packed once, on a raw socket, its reply parsed by
    hiredis: no redis-py layer, no script, no key touched).

    Every public ``BaseStorage`` method sends one PING and then answers from the
    ``InMemoryStorage``; the methods it calls on itself do not send again. So a trial costs
    what it costs in memory plus as many round trips as it makes storage calls, and the
    server as many PINGs. It is a yardstick, not a storage: each process has its own
    in-memory studies (a study a process looks up by name and has not got is created
    there, minimizing), so W processes optimize W separate studies of the same name.
    """

    _PING = b"*1\r\n$4\r\nPING\r\n"

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError(f"ContractFloor wants a redis:// URL, not {url!r}")
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._inner = InMemoryStorage()
        self._conn: RawConnection | None = None
        self._pid = 0
        self.round_trips = 0

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_conn": None, "_pid": 0}

    def _round_trip(self) -> None:
        if self._conn is None or self._pid != os.getpid():  # a connection per process
            self._conn, self._pid = RawConnection(*self._address), os.getpid()
        reply = self._conn.call(self._PING)
        if reply != b"PONG":
            raise RuntimeError(f"PING answered {reply!r}")
        self.round_trips += 1

    def get_study_id_from_name(self, study_name: str) -> int:
        self._round_trip()
        try:
            return self._inner.get_study_id_from_name(study_name)
        except KeyError:
            return self._inner.create_new_study([StudyDirection.MINIMIZE], study_name)

    def remove_session(self) -> None:
        """Not a storage call (Optuna's hook to release a database session): no round trip."""


def _floor_method(name: str) -> Callable[..., Any]:
    def method(self: ContractFloor, *args: Any, **kwargs: Any) -> Any:
        self._round_trip()
        return getattr(self._inner, name)(*args, **kwargs)

    method.__name__ = method.__qualname__ = name
    return method


for _name, _value in vars(BaseStorage).items():
    if callable(_value) and not _name.startswith("_") and _name not in vars(ContractFloor):
        setattr(ContractFloor, _name, _floor_method(_name))
ContractFloor.__abstractmethods__ = frozenset()
del _name, _value


def storage_for(backend: str, url: str, prefix: str) -> BaseStorage:
    """A storage of a backend for the optimize benchmarks: ours, journal_redis, inmemory,
    floor (``ContractFloor``)."""
    if backend == "ours":
        return ours(url, prefix)
    if backend == "journal_redis":
        return journal_redis(url, prefix)
    if backend == "inmemory":
        return InMemoryStorage()
    if backend == "floor":
        return ContractFloor(url)
    raise ValueError(f"unknown backend {backend!r}")


def objective(trial: optuna.Trial) -> float:
    """The objective of the optimize benchmarks: 10 suggests of 3 kinds, nothing else."""
    total = 0.0
    for i in range(8):
        total += trial.suggest_float(f"x{i}", -10, 10) ** 2
    total += trial.suggest_int("n", 1, 100)
    total += 0.0 if trial.suggest_categorical("c", ["a", "b", "c"]) == "a" else 1.0
    return total


def sampler_for(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "random":
        return optuna.samplers.RandomSampler(seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")


def optimize_worker(
    backend: str,
    url: str,
    prefix: str,
    study_name: str,
    n_trials: int,
    sampler: str,
    seed: int,
    ready: Any,
    go: Any,
    done: Any,
    make_storage: Callable[[str, str, str], BaseStorage] | None = None,
) -> None:
    """A worker process: load the study, say ready, wait for go, optimize, say done.

    ``ready`` and ``done`` are multiprocessing queues, ``go`` an event. Reports
    ``(seed, None)`` or ``(seed, traceback)`` on ``done``. ``make_storage(backend, url,
    prefix)`` makes the storage (default: ``storage_for``).
    """
    import traceback

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    said_ready = False
    try:
        study = optuna.load_study(
            study_name=study_name,
            storage=(make_storage or storage_for)(backend, url, prefix),
            sampler=sampler_for(sampler, seed),
        )
        ready.put(seed)
        said_ready = True
        go.wait()
        study.optimize(objective, n_trials=n_trials)
    except BaseException:
        if not said_ready:  # Never leave the parent waiting for a worker that failed early.
            ready.put(seed)
        done.put((seed, traceback.format_exc()))
        return
    done.put((seed, None))


class Studies:
    """The same study of n trials of workload W in ours, JournalRedis and InMemory.

    Ours is written call by call, as workers write it; JournalRedis with
    ``populate_journal_redis``. The RDB (SQLite) copy is built on the first ``rdb()``, so
    cases that do not measure RDBStorage do not pay for it. ``new_prefix()`` hands out a
    prefix for another study; ``drop()`` deletes them all. ``log`` is told how long each
    Redis backend took to write.
    """

    def __init__(self, url: str, n: int, log: Callable[[str], object] = lambda _: None) -> None:
        self.url = url
        self.n = n
        self.prefixes: list[str] = []
        self._rdb_dir: str | None = None
        self._rdb: tuple[str, int] | None = None
        try:
            self.ours_prefix = self.new_prefix()
            start = time.perf_counter()
            self.ours_id = populate(ours(url, self.ours_prefix), n)
            log(f"wrote {n} trials to ours in {time.perf_counter() - start:.1f} s")
            start = time.perf_counter()
            self.journal_prefix = self.new_prefix()
            self.journal_id = populate_journal_redis(url, self.journal_prefix, n)
            log(f"wrote {n} trials to JournalRedis in {time.perf_counter() - start:.1f} s")
            self.inmemory = InMemoryStorage()
            self.inmemory_id = populate(self.inmemory, n)
        except BaseException:
            self.drop()
            raise

    def new_prefix(self) -> str:
        """A new prefix, deleted by ``drop()``."""
        prefix = new_prefix()
        self.prefixes.append(prefix)
        return prefix

    def rdb(self) -> tuple[str, int]:
        """The SQLite URL and study id of the same trials in an RDBStorage."""
        if self._rdb is None:
            self._rdb_dir = tempfile.mkdtemp(prefix="optuna-redis-bench-")
            url = f"sqlite:///{os.path.join(self._rdb_dir, 'w.db')}"
            self._rdb = url, populate_rdb(url, self.n)
        return self._rdb

    def drop(self) -> None:
        for prefix in self.prefixes:
            drop_prefix(self.url, prefix)
        if self._rdb_dir is not None:
            shutil.rmtree(self._rdb_dir, ignore_errors=True)
