"""A trial is alive from the moment it exists: the process that made it vouches for it.

Optuna's heartbeat thread records a trial's first heartbeat only once ``study.ask()`` has
returned, and a trial run through ``ask()``/``tell()`` gets none at all. So a worker of a
heartbeat storage that dies between creating a trial and that first beat would leave a
trial no heartbeat ever marks stale: RUNNING forever. Instead:

- Creating a RUNNING trial, or claiming a WAITING one, gives it a heartbeat at once (the
  server's time) and records the creating process as vouching for it (``claims``).
- Each process keeps a beat of its own in each study it claimed trials in
  (``processes``): ``Liveness`` beats from a daemon thread every ``heartbeat_interval``
  seconds, or every quarter ``grace_period`` if that is shorter, and dies with the process.
- A trial is stale when its last heartbeat is older than ``grace_period`` and no live
  process vouches for it: either it has had heartbeats of its own (its first one ends the
  claim, so from then on it is judged by them alone, as on Optuna's storages), or its
  process has not beaten within ``grace_period``.

So a worker killed anywhere after its trial exists leaves a trial that is stale
``grace_period`` after its last beat (the trial's or the process's), and the next
``fail_stale_trials`` fails it. A process using ``ask()``/``tell()`` keeps its trials
alive for as long as it runs. A storage without ``heartbeat_interval`` vouches for
nothing, and its trials are never stale, as on Optuna's storages.
"""

from __future__ import annotations

import os
import threading
import time
import weakref

import optuna

from optuna_redis._scripts import Reply
from optuna_redis._scripts import Scripts

_logger = optuna.logging.get_logger("optuna.storages")


class Liveness:
    """This process's beats, for the trials one storage claims."""

    def __init__(self, scripts: Scripts, period: float) -> None:
        self._scripts = scripts
        self._period = period
        self._lock = threading.Lock()  # for claim(): the beats take none (see below)
        self._pid: int | None = None
        self._id = ""
        self._studies: set[int] = set()
        self._failing = False
        _ALL.add(self)

    def claim(self, study_id: int) -> str:
        """The id under which this process claims a new trial of ``study_id``; from now on
        the process beats in that study."""
        with self._lock:
            if self._pid != os.getpid():
                # First claim in this process (or in a forked child, which has its own
                # life and none of its parent's threads): a new id, a new beating thread.
                self._pid = os.getpid()
                self._id = os.urandom(8).hex()
                self._studies = set()
                _start(self, self._period)
            self._studies.add(study_id)
            return self._id

    def beat(self) -> None:
        """One beat in each study this process claimed trials in (those still there)."""
        # Copying and discarding are atomic under the GIL, so the beating thread holds no
        # lock a fork could leave held.
        studies, process = list(self._studies), self._id
        for study_id in studies:
            try:
                if self._scripts.beat_process(study_id, process) == Reply.NOT_FOUND:
                    self._studies.discard(study_id)
            except Exception as e:
                # Redis unreachable past retry_deadline, say: beat again next time. The
                # others judge no trial stale right after an outage (see
                # RedisStorage._get_stale_trial_ids).
                if not self._failing:
                    _logger.warning(f"The storage's liveness beat failed: {e!r}")
                self._failing = True
                return
        self._failing = False


# Every Liveness of this process: a forked child gets fresh locks (a thread of the parent
# may have held one at the fork, and that thread does not exist in the child).
_ALL: weakref.WeakSet[Liveness] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for liveness in list(_ALL):
        liveness._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _start(liveness: Liveness, period: float) -> None:
    # The thread holds the Liveness weakly: it ends once the storage is gone.
    ref = weakref.ref(liveness)
    pid = os.getpid()
    thread = threading.Thread(
        target=_beat_forever, args=(ref, period, pid), name="optuna-redis-liveness", daemon=True
    )
    thread.start()


def _beat_forever(ref: weakref.ref[Liveness], period: float, pid: int) -> None:
    while True:
        time.sleep(period)
        liveness = ref()
        if liveness is None or liveness._pid != pid:
            return
        liveness.beat()
        del liveness
