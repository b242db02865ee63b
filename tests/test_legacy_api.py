"""The Optuna 2.x storage calls kept on RedisStorage for old callers: they warn with a
FutureWarning naming the Optuna 5 call, do what the legacy storage did, and write nothing
when they fail."""

from __future__ import annotations

from collections.abc import Iterator

import optuna
from optuna.study import StudyDirection
import pytest

from optuna_redis import RedisStorage

MIN = StudyDirection.MINIMIZE
MAX = StudyDirection.MAXIMIZE


@pytest.fixture
def legacy_storage(redis_url: str, prefix: str) -> Iterator[RedisStorage]:
    # The codec plays no part here, so one storage instead of the per-codec fixture.
    s = RedisStorage(redis_url, prefix=prefix)
    yield s
    s.remove_session()


def snapshot(client, prefix: str) -> dict[bytes, object]:  # noqa: ANN001
    """Every key under the prefix with its DUMP, to show that nothing was written."""
    return {k: client.dump(k) for k in client.scan_iter(match=f"{prefix}:*", count=1000)}


def test_create_new_study_with_a_name_only(legacy_storage: RedisStorage) -> None:
    with pytest.warns(FutureWarning, match=r"create_new_study\(\[StudyDirection.MINIMIZE\]"):
        study_id = legacy_storage.create_new_study("old-style")
    assert legacy_storage.get_study_name_from_id(study_id) == "old-style"
    assert legacy_storage.get_study_directions(study_id) == [MIN]
    study = optuna.load_study(study_name="old-style", storage=legacy_storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert study.best_value == min(t.value for t in study.trials)


def test_create_new_study_with_study_name_keyword_or_nothing(
    legacy_storage: RedisStorage,
) -> None:
    with pytest.warns(FutureWarning, match="Optuna 5"):
        named = legacy_storage.create_new_study(study_name="keyword")
    with pytest.warns(FutureWarning, match="Optuna 5"):
        unnamed = legacy_storage.create_new_study()
    assert legacy_storage.get_study_name_from_id(named) == "keyword"
    assert legacy_storage.get_study_name_from_id(unnamed).startswith("no-name-")
    assert legacy_storage.get_study_directions(unnamed) == [MIN]


def test_create_new_study_with_directions_does_not_warn(
    legacy_storage: RedisStorage, recwarn: pytest.WarningsRecorder
) -> None:
    study_id = legacy_storage.create_new_study([MAX, MIN], "today")
    assert legacy_storage.get_study_directions(study_id) == [MAX, MIN]
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]


def test_create_new_study_name_twice_writes_nothing(
    legacy_storage: RedisStorage, redis_client, prefix: str
) -> None:
    legacy_storage.create_new_study([MIN], "taken")
    before = snapshot(redis_client, prefix)
    with pytest.raises(TypeError, match="first argument is the directions"):
        legacy_storage.create_new_study("a", "b")
    with pytest.warns(FutureWarning), pytest.raises(optuna.exceptions.DuplicatedStudyError):
        legacy_storage.create_new_study("taken")
    after = snapshot(redis_client, prefix)
    # A failed creation may leave the study counter one higher (an id is never reused).
    seq = f"{prefix}:{{g}}:study_seq".encode()
    before.pop(seq), after.pop(seq)
    assert after == before


def test_set_study_directions_to_its_own(legacy_storage: RedisStorage) -> None:
    study_id = legacy_storage.create_new_study([MAX, MIN], "s")
    with pytest.warns(FutureWarning, match=r"create_new_study\(directions, study_name\)"):
        assert legacy_storage.set_study_directions(study_id, [MAX, MIN]) is None
    with pytest.warns(FutureWarning, match="get_study_directions"):
        legacy_storage.set_study_directions(study_id, (MAX, MIN))
    assert legacy_storage.get_study_directions(study_id) == [MAX, MIN]


@pytest.mark.parametrize(
    ("directions", "message"),
    [
        ([MIN, MIN], "Cannot overwrite study directions"),
        ([MAX], "Cannot overwrite study directions"),
        ([MAX, MIN, MIN], "Cannot overwrite study directions"),
        ([StudyDirection.NOT_SET, MIN], "Cannot overwrite study directions"),
        (["maximize", "minimize"], "must be StudyDirection values"),
        ([2, 1], "must be StudyDirection values"),
    ],
)
def test_set_study_directions_to_others_raises_and_writes_nothing(
    legacy_storage: RedisStorage, redis_client, prefix: str, directions, message: str
) -> None:
    study_id = legacy_storage.create_new_study([MAX, MIN], "s")
    before = snapshot(redis_client, prefix)
    with pytest.warns(FutureWarning, match="Optuna 5"), pytest.raises(ValueError, match=message):
        legacy_storage.set_study_directions(study_id, directions)
    assert snapshot(redis_client, prefix) == before
    assert legacy_storage.get_study_directions(study_id) == [MAX, MIN]


def test_set_study_directions_of_unknown_study(
    legacy_storage: RedisStorage, redis_client, prefix: str
) -> None:
    before = snapshot(redis_client, prefix)
    with pytest.warns(FutureWarning), pytest.raises(KeyError, match="No study with study_id 7"):
        legacy_storage.set_study_directions(7, [MIN])
    assert snapshot(redis_client, prefix) == before
