"""Where ``copy_studies`` writes: one class per kind of target storage, each writing a
chunk of whole trials by the fastest path that storage offers.

``RedisTarget`` sends a chunk as one ``import_trials`` script call; ``JournalFileTarget``
appends a chunk's create-trial log records with one ``append_logs``; ``RDBTarget`` and
``Target`` (any other storage) write one ``create_new_trial(template_trial=...)`` a
trial. Each also finds, marks and unmarks the target study as an incomplete copy.
"""

from __future__ import annotations

from collections.abc import Sequence
import datetime
from typing import Any

from optuna.distributions import check_distribution_compatibility
from optuna.distributions import distribution_to_json
from optuna.distributions import json_to_distribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

__all__ = ["INCOMPLETE_ATTR", "Target", "target_for"]

# The study system attr that marks a target study as a copy not yet finished. Targets that
# cannot delete a study attr (a journal, the public API) set it to False at the end.
INCOMPLETE_ATTR = "optuna_redis:copy_incomplete"


class Target:
    """Any BaseStorage, through its public API."""

    def __init__(self, storage: BaseStorage) -> None:
        self.storage = storage

    def find_study(self, name: str) -> int | None:
        try:
            return self.storage.get_study_id_from_name(name)
        except KeyError:
            return None

    def is_incomplete(self, study_id: int) -> bool:
        return bool(self.storage.get_study_system_attrs(study_id).get(INCOMPLETE_ATTR))

    def create_study(self, name: str, directions: Sequence[StudyDirection]) -> int:
        study_id = self.storage.create_new_study(list(directions), name)
        self.storage.set_study_system_attr(study_id, INCOMPLETE_ATTR, True)
        return study_id

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        for trial in trials:
            self.storage.create_new_trial(study_id, template_trial=trial)

    def mark_complete(self, study_id: int) -> None:
        self.storage.set_study_system_attr(study_id, INCOMPLETE_ATTR, False)

    def trials(self, study_id: int) -> list[FrozenTrial]:
        trials = self.storage.get_all_trials(study_id, deepcopy=False)
        return sorted(trials, key=lambda t: t.number)


class RedisTarget(Target):
    """Our storage: a chunk is one ``import_trials`` script call."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self._dists: dict[int, dict[str, bytes]] = {}

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        from optuna_redis import _record
        from optuna_redis._errors import no_study
        from optuna_redis._errors import study_full
        from optuna_redis._keys import TRIAL_NUMBER_BITS
        from optuna_redis._scripts import Reply

        storage = self.storage
        known = self._dists.get(study_id)
        if known is None:
            raw = storage._client.hgetall(storage._keys.dists(study_id))
            known = self._dists[study_id] = {k.decode(): v for k, v in raw.items()}
        new: dict[str, bytes] = {}
        records = []
        for trial in trials:
            head, params, tail = _record.encode_template(trial)
            parts = [head]
            for p in params:
                stored = known.get(p.name)
                if stored is None:
                    known[p.name] = new[p.name] = p.dist_json
                    parts.append(p.short)
                elif stored == p.dist_json:
                    parts.append(p.short)
                else:
                    check_distribution_compatibility(
                        json_to_distribution(stored.decode()), trial.distributions[p.name]
                    )
                    parts.append(p.full)
            parts.append(tail)
            records.append(b"".join(parts))
        pairs = [(_record.encode_name(k, "param name"), v) for k, v in new.items()]
        code, n = storage._scripts.import_trials(study_id, first, pairs, records)
        if code == Reply.OK:
            return
        self._dists.pop(study_id, None)
        if code == Reply.NOT_FOUND:
            raise no_study(study_id)
        if code == Reply.FULL:
            raise study_full(study_id, 1 << TRIAL_NUMBER_BITS)
        if code == Reply.COUNT_CHANGED:
            raise RuntimeError(
                f"another writer added trials to the target study {study_id} during the copy "
                f"(it holds {n}, expected {first})"
            )
        raise RuntimeError(
            f"another writer registered a different distribution for {pairs[n][0]!r} in "
            f"the target study {study_id} during the copy"
        )

    def mark_complete(self, study_id: int) -> None:
        storage = self.storage
        storage._client.hdel(storage._keys.system_attrs(study_id), INCOMPLETE_ATTR)


class JournalFileTarget(Target):
    """A JournalStorage on a file: a chunk is one ``append_logs`` of create-trial records,
    the records ``JournalStorage.create_new_trial(template_trial=...)`` writes."""

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        from optuna.storages.journal._storage import JournalOperation

        storage: Any = self.storage
        worker_id = storage._replay_result.worker_id
        dist_json: dict[int, str] = {}
        logs = []
        for t in trials:
            dists = {}
            for name, dist in t.distributions.items():
                text = dist_json.get(id(dist))
                if text is None:
                    text = dist_json[id(dist)] = distribution_to_json(dist)
                dists[name] = text
            log: dict[str, Any] = {
                "op_code": JournalOperation.CREATE_TRIAL,
                "worker_id": worker_id,
                "study_id": study_id,
                "state": int(t.state),
                "datetime_start": _utc_iso(t.datetime_start),
                "distributions": dists,
                "params": {k: t.distributions[k].to_internal_repr(v) for k, v in t.params.items()},
                "user_attrs": t.user_attrs,
                "system_attrs": t.system_attrs,
                "intermediate_values": t.intermediate_values,
            }
            if t.values is not None and len(t.values) > 1:
                log["value"], log["values"] = None, t.values
            else:
                log["value"], log["values"] = (t.values[0] if t.values else None), None
            if t.datetime_complete is not None:
                log["datetime_complete"] = _utc_iso(t.datetime_complete)
            logs.append(log)
        with storage._thread_lock:
            storage._backend.append_logs(logs)

    def trials(self, study_id: int) -> list[FrozenTrial]:
        with self.storage._thread_lock:
            self.storage._sync_with_backend()
        return super().trials(study_id)


class RDBTarget(Target):
    """RDBStorage: one template create_new_trial a trial; the marker row is deleted."""

    def mark_complete(self, study_id: int) -> None:
        from optuna.storages._rdb import models
        import sqlalchemy

        table = models.StudySystemAttributeModel.__table__
        with self.storage.engine.begin() as conn:
            conn.execute(
                sqlalchemy.delete(table).where(
                    (table.c.study_id == study_id) & (table.c.key == INCOMPLETE_ATTR)
                )
            )


def target_for(storage: BaseStorage) -> Target:
    """The fastest target class for a storage."""
    from optuna.storages import RDBStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal import JournalStorage

    from optuna_redis._storage import RedisStorage

    if isinstance(storage, RedisStorage):
        return RedisTarget(storage)
    if isinstance(storage, JournalStorage) and isinstance(storage._backend, JournalFileBackend):
        return JournalFileTarget(storage)
    if isinstance(storage, RDBStorage):
        return RDBTarget(storage)
    return Target(storage)


def _utc_iso(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
