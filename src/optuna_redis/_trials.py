"""The trials the storage hands out, and their copies, much cheaper than a generic deepcopy.

A FrozenTrial holds a few mutable containers (params, distributions, intermediate values,
attrs, values) around immutable leaves (floats, strings, datetimes, distributions, states).
``copy_trial`` copies those containers and the JSON containers inside attrs, so nothing a
caller changes in the copy reaches the storage's cache. Distribution objects are shared,
not copied: Optuna treats them as values and never mutates one.
"""

from __future__ import annotations

import copy
import gc
from typing import Any

import optuna

_new = optuna.trial.FrozenTrial.__new__
_Plain = optuna.trial.FrozenTrial


class FrozenTrial(optuna.trial.FrozenTrial):
    """An ``optuna.trial.FrozenTrial`` as the codecs decode it from Redis.

    It is a FrozenTrial in every respect (same attributes, equality, repr) but two:
    ``copy.deepcopy`` of it is ``copy_trial`` (Optuna deep-copies trials often: every
    ``study.trials``, ``study.best_trial``, each stale-trial callback), and it pickles
    and shallow-copies as a plain ``optuna.trial.FrozenTrial``, so nothing that receives
    it needs optuna-redis.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> optuna.trial.FrozenTrial:
        result = copy_trial(self)
        memo[id(self)] = result
        return result

    def __reduce__(self) -> tuple[Any, ...]:
        return _new, (_Plain,), dict(self.__dict__)


def deepcopy_trials(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """``copy.deepcopy(trials)``, with the cyclic GC paused while the copies pile up.

    Left running, it would walk the growing heap again and again during a large copy
    (half the time of copying 10k trials) and find nothing to free: copies are acyclic.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return copy.deepcopy(trials)
    finally:
        if was_enabled:
            gc.enable()


def copy_trial(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """A plain FrozenTrial that shares nothing mutable with ``trial``."""
    source = trial.__dict__
    result = _new(_Plain)
    attrs = result.__dict__
    attrs.update(source)
    values = source["_values"]
    if values is not None:
        attrs["_values"] = list(values)
    attrs["_params"] = dict(source["_params"])
    attrs["_distributions"] = dict(source["_distributions"])
    attrs["intermediate_values"] = dict(source["intermediate_values"])
    attrs["_user_attrs"] = _copy_json_dict(source["_user_attrs"])
    attrs["_system_attrs"] = _copy_json_dict(source["_system_attrs"])
    return result


def _copy_json_dict(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _copy_json(v) for k, v in d.items()}


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value  # str, int, float, bool, None: immutable
