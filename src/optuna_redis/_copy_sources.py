"""Where ``copy_studies`` reads: a study's trials from any storage, with a bulk path for
``RDBStorage``.

Optuna's ``RDBStorage.get_all_trials`` builds each trial from ORM objects with their
relationships; here one Core SELECT per table reads every row of the study, so a copy out
of PostgreSQL or MySQL costs six queries, not a query per relationship and trial. The
trials are the ones ``RDBStorage._build_frozen_trial_from_trial_model`` builds.
"""

from __future__ import annotations

from collections import defaultdict
import datetime
import json
from typing import Any

from optuna.distributions import json_to_distribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

__all__ = ["read_trials"]


def read_trials(storage: BaseStorage, study_id: int) -> list[FrozenTrial]:
    """The study's trials in number order, without deep copies."""
    from optuna.storages import RDBStorage

    if type(storage) is RDBStorage:
        return _read_rdb(storage, study_id)
    trials = storage.get_all_trials(study_id, deepcopy=False)
    return sorted(trials, key=lambda t: t.number)


def _read_rdb(storage: Any, study_id: int) -> list[FrozenTrial]:
    from optuna.storages._rdb import models
    import sqlalchemy

    trial = models.TrialModel.__table__
    in_study = sqlalchemy.select(trial.c.trial_id).where(trial.c.study_id == study_id)

    def rows(model: Any, *columns: str, order: str | None = None) -> list:
        table = model.__table__
        query = sqlalchemy.select(*(table.c[c] for c in columns)).where(
            table.c.trial_id.in_(in_study)
        )
        if order is not None:
            query = query.order_by(table.c[order])
        return conn.execute(query).all()

    with storage.engine.connect() as conn:
        heads = conn.execute(
            sqlalchemy.select(
                trial.c.trial_id,
                trial.c.number,
                trial.c.state,
                trial.c.datetime_start,
                trial.c.datetime_complete,
            )
            .where(trial.c.study_id == study_id)
            .order_by(trial.c.number)
        ).all()
        params = rows(
            models.TrialParamModel,
            "trial_id",
            "param_name",
            "param_value",
            "distribution_json",
            order="param_id",
        )
        values = rows(models.TrialValueModel, "trial_id", "objective", "value", "value_type")
        intermediates = rows(
            models.TrialIntermediateValueModel,
            "trial_id",
            "step",
            "intermediate_value",
            "intermediate_value_type",
            order="trial_intermediate_value_id",
        )
        user_attrs = rows(models.TrialUserAttributeModel, "trial_id", "key", "value_json")
        system_attrs = rows(models.TrialSystemAttributeModel, "trial_id", "key", "value_json")
    dists: dict[str, Any] = {}
    by_trial: dict[int, dict[str, Any]] = defaultdict(dict)
    by_trial_dists: dict[int, dict[str, Any]] = defaultdict(dict)
    for trial_id, name, value, dist_json in params:
        dist = dists.get(dist_json)
        if dist is None:
            dist = dists[dist_json] = json_to_distribution(dist_json)
        by_trial[trial_id][name] = dist.to_external_repr(value)
        by_trial_dists[trial_id][name] = dist
    trial_values: dict[int, dict[int, float]] = defaultdict(dict)
    to_value = models.TrialValueModel.stored_repr_to_value
    for trial_id, objective, value, kind in values:
        trial_values[trial_id][objective] = to_value(value, kind)
    steps: dict[int, dict[int, float]] = defaultdict(dict)
    to_intermediate = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
    for trial_id, step, value, kind in intermediates:
        steps[trial_id][step] = to_intermediate(value, kind)
    attrs: list[dict[int, dict[str, Any]]] = [defaultdict(dict), defaultdict(dict)]
    for i, table_rows in enumerate((user_attrs, system_attrs)):
        for trial_id, key, value_json in table_rows:
            attrs[i][trial_id][key] = json.loads(value_json)
    trials = []
    for trial_id, number, state, start, complete in heads:
        objectives = trial_values.get(trial_id)
        trials.append(
            FrozenTrial(
                number=number,
                state=state,
                value=None,
                values=None if not objectives else [objectives[k] for k in sorted(objectives)],
                datetime_start=_local(start),
                datetime_complete=_local(complete),
                params=by_trial.get(trial_id, {}),
                distributions=by_trial_dists.get(trial_id, {}),
                user_attrs=attrs[0].get(trial_id, {}),
                system_attrs=attrs[1].get(trial_id, {}),
                intermediate_values=steps.get(trial_id, {}),
                trial_id=trial_id,
            )
        )
    return trials


def _local(value: datetime.datetime | None) -> datetime.datetime | None:
    """As TrialModel reads a datetime: stored in UTC, returned in local time, naive."""
    if value is None:
        return None
    return value.replace(tzinfo=datetime.timezone.utc).astimezone().replace(tzinfo=None)
