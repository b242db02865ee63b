"""Bringing a study's cached trials up to date with Redis: the cold load, then one round
trip per read that returns only the trials changed since.

Each study's ``StudyCache`` is in sync up to a change sequence number (``seq`` in the
study's meta, bumped by every trial write, which also records the trial's number in the
study's ``changes`` zset with that seq). A warm cache costs one round trip when little
changed: the ``sync_trials`` script returns the records changed since the cache's seq. A
cold cache is first filled in bulk with MGET (cheaper on the server than the script),
from the seq read before it; whatever changes meanwhile has a later seq, so the sync that
follows picks it up. One lock per storage serializes syncs; the lists handed out are
never mutated, so readers use them without it.
"""

from __future__ import annotations

from collections.abc import Container
import threading
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import redis

from optuna_redis._cache import StudyCache
from optuna_redis._codec import decode_range
from optuna_redis._codec import decode_trial
from optuna_redis._codec import decode_trials
from optuna_redis._distributions import StudyDistributions
from optuna_redis._errors import CorruptRecordError
from optuna_redis._errors import RedisUnavailableError
from optuna_redis._errors import no_study
from optuna_redis._errors import no_trial
from optuna_redis._keys import Keys
from optuna_redis._keys import trial_id_of
from optuna_redis._meta import parse_int
from optuna_redis._scripts import Scripts
from optuna_redis._wire import fetch_records
from optuna_redis._wire import flat

# Trial records per round trip of an incremental sync: bounds both the time one script
# holds Redis and the size of one reply.
SYNC_CHUNK = 2000


class Sync:
    """What one storage keeps of each study it read: the cache, the distributions, the
    directions (which never change once the study exists)."""

    def __init__(self, client: Any, keys: Keys, scripts: Scripts) -> None:
        self._client = client
        self._keys = keys
        self._scripts = scripts
        self._lock = threading.Lock()
        self._caches: dict[int, StudyCache] = {}
        self._dists: dict[int, StudyDistributions] = {}
        self.directions: dict[int, list[StudyDirection]] = {}

    def trials(self, study_id: int, states: Container[TrialState] | None) -> list[FrozenTrial]:
        """The study's trials (in ``states``), up to date: a list that is never mutated."""
        with self._lock:
            cache = self._synced(study_id)
            return cache.snapshot() if states is None else cache.filtered(states)

    def extremes(self, study_id: int) -> tuple[FrozenTrial, FrozenTrial]:
        """The best COMPLETE trial when minimizing and when maximizing, up to date;
        ValueError when no trial is COMPLETE."""
        with self._lock:
            cache = self._synced(study_id)
            return cache.best(StudyDirection.MINIMIZE), cache.best(StudyDirection.MAXIMIZE)

    def trial(self, study_id: int, number: int) -> FrozenTrial:
        """One trial, read from Redis (a running trial is never served from the cache)."""
        trial_id = trial_id_of(study_id, number)
        # Kept only once the trial is found, so made-up ids leave nothing behind.
        dists = self._dists.get(study_id) or StudyDistributions()
        reply = self._scripts.get_trial(study_id, number, len(dists.registered))
        if not reply:
            raise no_trial(trial_id)
        record, new_dists = reply
        dists = self._dists.setdefault(study_id, dists)
        if new_dists:
            dists.register(self._keys.dists(study_id), new_dists)
        return decode_trial(self._keys.trial(study_id, number), trial_id, number, record, dists)

    def registered_json(self, study_id: int, param_name: str) -> bytes | None:
        """The JSON of the study's distribution for ``param_name`` as this storage last read
        it, or None if it read none. Never stale: a registered distribution never changes
        while its study exists (the scripts only add names to the ``dists`` hash)."""
        dists = self._dists.get(study_id)
        return None if dists is None else dists.json_of.get(param_name)

    def forget(self, study_id: int) -> None:
        """Drop what this storage keeps of a study (deleted, or found missing)."""
        with self._lock:
            self._forget(study_id)

    def _forget(self, study_id: int) -> None:
        self._caches.pop(study_id, None)
        self._dists.pop(study_id, None)
        self.directions.pop(study_id, None)

    def _synced(self, study_id: int) -> StudyCache:
        """The study's cache brought up to date (the caller holds ``_lock``)."""
        cache = self._caches.get(study_id)
        if cache is None:
            try:
                cache = self._cold_load(study_id)
            except RedisUnavailableError:
                raise
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                # The overlapped fetch reads its own replies, without the client's
                # retries: start again with plain pipelines, which retry.
                cache = self._cold_load(study_id, overlap=False)
        dists_key = self._keys.dists(study_id)
        while True:
            reply = self._scripts.sync_trials(
                study_id, cache.seq, SYNC_CHUNK, len(cache.dists.registered)
            )
            if reply is None:
                self._forget(study_id)
                raise no_study(study_id)
            cursor, n_trials, complete, new_dists = reply[:4]
            if new_dists:
                cache.dists.register(dists_key, new_dists)
            cache.apply(n_trials, decode_trials(cache.head, study_id, reply[4:], cache.dists))
            cache.seq = cursor
            if complete:
                break
        self._caches[study_id] = cache
        return cache

    def _cold_load(self, study_id: int, overlap: bool = True) -> StudyCache:
        keys = self._keys
        meta = keys.meta(study_id)
        seq, n_trials = self._client.hmget(meta, "seq", "n")
        if seq is None:
            raise no_study(study_id)
        n_trials = parse_int(n_trials, meta)
        head, dists_key = keys.trial_head(study_id), keys.dists(study_id)
        cache = StudyCache(self._study_dists(study_id), head, parse_int(seq, meta), n_trials)
        dists = cache.dists
        for numbers, records, dists_hash in fetch_records(
            self._client, head, dists_key, n_trials, overlap
        ):
            if len(dists_hash) > len(dists.registered):
                dists.register(dists_key, flat(dists_hash))
            if len(records) != len(numbers):
                raise CorruptRecordError(
                    f"MGET of the trials under {head!r} returned {len(records)} records "
                    f"for {len(numbers)} keys."
                )
            # Decoded straight into the list. A missing record is reported after the next
            # sync, unless that sync brings it (a trial being created meanwhile).
            cache.note_missing(
                decode_range(head, study_id, numbers.start, records, dists, cache.trials)
            )
        return cache

    def _study_dists(self, study_id: int) -> StudyDistributions:
        return self._dists.setdefault(study_id, StudyDistributions())
