"""get_all_trials(deepcopy=True) copies: equal to the cache, and changing them changes nothing."""

from __future__ import annotations

import copy

import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

from optuna_redis import RedisStorage
from optuna_redis._trials import copy_trial


def _rich_trial() -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        state=TrialState.COMPLETE,
        values=[1.0, 2.0],
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs={"nested": {"a": [1, {"b": [2]}]}, "s": "t"},
        system_attrs={"list": [[1], [2]]},
        intermediate_values={0: 0.1, 1: 0.2},
    )


def test_copy_equals_and_is_independent() -> None:
    trial = _rich_trial()
    before = copy.deepcopy(trial)
    copied = copy_trial(trial)
    assert copied == trial and copied is not trial

    copied.params["x"] = 9.0
    copied.distributions["y"] = FloatDistribution(0, 2)
    copied.intermediate_values[5] = 1.0
    copied.user_attrs["nested"]["a"][1]["b"].append(3)
    copied.user_attrs["new"] = 1
    copied.system_attrs["list"][0].append(7)
    copied.values.append(3.0)
    assert trial == before


def test_storage_deepcopy_protects_its_cache(storage: RedisStorage) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE, StudyDirection.MINIMIZE])
    storage.create_new_trial(study_id, _rich_trial())
    cached = storage.get_all_trials(study_id, deepcopy=False)
    snapshot = copy.deepcopy(cached)

    copies = storage.get_all_trials(study_id, deepcopy=True)
    assert copies == cached
    assert copies[0] is not cached[0]
    copies[0].user_attrs["nested"]["a"].clear()
    copies[0].params.clear()
    copies[0].values.clear()
    assert storage.get_all_trials(study_id, deepcopy=False) == snapshot


def test_decoded_trials_deepcopy_fast_and_pickle_plain(storage: RedisStorage) -> None:
    import pickle

    study_id = storage.create_new_study([StudyDirection.MINIMIZE, StudyDirection.MINIMIZE])
    storage.create_new_trial(study_id, _rich_trial())
    (decoded,) = storage.get_all_trials(study_id, deepcopy=False)
    assert isinstance(decoded, optuna.trial.FrozenTrial)
    assert repr(decoded).startswith("FrozenTrial(number=0, ")
    assert repr(decoded) == repr(copy.deepcopy(decoded))

    copied = copy.deepcopy(decoded)
    assert type(copied) is optuna.trial.FrozenTrial and copied == decoded
    copied.user_attrs["nested"]["a"].clear()
    assert decoded.user_attrs["nested"]["a"] == [1, {"b": [2]}]

    # Pickles (and shallow-copies) as a plain FrozenTrial: a reader needs no optuna-redis.
    restored = pickle.loads(pickle.dumps(decoded))
    assert type(restored) is optuna.trial.FrozenTrial and restored == decoded
    assert type(copy.copy(decoded)) is optuna.trial.FrozenTrial
    assert b"optuna_redis" not in pickle.dumps(decoded)


def test_decoded_objects_are_left_to_reference_counting(storage: RedisStorage, codec) -> None:  # noqa: ANN001
    import gc

    study_id = storage.create_new_study([StudyDirection.MINIMIZE, StudyDirection.MINIMIZE])
    storage.create_new_trial(study_id, _rich_trial())
    (decoded,) = storage.get_all_trials(study_id, deepcopy=False)
    if codec.__name__ == "optuna_redis._codec_c":
        # The compiled codec untracks what it builds; all of it is acyclic.
        for obj in (decoded, decoded.__dict__, decoded.distributions, decoded.values):
            assert not gc.is_tracked(obj)
        assert not gc.is_tracked(decoded.user_attrs["nested"]["a"])
    # Whichever codec: the copies a user gets are ordinary, tracked objects.
    copied = copy.deepcopy(decoded)
    assert gc.is_tracked(copied) and gc.is_tracked(copied.user_attrs["nested"]["a"])
