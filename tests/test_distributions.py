"""A study's distributions on real Redis: compatibility checks and short param entries."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.study import StudyDirection
import pytest
import redis

from optuna_redis import RedisStorage


def _study_with_trial(storage: RedisStorage) -> tuple[int, int]:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    return study_id, storage.create_new_trial(study_id)


def test_first_distribution_is_registered_and_left_out_of_records(
    storage: RedisStorage, redis_client: redis.Redis
) -> None:
    study_id, trial_id = _study_with_trial(storage)
    dist = FloatDistribution(-3.0, 3.0)
    storage.set_trial_param(trial_id, "x", 0.5, dist)
    second = storage.create_new_trial(study_id)
    storage.set_trial_param(second, "x", -1.0, FloatDistribution(-3.0, 3.0))

    for tid in (trial_id, second):
        record = redis_client.get(storage._keys.trial(study_id, tid & 0xFFFFFFFF))
        assert b"FloatDistribution" not in record
    assert redis_client.hgetall(storage._keys.dists(study_id)) == {
        b"x": optuna.distributions.distribution_to_json(dist).encode()
    }
    assert storage.get_trial(second).params == {"x": -1.0}
    assert storage.get_trial(second).distributions == {"x": dist}


def test_compatible_other_distribution_is_kept_in_the_record(
    storage: RedisStorage, redis_client: redis.Redis, redis_url: str, prefix: str
) -> None:
    study_id, first = _study_with_trial(storage)
    storage.set_trial_param(first, "x", 0.5, FloatDistribution(0.0, 1.0))
    second = storage.create_new_trial(study_id)
    wider = FloatDistribution(0.0, 10.0)
    storage.set_trial_param(second, "x", 7.5, wider)

    record = redis_client.get(storage._keys.trial(study_id, 1))
    assert b'"high": 10.0' in record
    # A new process, knowing nothing of the study yet, reads both right.
    fresh = RedisStorage(redis_url, prefix=prefix)
    assert fresh.get_trial(second).distributions == {"x": wider}
    trials = RedisStorage(redis_url, prefix=prefix).get_all_trials(study_id)
    assert [t.distributions["x"] for t in trials] == [FloatDistribution(0.0, 1.0), wider]
    assert [t.params["x"] for t in trials] == [0.5, 7.5]


@pytest.mark.parametrize(
    "other",
    [IntDistribution(0, 10), CategoricalDistribution(["a", "b"])],
    ids=["int", "categorical"],
)
def test_incompatible_distribution_is_refused_and_nothing_written(
    storage: RedisStorage, redis_client: redis.Redis, other
) -> None:
    study_id, first = _study_with_trial(storage)
    storage.set_trial_param(first, "x", 0.5, FloatDistribution(0.0, 1.0))
    second = storage.create_new_trial(study_id)
    key = storage._keys.trial(study_id, 1)
    before = redis_client.get(key)
    with pytest.raises(ValueError):
        storage.set_trial_param(second, "x", 1.0, other)
    assert redis_client.get(key) == before
    assert storage.get_trial(second).params == {}


def test_categorical_choices_must_match(storage: RedisStorage) -> None:
    study_id, first = _study_with_trial(storage)
    storage.set_trial_param(first, "c", 0, CategoricalDistribution(["a", "b"]))
    second = storage.create_new_trial(study_id)
    with pytest.raises(ValueError):
        storage.set_trial_param(second, "c", 0, CategoricalDistribution(["a", "c"]))


def test_new_param_names_seen_by_a_warm_cache(
    storage: RedisStorage, redis_url: str, prefix: str
) -> None:
    study_id, first = _study_with_trial(storage)
    reader = RedisStorage(redis_url, prefix=prefix)
    assert reader.get_all_trials(study_id)[0].params == {}
    # Another worker registers new names after the reader's cache was filled.
    for i in range(5):
        storage.set_trial_param(first, f"p{i}", float(i), FloatDistribution(0, 10))
    assert reader.get_all_trials(study_id)[0].params == {f"p{i}": float(i) for i in range(5)}
    assert reader.get_trial(first).params == {f"p{i}": float(i) for i in range(5)}


def _template(params: dict, dists: dict) -> optuna.trial.FrozenTrial:
    return optuna.trial.create_trial(
        params=params, distributions=dists, value=1.0, user_attrs={"k": [1, "v"]}
    )


def test_template_trials_register_and_are_checked_like_set_trial_param(
    storage: RedisStorage, redis_client: redis.Redis, redis_url: str
) -> None:
    study_id = storage.create_new_study([StudyDirection.MINIMIZE])
    x, n = FloatDistribution(0, 1), IntDistribution(1, 9)
    storage.create_new_trial(study_id, _template({"x": 0.5, "n": 3}, {"x": x, "n": n}))
    # Registered by the template: the record leaves the JSON out, as a worker's would.
    assert redis_client.hgetall(storage._keys.dists(study_id)) == {
        b"x": optuna.distributions.distribution_to_json(x).encode(),
        b"n": optuna.distributions.distribution_to_json(n).encode(),
    }
    assert b"Distribution" not in redis_client.get(storage._keys.trial(study_id, 0))

    # A compatible distribution of its own is kept in the record.
    wider = FloatDistribution(0, 2)
    storage.create_new_trial(study_id, _template({"x": 1.5}, {"x": wider}))

    # An incompatible one is refused like set_trial_param's, and nothing is written.
    before = {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{storage._keys.prefix}*")}
    with pytest.raises(ValueError, match="different distribution kind"):
        storage.create_new_trial(
            study_id,
            _template({"x": 0.25, "n": "a"}, {"x": x, "n": CategoricalDistribution(["a"])}),
        )
    after = {k: redis_client.dump(k) for k in redis_client.scan_iter(f"{storage._keys.prefix}*")}
    assert after == before

    cold = RedisStorage(redis_url, prefix=storage._keys.prefix)
    trials = cold.get_all_trials(study_id)
    assert [t.params for t in trials] == [{"x": 0.5, "n": 3}, {"x": 1.5}]
    assert [t.distributions for t in trials] == [{"x": x, "n": n}, {"x": wider}]
    assert trials[0].user_attrs == {"k": [1, "v"]}


class _ScriptCalls:
    """Which of the storage's param-writing scripts its calls ran."""

    def __init__(self, storage: RedisStorage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        scripts = storage._scripts
        for name in ("set_trial_param", "append_trial"):
            original = getattr(scripts, name)

            def counted(*args, _name=name, _original=original):  # noqa: ANN002, ANN202
                self.names.append(_name)
                return _original(*args)

            monkeypatch.setattr(scripts, name, counted)


def _known_study(storage: RedisStorage, redis_url: str, prefix: str) -> tuple[int, RedisStorage]:
    """A study with "x" registered by another storage; ``storage`` has read its trials."""
    other = RedisStorage(redis_url, prefix=prefix)
    study_id, trial_id = _study_with_trial(other)
    other.set_trial_param(trial_id, "x", 0.5, FloatDistribution(-3.0, 3.0))
    storage.get_all_trials(study_id)
    return study_id, other


def test_a_param_of_the_distribution_it_read_is_appended_without_a_check(
    storage: RedisStorage,
    redis_client: redis.Redis,
    redis_url: str,
    prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A registered distribution never changes, so a storage that read it needs no check
    # by the server: one append of the short entry, as an attr is written.
    study_id, _ = _known_study(storage, redis_url, prefix)
    calls = _ScriptCalls(storage, monkeypatch)
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", -1.0, FloatDistribution(-3.0, 3.0))
    # Not read yet: checked by the server, then known.
    storage.set_trial_param(trial_id, "y", 2.0, IntDistribution(0, 5))
    assert calls.names == ["append_trial", "set_trial_param"]

    record = redis_client.get(storage._keys.trial(study_id, trial_id & 0xFFFFFFFF))
    assert b"Distribution" not in record
    trial = storage.get_trial(trial_id)
    assert trial.params == {"x": -1.0, "y": 2}
    assert trial.distributions == {"x": FloatDistribution(-3.0, 3.0), "y": IntDistribution(0, 5)}


def test_a_compatible_other_distribution_is_still_checked_and_kept(
    storage: RedisStorage, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id, _ = _known_study(storage, redis_url, prefix)
    calls = _ScriptCalls(storage, monkeypatch)
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_param(trial_id, "x", 5.0, FloatDistribution(-10.0, 10.0))
    with pytest.raises(ValueError):
        storage.set_trial_param(trial_id, "x", 1.0, IntDistribution(0, 3))
    # (The first is refused until the client has checked the stored one: two calls.)
    assert calls.names == ["set_trial_param"] * 3
    assert storage.get_trial(trial_id).distributions == {"x": FloatDistribution(-10.0, 10.0)}


def test_the_unchecked_append_still_refuses_a_finished_or_missing_trial(
    storage: RedisStorage, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    study_id, other = _known_study(storage, redis_url, prefix)
    trial_id = storage.create_new_trial(study_id)
    storage.set_trial_state_values(trial_id, optuna.trial.TrialState.COMPLETE, [1.0])
    calls = _ScriptCalls(storage, monkeypatch)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        storage.set_trial_param(trial_id, "x", 1.0, FloatDistribution(-3.0, 3.0))
    assert storage.get_trial(trial_id).params == {}
    # The study deleted by another storage: this one still knows "x", and is told at once.
    other.delete_study(study_id)
    with pytest.raises(KeyError):
        storage.set_trial_param(trial_id, "x", 1.0, FloatDistribution(-3.0, 3.0))
    assert calls.names == ["append_trial", "append_trial"]
