"""Redis Sentinel: a running study through a failover, and what ``wait_replicas`` promises.

The storage is built as the ``from_client`` docstring suggests, on
``Sentinel(...).master_for("mymaster", retry=DeadlineRetry(...))``, against a private master,
replica and Sentinel (``_sentinel.LocalSentinel``); nothing touches another Redis.

What a ``SENTINEL FAILOVER`` looks like from a client (Redis 7.0, redis-py 8.1): the replica
is promoted within about a second, but the former master stays a master, and connections
opened before the failover keep writing to it, until the Sentinel demotes it about 10 s later
and closes its clients' connections. redis-py asks the Sentinel for the master's address only
when a connection is opened from the pool, not when it reconnects inside a retry
(redis/redis-py#3874; the storage's ``SentinelConnection`` asks on every reconnect). With
``wait_replicas`` a write that only the old master took is not acknowledged, and is written
again on the new master. Without it, such writes are lost:
``test_without_wait_replicas_writes_to_the_former_master_are_lost`` forces that loss and
shows what the workers see.
"""

from __future__ import annotations

from collections.abc import Iterator
import pickle
import signal
import threading
import time
from typing import Any
import uuid
import warnings

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis
import redis.sentinel

from _redis_server import RedisServer
from _sentinel import HOST
from _sentinel import PROBE_KEY
from _sentinel import SERVICE
from _sentinel import LocalSentinel
from _sentinel import role
from optuna_redis import DeadlineRetry
from optuna_redis import RedisStorage
from optuna_redis import RedisUnavailableError
from optuna_redis._local_redis import find_server
from optuna_redis._sentinel import SentinelConnection

optuna.logging.set_verbosity(optuna.logging.WARNING)

pytestmark = pytest.mark.skipif(
    find_server() is None, reason="no Redis server binary (see find_server)"
)

WAIT_WARNING = "replicas acknowledged"
# The Sentinel client's socket timeout. A waited write blocks in WAIT for up to
# wait_timeout, so wait_timeout must stay below it (see test_wait_timeout_of_socket_timeout).
SOCKET_TIMEOUT = 1.0
WAIT_TIMEOUT = 0.25


@pytest.fixture(scope="module")
def sentinel() -> Iterator[LocalSentinel]:
    with LocalSentinel() as s:
        yield s


def sentinel_storage(
    s: LocalSentinel, prefix: str, retry_deadline: float = 20, **kwargs: Any
) -> RedisStorage:
    """A storage on the Sentinel's master, built as the from_client docstring suggests."""
    client = redis.sentinel.Sentinel(
        [(HOST, s.sentinel_port)], socket_timeout=SOCKET_TIMEOUT
    ).master_for(SERVICE, retry=DeadlineRetry(retry_deadline))
    return RedisStorage.from_client(client, prefix=prefix, **kwargs)


def storage_on(port: int, prefix: str) -> RedisStorage:
    """A plain storage on one server, for checking what it holds."""
    return RedisStorage.from_client(redis.Redis(HOST, port), prefix=prefix)


def describe(error: BaseException) -> str:
    """The exception and what it was raised while handling (Optuna's ``_run_trial`` can
    replace a storage error with an UnboundLocalError of its own)."""
    parts = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 4:
        parts.append(f"{type(seen).__name__}: {str(seen).splitlines()[0] if str(seen) else ''}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)


class Worker(threading.Thread):
    """``study.optimize`` in a thread on its own storage until ``stop`` is set; records
    the number and time of every trial its callback saw finish COMPLETE."""

    def __init__(self, make_storage: Any, study_name: str, seed: int, stop: threading.Event):
        super().__init__(daemon=True)
        self.make_storage = make_storage
        self.study_name = study_name
        self.seed = seed
        self.stop_event = stop
        self.finished: list[tuple[int, float]] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            study = optuna.load_study(
                study_name=self.study_name,
                storage=self.make_storage(),
                sampler=optuna.samplers.RandomSampler(self.seed),
            )

            def objective(trial: optuna.Trial) -> float:
                x = trial.suggest_float("x", -10, 10)
                time.sleep(0.02)
                return x * x

            def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
                if trial.state == TrialState.COMPLETE:
                    self.finished.append((trial.number, time.monotonic()))
                if self.stop_event.is_set():
                    study.stop()

            study.optimize(objective, n_trials=100_000, callbacks=[callback])
        except BaseException as e:
            self.error = e


def wait_for(condition: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def run_through_failover(
    s: LocalSentinel, make_storage: Any, prefix: str
) -> tuple[list[Worker], int, float, list[warnings.WarningMessage]]:
    """Two worker threads optimize one study while the Sentinel fails over; return the
    workers, the new master's port, when the former master was demoted, and the warnings."""
    s.settle()
    study_name = "failover"
    optuna.create_study(
        study_name=study_name, storage=make_storage(), direction=StudyDirection.MINIMIZE
    )
    stop = threading.Event()
    workers = [Worker(make_storage, study_name, seed, stop) for seed in range(2)]
    # Warnings of all threads land here: the filter is process-wide.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for w in workers:
            w.start()
        try:
            wait_for(
                lambda: all(len(w.finished) >= 5 or w.error for w in workers),
                "the workers to finish some trials",
                20,
            )
            new_master = s.failover()
            s.wait_demoted(s.other(new_master))  # the Sentinel demotes the former master
            demoted = time.monotonic()
            wait_for(
                lambda: all(
                    w.error or sum(t > demoted for _, t in w.finished) >= 5 for w in workers
                ),
                "the workers to finish trials on the new master",
                30,
            )
        finally:
            stop.set()
            for w in workers:
                w.join(40)
    assert not any(w.is_alive() for w in workers), "a worker is stuck"
    return workers, new_master, demoted, list(caught)


def check_study(
    workers: list[Worker], port: int, prefix: str, caught: list[warnings.WarningMessage]
) -> list[str]:
    """What the new master holds against what the workers saw; one line per problem."""
    problems = [f"worker {i} raised {describe(w.error)}" for i, w in enumerate(workers) if w.error]
    storage = storage_on(port, prefix)
    study_id = storage.get_study_id_from_name("failover")
    trials = storage.get_all_trials(study_id, deepcopy=False)
    states = {t.number: t.state for t in trials}
    if [t.number for t in trials] != list(range(len(trials))):
        problems.append("trial numbers on the new master are not 0..N-1")
    not_complete = sorted(n for n, st in states.items() if st != TrialState.COMPLETE)
    if not_complete:
        problems.append(f"trials not COMPLETE on the new master: {not_complete}")
    seen = [n for w in workers for n, _ in w.finished]
    if len(seen) != len(set(seen)):
        problems.append("two workers saw the same trial number finish")
    lost = sorted(n for n in seen if states.get(n) != TrialState.COMPLETE)
    if lost:
        problems.append(
            f"{len(lost)} of {len(seen)} trials the workers saw finish are not COMPLETE on "
            f"the new master: {lost[:10]}{' ...' if len(lost) > 10 else ''}"
        )
    waits = [c for c in caught if WAIT_WARNING in str(c.message)]
    if waits:
        problems.append(f"{len(waits)} RuntimeWarnings '{WAIT_WARNING}'")
    return problems


def test_a_sentinel_storage_pickles_and_finds_the_master(sentinel: LocalSentinel) -> None:
    """What a multiprocessing/joblib/Dask worker gets: the same Sentinel addresses,
    service name, timeouts and retry, and a pool that asks the Sentinel for the master."""
    prefix = f"sentinel-pickle-{uuid.uuid4().hex[:8]}"
    storage = sentinel_storage(sentinel, prefix, retry_deadline=12)
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "pickled")
    copy = pickle.loads(pickle.dumps(storage))
    pool = copy._client.connection_pool
    assert isinstance(pool, redis.sentinel.SentinelConnectionPool)
    assert (pool.service_name, pool.is_master) == (SERVICE, True)
    assert pool.connection_class is SentinelConnection
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(k["host"], k["port"], k["socket_timeout"]) for k in sentinels] == [
        (HOST, sentinel.sentinel_port, SOCKET_TIMEOUT)
    ]
    assert pool.connection_kwargs["socket_timeout"] == SOCKET_TIMEOUT
    retry = copy._client.get_retry()
    assert isinstance(retry, DeadlineRetry) and retry.deadline == 12
    assert copy._outage_clock is retry
    assert copy.get_study_id_from_name("pickled") == study_id
    trial_id = copy.create_new_trial(study_id)
    assert storage.get_trial(trial_id).number == 0
    master = pool.get_master_address()
    assert role(master[1]) == "master"


def test_study_survives_failover_with_wait_replicas(sentinel: LocalSentinel) -> None:
    """With wait_replicas=1, no finished trial may be lost through a failover."""
    prefix = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"

    def make() -> RedisStorage:
        return sentinel_storage(sentinel, prefix, wait_replicas=1, wait_timeout=WAIT_TIMEOUT)

    workers, new_master, _, caught = run_through_failover(sentinel, make, prefix)
    problems = check_study(workers, new_master, prefix, caught)
    assert not problems, "\n".join(problems)


def test_without_wait_replicas_writes_to_the_former_master_are_lost(
    sentinel: LocalSentinel,
) -> None:
    """Without wait_replicas, what a worker writes to the former master after the failover
    is lost, and the worker learns it at its next write: the loss forced on purpose.

    The Sentinel is paused (SIGSTOP) as soon as the replica is promoted. It demotes a
    former master only 8 s (4 INFO periods) after the switch, so while it is paused the
    former master stays a master, cut off from the new one, for as long as the test needs;
    the worker's connection, opened before the failover, keeps writing to it. Resumed, the
    Sentinel demotes it, and the full sync from the new master drops those writes.
    """
    master, replica = sentinel.settle()
    prefix = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"
    worker = sentinel_storage(sentinel, prefix, retry_deadline=10)
    study = optuna.create_study(
        study_name="lost", storage=worker, sampler=optuna.samplers.RandomSampler(0)
    )

    def run_trials(n: int) -> None:
        # ask and tell, not optimize: optimize ends with remove_session, which would close
        # the connection, and a new one would ask the (paused) Sentinel for the master.
        for _ in range(n):
            trial = study.ask()
            study.tell(trial, trial.suggest_float("x", -10, 10) ** 2)

    run_trials(3)
    assert sentinel.sentinel_process is not None
    with redis.Redis(HOST, master) as admin:  # the 3 trials are on the replica
        admin.set(PROBE_KEY, "before the failover")
        assert int(admin.execute_command("WAIT", 1, 5000)) == 1

    assert sentinel.failover() == replica
    sentinel.sentinel_process.send_signal(signal.SIGSTOP)
    try:
        assert role(master) == "master", "the Sentinel demoted the former master at once"
        # The worker's connection still leads to the former master, which takes it all.
        run_trials(2)
        running = study.ask()
        assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE] * 5 + [
            TrialState.RUNNING
        ]
        assert storage_on(master, prefix).get_n_trials(study._study_id) == 6
        assert storage_on(replica, prefix).get_n_trials(study._study_id) == 3
    finally:
        sentinel.sentinel_process.send_signal(signal.SIGCONT)
    sentinel.settle()  # the former master is a replica of the new one now

    # Every write made after the failover is gone, on both servers.
    for port in (master, replica):
        trials = storage_on(port, prefix).get_all_trials(study._study_id)
        assert [(t.number, t.state) for t in trials] == [
            (n, TrialState.COMPLETE) for n in range(3)
        ]
    # The worker's next write reaches the new master, which never had its running trial.
    with pytest.raises(KeyError, match=f"No trial with trial_id {running._trial_id} exists"):
        worker.set_trial_state_values(running._trial_id, TrialState.COMPLETE, [0.0])
    # A new trial takes the number of the first lost one.
    fresh = sentinel_storage(sentinel, prefix)
    assert fresh.get_trial(fresh.create_new_trial(study._study_id)).number == 3


def test_wait_replicas_without_replica_is_an_error_after_the_deadline() -> None:
    with RedisServer() as server:  # a master with no replica at all
        storage = RedisStorage(server.url, wait_replicas=1, wait_timeout=0.05, retry_deadline=1)
        start = time.monotonic()
        with pytest.raises(RedisUnavailableError, match="not acknowledged by 1 replica"):
            storage.create_new_study([StudyDirection.MINIMIZE], "s")
        assert time.monotonic() - start < 10
        # The master took the write; the error says it may not survive a failover.
        assert RedisStorage(server.url).get_study_id_from_name("s") >= 1


def test_wait_replicas_with_replica_in_sync_does_not_warn(sentinel: LocalSentinel) -> None:
    replica = sentinel.other(sentinel.current_master()[1])
    sentinel.wait_demoted(replica)
    prefix = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"
    storage = sentinel_storage(sentinel, prefix, wait_replicas=1, wait_timeout=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        study = optuna.create_study(study_name="in-sync", storage=storage)
        study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    # The replica acknowledged each finish, so it holds every finished trial already.
    on_replica = storage_on(replica, prefix)
    trials = on_replica.get_all_trials(on_replica.get_study_id_from_name("in-sync"))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5


def test_waited_write_retried_on_server_without_scripts() -> None:
    """A retried waited write that lands on a server without the script (restarted, or a
    new master: Redis does not replicate SCRIPT LOAD) loads it and runs again, once."""
    with RedisServer() as server:  # no replica: each waited write blocks in WAIT
        storage = RedisStorage(server.url, wait_replicas=1, wait_timeout=0.5, retry_deadline=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # (Created without waiting: no replica will ever acknowledge.)
            study_id = RedisStorage(server.url).create_new_study([StudyDirection.MINIMIZE], "s")
            admin = redis.Redis.from_url(server.url)

            def drop_scripts_and_connections() -> None:
                wait_for(
                    lambda: any(c.get("cmd") == "wait" for c in admin.client_list()),
                    "the write to block in WAIT",
                    10,
                )
                admin.script_flush()
                admin.client_kill_filter(_type="normal", skipme=True)

            killer = threading.Thread(target=drop_scripts_and_connections)
            killer.start()
            try:
                # No replica ever acknowledges; what matters is how the retries end.
                with pytest.raises(RedisUnavailableError, match="not acknowledged"):
                    storage.create_new_trial(study_id)
            finally:
                killer.join()
                admin.close()
        # Run once, despite the retries (and not failed on NoScriptError).
        assert storage.get_n_trials(study_id) == 1


def test_wait_timeout_must_be_shorter_than_the_socket_timeout() -> None:
    with RedisServer() as server:
        with pytest.raises(ValueError, match="shorter than the client's socket_timeout"):
            RedisStorage(
                server.url,
                wait_replicas=1,
                wait_timeout=SOCKET_TIMEOUT,
                client_kwargs={"socket_timeout": SOCKET_TIMEOUT},
            )
