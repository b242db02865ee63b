"""Copies of FrozenTrials for ``get_all_trials(deepcopy=True)``, much cheaper than deepcopy.

A FrozenTrial holds a few mutable containers (params, distributions, intermediate values,
attrs, values) around immutable leaves (floats, strings, datetimes, distributions, states).
``copy_trial`` copies those containers and the JSON containers inside attrs, so nothing a
caller changes in the copy reaches the storage's cache. Distribution objects are shared,
not copied: Optuna treats them as values and never mutates one.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial

_new = FrozenTrial.__new__


def copy_trial(trial: FrozenTrial) -> FrozenTrial:
    source = trial.__dict__
    copy = _new(FrozenTrial)
    attrs = copy.__dict__
    attrs.update(source)
    values = source["_values"]
    if values is not None:
        attrs["_values"] = list(values)
    attrs["_params"] = dict(source["_params"])
    attrs["_distributions"] = dict(source["_distributions"])
    attrs["intermediate_values"] = dict(source["intermediate_values"])
    attrs["_user_attrs"] = _copy_json_dict(source["_user_attrs"])
    attrs["_system_attrs"] = _copy_json_dict(source["_system_attrs"])
    return copy


def _copy_json_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy_json(v) for k, v in d.items()}


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value  # str, int, float, bool, None: immutable
