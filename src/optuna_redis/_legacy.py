"""``LegacyRedisStorage``: the studies that Optuna 1.4–3.0's pickling ``RedisStorage`` left
in a Redis database, read through the allowlisting unpickler, as a read-only Optuna storage.

The legacy layout (Optuna 1.4–3.0 ``optuna/storages/_redis.py``) has no key prefix:
``study_list`` (a list of pickled study ids), ``study_id:{id:010d}:study_name`` (pickled
str), ``…:directions`` (a pickled list of ``StudyDirection``; 1.4–2.3 kept one,
``…:direction``), ``…:study_summary`` (a pickled ``StudySummary``, which holds the study's
user and system attrs), ``…:trial_list`` (a list of trial ids as plain integers) and
``trial_id:{id:010d}:frozentrial`` (a pickled ``FrozenTrial``). Every write method raises
:class:`LegacyStorageReadOnlyError`: the storage is a source for ``copy_studies`` and
nothing of the legacy data is ever written. Read a legacy database while no legacy worker
writes to it; the storage reads each study once and keeps it.
"""

from __future__ import annotations

from collections.abc import Container
import copy
import datetime
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.study._frozen import FrozenStudy
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import redis

from optuna_redis._errors import no_study
from optuna_redis._errors import no_study_named
from optuna_redis._errors import no_trial
from optuna_redis._errors import no_trial_number
from optuna_redis._legacy_pickle import DistributionRecord
from optuna_redis._legacy_pickle import FrozenTrialRecord
from optuna_redis._legacy_pickle import LegacyRecordError
from optuna_redis._legacy_pickle import StudySummaryRecord
from optuna_redis._legacy_pickle import loads

# Keys of the legacy layout; the study and trial ids are zero-padded to 10 digits.
STUDY_LIST = "study_list"
STUDY_COUNTER = "study_counter"
# Trials fetched per MGET.
_CHUNK = 1000


class NotALegacyStoreError(LookupError):
    """The Redis database holds no data of Optuna's legacy ``RedisStorage``."""


class LegacyStorageReadOnlyError(RuntimeError):
    """A write was attempted on the read-only legacy storage."""


def study_key(study_id: int, field: str) -> str:
    return f"study_id:{study_id:010d}:{field}"


def trial_key(trial_id: int) -> str:
    return f"trial_id:{trial_id:010d}:frozentrial"


class _Study:
    def __init__(self, frozen: FrozenStudy) -> None:
        self.frozen = frozen
        self.trials: list[FrozenTrial] | None = None


class LegacyRedisStorage(BaseStorage):
    """The studies of Optuna 1.4–3.0's ``RedisStorage`` in one Redis database, read-only.

    Example:
        .. code::

            from optuna_redis import LegacyRedisStorage, RedisStorage, copy_studies

            legacy = LegacyRedisStorage("redis://localhost:6379/0")
            print([s.study_name for s in legacy.get_all_studies()])
            copy_studies(legacy, RedisStorage("redis://localhost:6379/0"))

    Args:
        url: The URL the legacy ``RedisStorage`` was given (its database number included).
        client: A redis client to use instead of one from ``url``.

    Raises:
        NotALegacyStoreError: The database has no ``study_list`` key (checked on creation).
        LegacyRecordError: A record is not a pickle of Optuna's, or names a global outside
            the allowlist (the message names the key, and the global).
    """

    def __init__(self, url: str | None = None, *, client: redis.Redis | None = None) -> None:
        if client is None:
            if url is None:
                raise ValueError("give the legacy Redis URL or a client")
            client = redis.Redis.from_url(url)
        self._redis = client
        self._studies = self._load_studies()

    # --- reading the legacy layout ---------------------------------------------------------

    def _load_studies(self) -> dict[int, _Study]:
        kind = self._redis.type(STUDY_LIST)
        if kind == b"none":
            if self._redis.exists(STUDY_COUNTER):
                return {}  # Every study was deleted.
            raise NotALegacyStoreError(
                f"no {STUDY_LIST!r} key: not a database of Optuna's legacy RedisStorage"
            )
        if kind != b"list":
            raise LegacyRecordError(STUDY_LIST, f"is a Redis {kind.decode()}, not a list")
        study_ids = []
        for raw in self._redis.lrange(STUDY_LIST, 0, -1):
            study_id = loads(raw, STUDY_LIST)
            if type(study_id) is not int or study_id < 0:
                raise LegacyRecordError(STUDY_LIST, f"holds {study_id!r}, not a study id")
            study_ids.append(study_id)
        fields = ("study_name", "directions", "direction", "study_summary")
        keys = [study_key(i, f) for i in study_ids for f in fields]
        raws = self._redis.mget(keys) if keys else []
        studies = {}
        for n, study_id in enumerate(study_ids):
            row = dict(zip(fields, raws[n * len(fields) : (n + 1) * len(fields)], strict=True))
            studies[study_id] = _Study(self._decode_study(study_id, row))
        return studies

    def _decode_study(self, study_id: int, row: dict[str, bytes | None]) -> FrozenStudy:
        name_key = study_key(study_id, "study_name")
        if row["study_name"] is None:
            raise LegacyRecordError(name_key, "is missing, but the study is in 'study_list'")
        name = loads(row["study_name"], name_key)
        if not isinstance(name, str):
            raise LegacyRecordError(name_key, f"holds {type(name).__name__}, not a str")
        if row["directions"] is not None:
            key = study_key(study_id, "directions")
            directions = loads(row["directions"], key)
        elif row["direction"] is not None:
            key = study_key(study_id, "direction")
            directions = [loads(row["direction"], key)]
        else:
            raise LegacyRecordError(study_key(study_id, "directions"), "is missing")
        if not (
            isinstance(directions, (list, tuple))
            and directions
            and all(isinstance(d, StudyDirection) for d in directions)
        ):
            raise LegacyRecordError(key, f"holds {directions!r}, not a list of directions")
        summary_key = study_key(study_id, "study_summary")
        user_attrs: Any = {}
        system_attrs: Any = {}
        if row["study_summary"] is not None:
            summary = loads(row["study_summary"], summary_key)
            if not isinstance(summary, StudySummaryRecord):
                raise LegacyRecordError(summary_key, "is not a pickled StudySummary")
            user_attrs = summary.get("user_attrs", default={})
            system_attrs = summary.get("system_attrs", default={})
        for what, attrs in (("user_attrs", user_attrs), ("system_attrs", system_attrs)):
            _check_attrs(summary_key, what, attrs)
        return FrozenStudy(
            study_name=name,
            direction=None,
            user_attrs=user_attrs,
            system_attrs=system_attrs,
            study_id=study_id,
            directions=list(directions),
        )

    def _trials(self, study_id: int) -> list[FrozenTrial]:
        study = self._study(study_id)
        if study.trials is None:
            list_key = study_key(study_id, "trial_list")
            try:
                trial_ids = [int(raw) for raw in self._redis.lrange(list_key, 0, -1)]
            except ValueError as e:
                raise LegacyRecordError(list_key, f"holds a non-integer trial id ({e})") from e
            except redis.ResponseError as e:
                raise LegacyRecordError(list_key, f"is not a list ({e})") from e
            trials = []
            for start in range(0, len(trial_ids), _CHUNK):
                chunk = trial_ids[start : start + _CHUNK]
                raws = self._redis.mget([trial_key(i) for i in chunk])
                for trial_id, raw in zip(chunk, raws, strict=True):
                    trials.append(self._decode_trial(trial_id, raw))
            trials.sort(key=lambda t: t.number)
            study.trials = trials
        return study.trials

    def _decode_trial(self, trial_id: int, raw: bytes | None) -> FrozenTrial:
        key = trial_key(trial_id)
        if raw is None:
            raise LegacyRecordError(key, "is missing, but the trial is in its study's list")
        record = loads(raw, key)
        if not isinstance(record, FrozenTrialRecord):
            raise LegacyRecordError(key, "is not a pickled FrozenTrial")
        try:
            return _frozen_trial(record, trial_id)
        except (TypeError, ValueError) as e:
            raise LegacyRecordError(key, str(e)) from e

    def _study(self, study_id: int) -> _Study:
        try:
            return self._studies[study_id]
        except KeyError:
            raise no_study(study_id) from None

    # --- BaseStorage: reads ----------------------------------------------------------------

    def get_all_studies(self) -> list[FrozenStudy]:
        return [copy.deepcopy(s.frozen) for s in self._studies.values()]

    def get_study_id_from_name(self, study_name: str) -> int:
        for study_id, study in self._studies.items():
            if study.frozen.study_name == study_name:
                return study_id
        raise no_study_named(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._study(study_id).frozen.study_name

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._study(study_id).frozen.directions)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._study(study_id).frozen.user_attrs)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return copy.deepcopy(self._study(study_id).frozen.system_attrs)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        trials = self._trials(study_id)
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return copy.deepcopy(trials) if deepcopy else list(trials)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        for study_id in self._studies:
            for trial in self._trials(study_id):
                if trial._trial_id == trial_id:
                    return copy.deepcopy(trial)
        raise no_trial(trial_id)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        for trial in self._trials(study_id):
            if trial.number == trial_number:
                return trial._trial_id
        raise no_trial_number(study_id, trial_number)

    # --- BaseStorage: writes, all refused ----------------------------------------------------

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise LegacyStorageReadOnlyError(
            "the legacy RedisStorage is read-only here: optuna-redis only copies from it"
        )

    create_new_study = _refuse
    delete_study = _refuse
    set_study_user_attr = _refuse
    set_study_system_attr = _refuse
    create_new_trial = _refuse
    set_trial_param = _refuse
    set_trial_state_values = _refuse
    set_trial_intermediate_value = _refuse
    set_trial_user_attr = _refuse
    set_trial_system_attr = _refuse


def _check_attrs(key: str, what: str, attrs: object) -> None:
    if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
        raise LegacyRecordError(key, f"{what} is {type(attrs).__name__}, not a dict of str")


def _number(value: object, what: str) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"{what} is {value!r}, not a number")
    return float(value)  # type: ignore[arg-type]


def _frozen_trial(record: FrozenTrialRecord, trial_id: int) -> FrozenTrial:
    """An Optuna 5 ``FrozenTrial`` from a pickled one of Optuna 1.4–3.0, field by field.

    Optuna 2.4 renamed attributes (``number`` → ``_number``, ``value`` → ``_values``, …);
    both spellings are read.
    """
    number = record.get("_number", "number")
    if type(number) is not int or number < 0:
        raise TypeError(f"trial number is {number!r}, not a non-negative int")
    state = record.get("state")
    if not isinstance(state, TrialState):
        raise TypeError(f"trial state is {state!r}, not a TrialState")
    values: list[float] | None
    if "_values" in record.state:
        raw_values = record.state["_values"]
        if raw_values is None:
            values = None
        elif isinstance(raw_values, (list, tuple)):
            values = [_number(v, "a value") for v in raw_values]
        else:
            raise TypeError(f"values are {raw_values!r}, not a list")
    else:
        value = record.get("value")
        values = None if value is None else [_number(value, "the value")]
    intermediate = record.get("intermediate_values", default={})
    if not isinstance(intermediate, dict):
        raise TypeError(f"intermediate values are {type(intermediate).__name__}, not a dict")
    intermediate_values = {}
    for step, value in intermediate.items():
        if type(step) is not int:
            raise TypeError(f"intermediate step {step!r} is not an int")
        intermediate_values[step] = _number(value, f"intermediate value {step}")
    params = record.get("_params", "params", default={})
    raw_distributions = record.get("_distributions", default={})
    if not isinstance(params, dict) or not isinstance(raw_distributions, dict):
        raise TypeError("params or distributions are not dicts")
    if set(params) != set(raw_distributions):
        raise ValueError("params and distributions name different parameters")
    distributions = {name: distribution(d, name) for name, d in raw_distributions.items()}
    user_attrs = record.get("_user_attrs", "user_attrs", default={})
    system_attrs = record.get("_system_attrs", "system_attrs", default={})
    for what, attrs in (("user_attrs", user_attrs), ("system_attrs", system_attrs)):
        if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
            raise TypeError(f"{what} is {type(attrs).__name__}, not a dict of str")
    start = record.get("_datetime_start", "datetime_start")
    complete = record.get("datetime_complete")
    for what, moment in (("datetime_start", start), ("datetime_complete", complete)):
        if moment is not None and not isinstance(moment, datetime.datetime):
            raise TypeError(f"{what} is {moment!r}, not a datetime")
    return FrozenTrial(
        number=number,
        state=state,
        value=None,
        values=values,
        datetime_start=start,
        datetime_complete=complete,
        params=dict(params),
        distributions=distributions,
        user_attrs=dict(user_attrs),
        system_attrs=dict(system_attrs),
        intermediate_values=intermediate_values,
        trial_id=trial_id,
    )


def distribution(record: object, name: str) -> BaseDistribution:
    """The Optuna 5 distribution of a pickled 1.x–3.0 one; the 2.x classes map to
    ``FloatDistribution`` / ``IntDistribution``, as Optuna 3.0 maps them itself."""
    if not isinstance(record, DistributionRecord):
        raise TypeError(f"distribution of {name!r} is {type(record).__name__}")
    kind = record.kind
    if kind == "CategoricalDistribution":
        choices = record.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise TypeError(f"choices of {name!r} are {choices!r}")
        return CategoricalDistribution(choices)
    low, high = record.get("low"), record.get("high")
    if kind in ("FloatDistribution", "UniformDistribution", "LogUniformDistribution"):
        log = bool(record.get("log", default=kind == "LogUniformDistribution"))
        step = record.get("step")
        return FloatDistribution(
            _number(low, "low"),
            _number(high, "high"),
            log=log,
            step=None if step is None else _number(step, "step"),
        )
    if kind == "DiscreteUniformDistribution":
        step = _number(record.get("step", "q"), "q")
        return FloatDistribution(_number(low, "low"), _number(high, "high"), step=step)
    if kind in ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution"):
        log = bool(record.get("log", default=kind == "IntLogUniformDistribution"))
        step = record.get("step", default=1)
        for what, v in (("low", low), ("high", high), ("step", step)):
            if type(v) is not int:
                raise TypeError(f"{what} of {name!r} is {v!r}, not an int")
        return IntDistribution(low, high, log=log, step=1 if log else step)
    raise TypeError(f"distribution of {name!r} is of unknown kind {kind!r}")


__all__ = [
    "LegacyRedisStorage",
    "LegacyStorageReadOnlyError",
    "NotALegacyStoreError",
]
