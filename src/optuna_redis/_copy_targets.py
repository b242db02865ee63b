"""Where ``copy_studies`` writes: one class per kind of target storage, each writing a
chunk of whole trials by the fastest path that storage offers.

``RedisTarget`` sends a chunk as one ``import_trials`` script call; ``JournalFileTarget``
appends a chunk's create-trial log records with one ``append_logs``; ``RDBTarget`` and
``Target`` (any other storage) write one ``create_new_trial(template_trial=...)`` a
trial. Each also finds, marks and unmarks the target study as an incomplete copy.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import datetime
from typing import Any

from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from optuna_redis._bulk_py import DistributionJson

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

    def write_chunks(
        self,
        study_id: int,
        first: int,
        trials: Sequence[FrozenTrial],
        size: int,
        done: Callable[[int], None],
    ) -> None:
        """``write_trials`` of ``trials[first:]``, ``size`` at a time, calling ``done``
        with each chunk's length once it is written."""
        for lo in range(first, len(trials), size):
            chunk = trials[lo : lo + size]
            self.write_trials(study_id, lo, chunk)
            done(len(chunk))

    def mark_complete(self, study_id: int) -> None:
        self.storage.set_study_system_attr(study_id, INCOMPLETE_ATTR, False)

    def trials(self, study_id: int) -> list[FrozenTrial]:
        from optuna_redis._copy_sources import read_trials

        return read_trials(self.storage, study_id)


class RedisTarget(Target):
    """Our storage: a chunk is one ``import_trials`` script call."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        # Target study id -> its encoder (which knows the study's distributions).
        self._encoders: dict[int, Any] = {}

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        self._send(study_id, first, *self._encode(study_id, trials))

    def write_chunks(
        self,
        study_id: int,
        first: int,
        trials: Sequence[FrozenTrial],
        size: int,
        done: Callable[[int], None],
    ) -> None:
        """``write_trials`` of each chunk, each chunk's script call overlapping the
        encoding of the next (hiredis waits for Redis without the GIL); every call has
        returned, and raised its error, when this returns."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1, thread_name_prefix="optuna-redis-copy") as sender:
            pending = None
            for lo in range(first, len(trials), size):
                try:
                    encoded = self._encode(study_id, trials[lo : lo + size])
                except BaseException:
                    if pending is not None:
                        pending.result()  # The earlier chunk's error, if it has one, first.
                    raise
                if pending is not None:
                    done(pending.result())
                pending = sender.submit(self._send, study_id, lo, *encoded)
            if pending is not None:
                done(pending.result())

    def _encode(
        self, study_id: int, trials: Sequence[FrozenTrial]
    ) -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
        """A chunk's new distributions (name, JSON) and records, as ``import_trials``
        takes them."""
        from optuna_redis._codec import TrialsEncoder

        encoder = self._encoders.get(study_id)
        if encoder is None:
            storage = self.storage
            raw = storage._client.hgetall(storage._keys.dists(study_id))
            known = {k.decode(): v for k, v in raw.items()}
            encoder = self._encoders[study_id] = TrialsEncoder(known)
        return encoder.encode(trials)

    def _send(
        self,
        study_id: int,
        first: int,
        pairs: list[tuple[bytes, bytes]],
        records: list[bytes],
    ) -> int:
        """One ``import_trials`` call; the number of trials written, or an error."""
        from optuna_redis._errors import no_study
        from optuna_redis._errors import study_full
        from optuna_redis._keys import TRIAL_NUMBER_BITS
        from optuna_redis._scripts import Reply

        code, n = self.storage._scripts.import_trials(study_id, first, pairs, records)
        if code == Reply.OK:
            return len(records)
        if code == Reply.COUNT_CHANGED and self._written_before(study_id, first, n, records):
            return len(records)
        self._encoders.pop(study_id, None)  # What it knows of the study may be wrong now.
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

    def _written_before(self, study_id: int, first: int, n: int, records: list[bytes]) -> bool:
        """Whether the study's trials ``first..n-1`` are exactly ``records``: the call was
        retried after Redis applied it and its reply was lost (a restart, a failover), so
        the count moved by this copy's own chunk, not by another writer."""
        if n != first + len(records) or not records:
            return False
        storage = self.storage
        keys = [storage._keys.trial(study_id, first + i) for i in range(len(records))]
        return storage._client.mget(keys) == records

    def mark_complete(self, study_id: int) -> None:
        storage = self.storage
        storage._client.hdel(storage._keys.system_attrs(study_id), INCOMPLETE_ATTR)


class JournalFileTarget(Target):
    """A JournalStorage on a file: a chunk is one ``append_logs`` of create-trial records,
    the records ``JournalStorage.create_new_trial(template_trial=...)`` writes."""

    def __init__(self, storage: BaseStorage) -> None:
        super().__init__(storage)
        self._dist_json = DistributionJson()

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        from optuna.storages.journal._storage import JournalOperation

        storage: Any = self.storage
        worker_id = storage._replay_result.worker_id
        to_json = self._dist_json
        logs = []
        for t in trials:
            dists = {name: to_json(name, dist) for name, dist in t.distributions.items()}
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
    """RDBStorage: a chunk is one transaction of bulk INSERTs through Optuna's own models,
    the rows ``RDBStorage.create_new_trial(template_trial=...)`` writes; the marker row is
    deleted at the end."""

    def write_trials(self, study_id: int, first: int, trials: Sequence[FrozenTrial]) -> None:
        from optuna.storages._rdb import models
        import sqlalchemy

        storage: Any = self.storage
        table = models.TrialModel.__table__
        rows = [
            {
                "study_id": study_id,
                "number": first + i,
                "state": t.state,
                "datetime_start": _naive_utc(t.datetime_start),
                "datetime_complete": _naive_utc(t.datetime_complete),
            }
            for i, t in enumerate(trials)
        ]
        with storage.engine.begin() as conn:
            count = sqlalchemy.select(sqlalchemy.func.count()).where(table.c.study_id == study_id)
            held = conn.execute(count).scalar_one()
            if held != first:
                raise RuntimeError(
                    f"another writer added trials to the target study {study_id} during the "
                    f"copy (it holds {held}, expected {first})"
                )
            conn.execute(sqlalchemy.insert(table), rows)
            select = sqlalchemy.select(table.c.number, table.c.trial_id).where(
                (table.c.study_id == study_id) & (table.c.number >= first)
            )
            ids = dict(conn.execute(select).all())
            for model, child_rows in _child_rows(trials, first, ids, self._dist_json).items():
                if child_rows:
                    conn.execute(sqlalchemy.insert(model.__table__), child_rows)

    def __init__(self, storage: BaseStorage) -> None:
        super().__init__(storage)
        self._dist_json = DistributionJson()

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


def _naive_utc(value: datetime.datetime | None) -> datetime.datetime | None:
    """As RDBStorage stores a datetime (TrialModel's column setters)."""
    if value is None:
        return None
    return value.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def _child_rows(
    trials: Sequence[FrozenTrial], first: int, ids: dict[int, int], to_json: DistributionJson
) -> dict[type, list[dict[str, Any]]]:
    """The param, value, intermediate value and attr rows of trials (number -> id)."""
    import json

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
    params = rows[models.TrialParamModel]
    for i, trial in enumerate(trials):
        trial_id = ids[first + i]
        for name, value in trial.params.items():
            dist = trial.distributions[name]
            params.append(
                {
                    "trial_id": trial_id,
                    "param_name": name,
                    "param_value": dist.to_internal_repr(value),
                    "distribution_json": to_json(name, dist),
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
                rows[model].append(
                    {"trial_id": trial_id, "key": key, "value_json": json.dumps(value)}
                )
    return rows


def _utc_iso(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.timezone.utc).isoformat(timespec="microseconds")
