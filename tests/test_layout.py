"""Key layout and lifecycle on a real Redis: prefixes, hash slots, deletion, names,
pickling, URL forms and a thread-safety smoke test."""

from __future__ import annotations

from collections.abc import Iterator
import pickle
import shutil
import tempfile
import threading
import uuid

from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import optuna
from optuna.distributions import FloatDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState
import pytest
import redis
from redis.crc import key_slot

from _redis_server import RedisServer
from optuna_redis import RedisStorage
from optuna_redis._local_redis import find_server

MIN = StudyDirection.MINIMIZE
optuna.logging.set_verbosity(optuna.logging.WARNING)


def all_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def study_keys(client: redis.Redis, prefix: str, study_id: int) -> set[bytes]:
    return set(client.scan_iter(match=f"{prefix}:s:{{{study_id}}}:*", count=1000))


def fill(storage: RedisStorage, study_id: int, n: int = 3) -> list[int]:
    """Trials with params, values, attrs and heartbeats, so every kind of key exists."""
    ids = []
    storage.set_study_user_attr(study_id, "u", 1)
    storage.set_study_system_attr(study_id, "s", [1])
    for i in range(n):
        t = storage.create_new_trial(study_id)
        storage.set_trial_param(t, "x", i / 10, FloatDistribution(0, 1))
        storage.set_trial_intermediate_value(t, 0, 1.0)
        storage.set_trial_user_attr(t, "a", i)
        storage.set_trial_system_attr(t, "b", i)
        storage.record_heartbeat(t)
        if i < n - 1:
            storage.set_trial_state_values(t, TrialState.COMPLETE, [float(i)])
        ids.append(t)
    return ids


def cleanup(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.unlink(*keys)


@pytest.fixture
def other_prefix(redis_client: redis.Redis) -> Iterator[str]:
    name = f"optuna-redis-test-{uuid.uuid4().hex[:12]}"
    yield name
    cleanup(redis_client, name)


@pytest.fixture
def hb_storage(redis_url: str, prefix: str, codec) -> Iterator[RedisStorage]:
    s = RedisStorage(redis_url, prefix=prefix, heartbeat_interval=60)
    yield s
    s.remove_session()


# ---------------------------------------------------------------- key layout


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_key_starts_with_the_prefix(hb_storage, redis_client, prefix) -> None:
    before = all_keys(redis_client)
    s = hb_storage
    a = s.create_new_study([MIN], "a")
    b = s.create_new_study([MIN, StudyDirection.MAXIMIZE], "b")
    fill(s, a)
    fill(s, b)
    s.get_all_trials(a)
    s.get_all_studies()
    s.delete_study(b)
    optuna.storages.fail_stale_trials(optuna.load_study(study_name="a", storage=s))
    after = all_keys(redis_client)
    new = after - before
    assert new
    assert all(k.startswith(f"{prefix}:".encode()) for k in new), sorted(new)
    assert before - after == set()  # nothing outside the prefix was removed


def test_study_keys_share_one_hash_slot(hb_storage, redis_client, prefix) -> None:
    s = hb_storage
    for name in ["a", "b", "c"]:
        sid = s.create_new_study([MIN], name)
        fill(s, sid, n=4)
        keys = study_keys(redis_client, prefix, sid)
        kinds = {k.split(b":")[-2] if b":t:" in k else k.split(b":")[-1] for k in keys}
        assert {b"meta", b"user_attrs", b"system_attrs", b"dists", b"changes", b"t"} <= kinds
        assert {b"heartbeats"} <= kinds
        assert len({key_slot(k) for k in keys}) == 1, keys
        # The slot is the one of the {ID} hash tag.
        assert key_slot(str(sid).encode()) == key_slot(next(iter(keys)))


def test_trial_keys_are_under_the_study(storage, redis_client, prefix) -> None:
    sid = storage.create_new_study([MIN], "s")
    tid = storage.create_new_trial(sid)
    keys = study_keys(redis_client, prefix, sid)
    trial_keys = [k for k in keys if b":t:" in k]
    assert trial_keys == [f"{prefix}:s:{{{sid}}}:t:{tid & 0xFFFFFFFF}".encode()]


# ---------------------------------------------------------------- deletion and ids


def test_delete_study_removes_every_key(hb_storage, redis_client, prefix) -> None:
    s = hb_storage
    keep = s.create_new_study([MIN], "keep")
    gone = s.create_new_study([MIN], "gone")
    keep_trials = fill(s, keep)
    gone_trials = fill(s, gone)
    kept_keys = study_keys(redis_client, prefix, keep)
    kept = {k: redis_client.dump(k) for k in kept_keys}
    assert len(study_keys(redis_client, prefix, gone)) > 0

    s.delete_study(gone)
    assert study_keys(redis_client, prefix, gone) == set()
    assert redis_client.hget(f"{prefix}:study_names", "gone") is None
    assert redis_client.zscore(f"{prefix}:studies", str(gone)) is None
    assert [st._study_id for st in s.get_all_studies()] == [keep]
    with pytest.raises(KeyError):
        s.get_study_name_from_id(gone)
    with pytest.raises(KeyError):
        s.get_all_trials(gone)
    with pytest.raises(KeyError):
        s.get_trial(gone_trials[0])
    with pytest.raises(KeyError):
        s.delete_study(gone)
    # The other study is untouched, key for key.
    assert {k: redis_client.dump(k) for k in study_keys(redis_client, prefix, keep)} == kept
    assert [t._trial_id for t in s.get_all_trials(keep)] == keep_trials

    # Ids are never reused, even for the same name.
    again = s.create_new_study([MIN], "gone")
    assert again > gone
    new_trial = s.create_new_trial(again)
    assert new_trial not in gone_trials and new_trial not in keep_trials
    assert s.get_trial(new_trial).number == 0
    with pytest.raises(KeyError):
        s.get_trial(gone_trials[0])


def test_delete_last_study_does_not_reuse_its_id(storage) -> None:
    a = storage.create_new_study([MIN], "a")
    storage.create_new_trial(a)
    storage.delete_study(a)
    b = storage.create_new_study([MIN], "a")
    assert b != a
    assert storage.create_new_trial(b) != (a << 32)


# ---------------------------------------------------------------- isolation and names


def test_two_prefixes_do_not_see_each_other(redis_url, prefix, other_prefix, codec) -> None:
    s1 = RedisStorage(redis_url, prefix=prefix)
    s2 = RedisStorage(redis_url, prefix=other_prefix)
    a1 = s1.create_new_study([MIN], "same")
    a2 = s2.create_new_study([MIN], "same")
    s1.set_study_user_attr(a1, "who", 1)
    s2.set_study_user_attr(a2, "who", 2)
    s1.create_new_trial(a1)
    assert s1.get_study_user_attrs(s1.get_study_id_from_name("same")) == {"who": 1}
    assert s2.get_study_user_attrs(s2.get_study_id_from_name("same")) == {"who": 2}
    assert len(s1.get_all_trials(a1)) == 1 and s2.get_all_trials(a2) == []
    assert [st.study_name for st in s1.get_all_studies()] == ["same"]
    assert [st.study_name for st in s2.get_all_studies()] == ["same"]
    s2.delete_study(a2)
    assert s1.get_study_name_from_id(a1) == "same"
    assert len(s1.get_all_trials(a1)) == 1


def test_brace_names_do_not_collide(storage) -> None:
    tricky = storage.create_new_study([MIN], "a}:x{b")
    plain = storage.create_new_study([MIN], "a")
    other = storage.create_new_study([MIN], "{a}")
    storage.set_study_user_attr(tricky, "k", "tricky")
    storage.set_study_user_attr(plain, "k", "plain")
    t = storage.create_new_trial(tricky)
    storage.set_trial_param(t, "}:t:0", 0.5, FloatDistribution(0, 1))
    assert storage.get_study_id_from_name("a}:x{b") == tricky
    assert storage.get_study_id_from_name("a") == plain
    assert storage.get_study_id_from_name("{a}") == other
    assert storage.get_study_user_attrs(plain) == {"k": "plain"}
    assert storage.get_study_user_attrs(tricky) == {"k": "tricky"}
    assert storage.get_study_user_attrs(other) == {}
    assert storage.get_all_trials(plain) == [] and storage.get_all_trials(other) == []
    assert storage.get_all_trials(tricky)[0].params == {"}:t:0": 0.5}


NAMES = st.text(st.characters(min_codepoint=0), max_size=12)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(study_name=NAMES, param=NAMES, key=NAMES)
@example(study_name="a}:x{b", param="{1}", key=":")
@example(study_name="line\nbreak\x00nul", param=" spaced name ", key="ü名前🎉")
@example(study_name="\ud800lone", param="\udfff", key="")
@example(study_name="", param="", key="\x00")
def test_names_roundtrip(storage, study_name: str, param: str, key: str) -> None:
    sid = storage.create_new_study([MIN], study_name)
    try:
        assert storage.get_study_id_from_name(study_name) == sid
        assert storage.get_study_name_from_id(sid) == study_name
        storage.set_study_user_attr(sid, key, key)
        storage.set_study_system_attr(sid, key, [key])
        t = storage.create_new_trial(sid)
        storage.set_trial_param(t, param, 0.5, FloatDistribution(0, 1))
        storage.set_trial_user_attr(t, key, key)
        storage.set_trial_system_attr(t, key, {key: key})
        assert storage.get_study_user_attrs(sid) == {key: key}
        assert storage.get_study_system_attrs(sid) == {key: [key]}
        assert [s.study_name for s in storage.get_all_studies()] == [study_name]
        trial = storage.get_all_trials(sid)[0]
        assert trial.params == {param: 0.5}
        assert trial.user_attrs == {key: key}
        assert trial.system_attrs == {key: {key: key}}
        assert storage.get_trial(t) == trial
    finally:
        storage.delete_study(sid)
    with pytest.raises(KeyError):
        storage.get_study_id_from_name(study_name)


# ---------------------------------------------------------------- pickling


def test_pickle_roundtrip_shares_data(redis_url, prefix, codec) -> None:
    s1 = RedisStorage(redis_url, prefix=prefix, heartbeat_interval=7)
    sid = s1.create_new_study([MIN], "p")
    s1.create_new_trial(sid)
    pickled = pickle.dumps(s1)
    # The options and the URL travel; no client, cache or module does.
    assert b"optuna_redis._codec" not in pickled and b"Redis(" not in pickled
    s2 = pickle.loads(pickled)
    assert s2 is not s1
    assert s2.get_heartbeat_interval() == 7
    assert s2._keys.prefix == prefix and s2._options.retry_deadline == 30
    assert s2.get_study_id_from_name("p") == sid
    t = s2.create_new_trial(sid)
    s2.set_trial_user_attr(t, "from", "copy")
    assert len(s1.get_all_trials(sid)) == 2
    assert s1.get_trial(t).user_attrs == {"from": "copy"}
    # A study built on a pickled storage also pickles (as n_jobs/multiprocessing needs).
    study = optuna.load_study(study_name="p", storage=s1)
    assert len(pickle.loads(pickle.dumps(study)).trials) == 2


# ---------------------------------------------------------------- URL forms


def with_db(url: str, db: int) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}"


def test_url_with_db_number(redis_url, prefix) -> None:
    url = with_db(redis_url, 3)
    db3 = redis.Redis.from_url(url)
    db0 = redis.Redis.from_url(with_db(redis_url, 0))
    try:
        s = RedisStorage(url, prefix=prefix)
        sid = s.create_new_study([MIN], "db3")
        s.create_new_trial(sid)
        in_db3 = set(db3.scan_iter(match=f"{prefix}:*"))
        assert f"{prefix}:format".encode() in in_db3
        assert any(b":t:" in k for k in in_db3)
        assert set(db0.scan_iter(match=f"{prefix}:*")) == set()
        assert pickle.loads(pickle.dumps(s)).get_study_id_from_name("db3") == sid
    finally:
        cleanup(db3, prefix)
        db3.close()
        db0.close()


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_url_with_acl_user(redis_url, redis_client, prefix) -> None:
    user = f"optuna-test-{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex
    # The user may only touch keys under the prefix: any stray key would fail.
    redis_client.execute_command(
        "ACL", "SETUSER", user, "on", f">{password}", f"~{prefix}:*", "+@all"
    )
    try:
        base = redis_url.split("://", 1)[1]
        url = f"redis://{user}:{password}@{base}"
        s = RedisStorage(url, prefix=prefix, heartbeat_interval=60)
        sid = s.create_new_study([MIN], "acl")
        fill(s, sid)
        s.get_all_studies()
        optuna.storages.fail_stale_trials(optuna.load_study(study_name="acl", storage=s))
        s.delete_study(sid)
        assert pickle.loads(pickle.dumps(s)).get_all_studies() == []
        with pytest.raises(redis.AuthenticationError):
            RedisStorage(f"redis://{user}:wrong@{base}", prefix=prefix)
        s.remove_session()
    finally:
        redis_client.execute_command("ACL", "DELUSER", user)


@pytest.fixture(scope="module")
def unix_socket() -> Iterator[str]:
    if find_server() is None:
        pytest.skip("no Redis server binary (see optuna_redis._local_redis.find_server)")
    folder = tempfile.mkdtemp(prefix="optuna-redis-sock-")
    path = f"{folder}/redis.sock"
    server = RedisServer("--unixsocket", path, "--unixsocketperm", "700")
    try:
        yield path
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def test_unix_socket_url(unix_socket) -> None:
    url = f"unix://{unix_socket}?db=0"
    s = RedisStorage(url, prefix="unix")
    sid = s.create_new_study([MIN], "sock")
    study = optuna.load_study(study_name="sock", storage=s)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    assert len(pickle.loads(pickle.dumps(s)).get_all_trials(sid)) == 3
    client = redis.Redis(unix_socket_path=unix_socket)
    try:
        assert all(k.startswith(b"unix:") for k in client.scan_iter())
    finally:
        client.close()


def test_from_client(redis_url, prefix) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        s = RedisStorage.from_client(client, prefix=prefix)
        sid = s.create_new_study([MIN], "fc")
        t = s.create_new_trial(sid)
        other = RedisStorage(redis_url, prefix=prefix)
        assert other.get_trial(t).number == 0
        assert other.get_study_name_from_id(sid) == "fc"
    finally:
        client.close()


# ---------------------------------------------------------------- threads


def test_threads_share_one_storage(storage) -> None:
    optuna.create_study(study_name="threads", storage=storage)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            study = optuna.load_study(study_name="threads", storage=storage)
            study.optimize(lambda t: t.suggest_float("x", -1, 1) ** 2, n_trials=15)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    sid = storage.get_study_id_from_name("threads")
    trials = storage.get_all_trials(sid)
    assert [t.number for t in trials] == list(range(120))
    assert len({t._trial_id for t in trials}) == 120
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(t.values == [t.params["x"] ** 2] for t in trials)
    fresh = RedisStorage.from_client(storage._client, prefix=storage._keys.prefix)
    assert fresh.get_all_trials(sid) == trials
    assert storage.get_n_trials(sid) == 120


def test_made_up_ids_leave_no_cache_behind(storage) -> None:  # noqa: ANN001
    for bogus in (10**6, 10**6 + 1):
        with pytest.raises(KeyError):
            storage.get_all_trials(bogus)
        with pytest.raises(KeyError):
            storage.get_trial(bogus << 32)
    assert storage._sync._caches == {} and storage._sync._dists == {}
