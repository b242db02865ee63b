"""``optuna_redis.copy_studies`` and ``optuna-redis copy``: every field of every trial survives
each direction (ours, SQLite, PostgreSQL, MariaDB, journal file, JournalRedis), the result
equals ``optuna.copy_study``'s, the source is never written, an interrupted copy is
resumed or replaced, and bad input fails in one line before anything is written."""

from __future__ import annotations

import datetime
import hashlib
import math
import os
import subprocess
import sys
import uuid

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.distributions import FloatDistribution
from optuna.distributions import IntDistribution
from optuna.storages import InMemoryStorage
from optuna.storages import RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal import JournalRedisBackend
from optuna.storages.journal import JournalStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest

from optuna_redis import CopyError
from optuna_redis import RedisStorage
from optuna_redis import copy_studies
from optuna_redis._cli import main
from optuna_redis._copy import INCOMPLETE_ATTR
from optuna_redis._copy import trials_digest

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
CLUSTER = os.environ.get("OPTUNA_REDIS_TEST_CLUSTER", "").lower() in ("1", "true", "yes")
FIELDS = (
    "number",
    "state",
    "values",
    "datetime_start",
    "datetime_complete",
    "params",
    "distributions",
    "intermediate_values",
    "user_attrs",
    "system_attrs",
)
DISTS = {
    "x": FloatDistribution(-10, 10),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "n": IntDistribution(1, 64, step=3),
    "opt": CategoricalDistribution(["adam", "sgd", None, 1.5]),
}


def _trial(i: int, n_objectives: int) -> FrozenTrial:
    state = list(TrialState)[i % len(TrialState)]
    start = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456) + datetime.timedelta(minutes=i)
    values = None
    if state == TrialState.COMPLETE:
        values = (
            [float(i) * 0.5 - 3, -math.inf][:n_objectives] if i % 7 else [math.inf] * n_objectives
        )
    params = {
        "x": i / 7 - 5,
        "lr": 1e-3 * (1 + i % 5),
        "n": 1 + 3 * (i % 20),
        "opt": ["adam", "sgd", None, 1.5][i % 4],
    }
    return FrozenTrial(
        number=i,
        state=state,
        value=None,
        values=values,
        datetime_start=None if state == TrialState.WAITING else start,
        datetime_complete=start + datetime.timedelta(seconds=3) if state.is_finished() else None,
        params={} if state == TrialState.WAITING else params,
        distributions={} if state == TrialState.WAITING else DISTS,
        user_attrs={"i": i, "nested": {"a": [1, 2.5, "x"]}, "s": "é"},
        system_attrs={"constraints": [i - 10.0]},
        intermediate_values={s: (math.nan if s == 2 else s * 0.25 - i) for s in range(4)},
        trial_id=i,
    )


def build(
    storage: optuna.storages.BaseStorage, name: str = "s", n: int = 25, n_obj: int = 1
) -> None:
    """A study with every trial state, NaN/inf values, attrs of every JSON kind."""
    directions = [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE][:n_obj]
    study_id = storage.create_new_study(directions, name)
    storage.set_study_user_attr(study_id, "owner", {"team": "a", "k": [1, 2]})
    storage.set_study_system_attr(study_id, "seed", 7)
    for i in range(n):
        storage.create_new_trial(study_id, template_trial=_trial(i, n_obj))


def fields(storage: optuna.storages.BaseStorage, name: str) -> dict:
    study_id = storage.get_study_id_from_name(name)
    trials = sorted(storage.get_all_trials(study_id), key=lambda t: t.number)
    return {
        "directions": storage.get_study_directions(study_id),
        "user_attrs": storage.get_study_user_attrs(study_id),
        "system_attrs": storage.get_study_system_attrs(study_id),
        "trials": [repr([getattr(t, f) for f in FIELDS]) for t in trials],
    }


def ours(url: str, prefix: str) -> RedisStorage:
    return RedisStorage(url, prefix=prefix)


def snapshot_redis(client, prefix: str) -> dict:  # noqa: ANN001
    """Every key of ours under ``prefix`` (not the sub-prefixes the tests add) and its DUMP."""
    subs = tuple(f"{prefix}:{sub}:".encode() for sub in "bcj")
    keys = client.scan_iter(match=f"{prefix}:*", count=1000)
    return {key: client.dump(key) for key in keys if not key.startswith(subs)}


def file_hash(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(autouse=True)
def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_ours_sqlite_ours_round_trip_equals_copy_study(redis_url, prefix, redis_client, tmp_path):
    src = ours(redis_url, prefix)
    build(src, "single")
    build(src, "multi", n_obj=2)
    before = snapshot_redis(redis_client, prefix)
    sqlite = RDBStorage(f"sqlite:///{tmp_path / 'a.db'}")
    results = copy_studies(src, sqlite, progress=False)
    assert [(r.name, r.n_trials, r.skipped) for r in results] == [
        ("single", 25, False),
        ("multi", 25, False),
    ]
    back = ours(redis_url, prefix + ":b")
    sqlite_before = file_hash(str(tmp_path / "a.db"))
    copy_studies(sqlite, back, progress=False)
    assert file_hash(str(tmp_path / "a.db")) == sqlite_before
    # What optuna.copy_study makes of the same study, side by side.
    reference = ours(redis_url, prefix + ":c")
    for name in ("single", "multi"):
        optuna.copy_study(from_study_name=name, from_storage=src, to_storage=reference)
        assert fields(sqlite, name) == fields(src, name)
        assert fields(back, name) == fields(src, name) == fields(reference, name)
    assert snapshot_redis(redis_client, prefix) == before  # the source is never written


def test_journal_file_to_ours_and_ours_to_journal_file(redis_url, prefix, tmp_path, capsys):
    path = str(tmp_path / "src.log")
    build(JournalStorage(JournalFileBackend(path)), n=30)
    before = file_hash(path)
    assert main(["copy", path, redis_url, "--to-prefix", prefix, "--quiet"]) == 0
    assert "s -> s: 30 trials" in capsys.readouterr().out
    assert file_hash(path) == before
    source = JournalStorage(JournalFileBackend(path))
    assert fields(ours(redis_url, prefix), "s") == fields(source, "s")
    out = tmp_path / "new" / "out.log"
    out.parent.mkdir()
    url = f"journal+file://{out}"
    assert main(["copy", redis_url, url, "--from-prefix", prefix, "--quiet"]) == 0
    copied = JournalStorage(JournalFileBackend(str(out)))
    got = fields(copied, "s")
    want = fields(source, "s")
    # A journal cannot delete a study attr: the finished copy's marker is False.
    assert got["system_attrs"].pop(INCOMPLETE_ATTR) is False
    assert got == want


@pytest.mark.skipif(CLUSTER, reason="JournalRedis has no redis+cluster:// URL")
def test_journal_redis_to_ours(redis_url, prefix):
    journal = JournalStorage(JournalRedisBackend(redis_url, prefix=prefix + ":j"))
    build(journal, n=20)
    jurl = "journal+" + redis_url
    args = ["copy", jurl, redis_url, "--from-prefix", prefix + ":j", "--to-prefix", prefix]
    assert main([*args, "--quiet"]) == 0
    assert fields(ours(redis_url, prefix), "s") == fields(journal, "s")
    # The other spelling of the source.
    args = ["copy", redis_url, "--from-journal-redis", redis_url, "--from-prefix", prefix + ":j"]
    assert main([*args, "--to-prefix", prefix + ":b", "--quiet"]) == 0
    assert fields(ours(redis_url, prefix + ":b"), "s") == fields(journal, "s")


def _database(kind: str):  # noqa: ANN202
    """A fresh database on the local server, dropped after; skipped when unreachable."""
    import sqlalchemy

    name = f"optuna_redis_copy_{uuid.uuid4().hex[:10]}"
    admin_url = (
        "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
        if kind == "postgresql"
        else "mysql+pymysql://root@127.0.0.1:3306/"
    )
    engine = sqlalchemy.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    except sqlalchemy.exc.OperationalError as e:
        engine.dispose()
        pytest.skip(f"{kind} not reachable: {str(e).splitlines()[0]}")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    return engine, name, url


@pytest.fixture(params=["postgresql", "mysql"])
def rdb_url(request):  # noqa: ANN001, ANN201
    import sqlalchemy

    engine, name, url = _database(request.param)
    yield url
    with engine.connect() as conn:
        force = " WITH (FORCE)" if request.param == "postgresql" else ""
        conn.execute(sqlalchemy.text(f"DROP DATABASE {name}{force}"))
    engine.dispose()


def test_rdb_server_both_ways(redis_url, prefix, rdb_url):
    rdb = RDBStorage(rdb_url)
    build(rdb, "s", n=15)
    src = ours(redis_url, prefix)
    assert main(["copy", rdb_url, redis_url, "--to-prefix", prefix, "--quiet"]) == 0
    assert fields(src, "s") == fields(rdb, "s")
    assert (
        main(["copy", redis_url, rdb_url, "--from-prefix", prefix, "--to-study", "t", "--quiet"])
        == 0
    )
    assert fields(rdb, "t") == fields(rdb, "s")
    rdb.engine.dispose()


def test_warm_cache_sees_copied_trials(redis_url, prefix):
    src = InMemoryStorage()
    build(src, n=12)
    target = ours(redis_url, prefix)
    study_id = target.create_new_study([StudyDirection.MINIMIZE], "other")
    assert target.get_all_trials(study_id) == []
    copy_studies(src, target, progress=False)
    study_id = target.get_study_id_from_name("s")
    first = target.get_all_trials(study_id)
    assert len(first) == 12
    # A second copy of more trials into the same study: the warm cache syncs them in.
    src2 = InMemoryStorage()
    build(src2, n=20)
    sid = target.get_study_id_from_name("s")
    target.set_study_system_attr(sid, INCOMPLETE_ATTR, True)
    copy_studies(src2, target, on_incomplete="resume", progress=False)
    assert [t.number for t in target.get_all_trials(study_id)] == list(range(20))
    assert fields(target, "s") == fields(src2, "s")


KILLER = """
import os, signal, sys
from optuna_redis import _copy, _copy_targets
from optuna_redis._cli import main
real = _copy_targets.RedisTarget._send
calls = []
def dying(self, study_id, first, pairs, records):
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    calls.append(first)
    return real(self, study_id, first, pairs, records)
_copy_targets.RedisTarget._send = dying
_copy.CHUNK = 10
sys.exit(main(sys.argv[1:]))
"""


def test_interrupted_copy_is_refused_then_resumed_or_replaced(redis_url, prefix, tmp_path, capsys):
    path = str(tmp_path / "src.log")
    build(JournalStorage(JournalFileBackend(path)), n=45)
    args = ["copy", path, redis_url, "--to-prefix", prefix, "--quiet"]
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], capture_output=True)
    assert killed.returncode == -9, killed.stderr
    target = ours(redis_url, prefix)
    study_id = target.get_study_id_from_name("s")
    assert target.get_study_system_attrs(study_id)[INCOMPLETE_ATTR] is True
    assert target.get_n_trials(study_id) == 20  # two chunks of 10 landed
    assert main(args) == 1
    assert "interrupted copy" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    source = JournalStorage(JournalFileBackend(path))
    assert fields(target, "s") == fields(source, "s")
    # Again, then replaced.
    other = ["copy", path, redis_url, "--to-prefix", prefix + ":b", "--quiet"]
    assert subprocess.run([sys.executable, "-c", KILLER, *other]).returncode == -9
    assert main([*other, "--replace"]) == 0
    assert fields(ours(redis_url, prefix + ":b"), "s") == fields(source, "s")


def test_existing_target_skip_and_to_study(redis_url, prefix, capsys):
    src = InMemoryStorage()
    build(src, "a", n=5)
    build(src, "b", n=6)
    target = ours(redis_url, prefix)
    copy_studies(src, target, ["a"], progress=False)
    with pytest.raises(CopyError, match="'a'"):
        copy_studies(src, target, progress=False)
    assert target.get_all_studies()[0].study_name == "a" and len(target.get_all_studies()) == 1
    results = copy_studies(src, target, skip_existing=True, progress=False)
    assert [(r.name, r.skipped, r.n_trials) for r in results] == [("a", True, 5), ("b", False, 6)]
    copy_studies(src, target, ["b"], to_study_name="c", progress=False)
    assert fields(target, "c")["trials"] == fields(src, "b")["trials"]
    with pytest.raises(CopyError, match="exactly one"):
        copy_studies(src, target, to_study_name="d", progress=False)


@pytest.mark.parametrize("late", [1, 2])
def test_script_error_of_an_overlapped_chunk_is_raised(redis_url, prefix, monkeypatch, late):
    # Chunk k's script call runs while chunk k+1 is encoded: the error of a middle chunk
    # (late=1) and of the last one (late=2) must still reach the caller.
    from optuna_redis import _copy
    from optuna_redis import _copy_targets

    real = _copy_targets.RedisTarget._send
    sent = []

    def racing(self, study_id, first, pairs, records):  # noqa: ANN001, ANN202
        sent.append(first)
        if len(sent) == late + 1:  # Another writer adds a trial just before this chunk.
            self.storage.create_new_trial(study_id)
        return real(self, study_id, first, pairs, records)

    monkeypatch.setattr(_copy, "CHUNK", 10)
    monkeypatch.setattr(_copy_targets.RedisTarget, "_send", racing)
    src = InMemoryStorage()
    build(src, n=25)
    target = ours(redis_url, prefix)
    with pytest.raises(RuntimeError, match="another writer added trials"):
        copy_studies(src, target, progress=False)
    assert sent == [0, 10, 20][: late + 1]
    study_id = target.get_study_id_from_name("s")
    assert target.get_n_trials(study_id) == 10 * late + 1


def test_a_chunk_retried_after_its_reply_was_lost_is_not_another_writer(redis_url, prefix):
    # Redis applied a chunk's script call and the reply was lost: the retry finds the
    # count moved by exactly that chunk, holding exactly its records, and goes on. A
    # different chunk at that count (another writer's trials) is still refused.
    from optuna_redis._copy_targets import RedisTarget

    src = InMemoryStorage()
    build(src, n=12)
    trials = src.get_all_trials(src.get_study_id_from_name("s"))
    storage = ours(redis_url, prefix)
    target = RedisTarget(storage)
    study_id = target.create_study("t", [StudyDirection.MINIMIZE])
    chunk = target._encode(study_id, trials[:6])
    assert target._send(study_id, 0, *chunk) == 6
    assert target._send(study_id, 0, *chunk) == 6  # the retry
    assert storage.get_n_trials(study_id) == 6
    other = target._encode(study_id, trials[6:])
    with pytest.raises(RuntimeError, match="another writer added trials"):
        target._send(study_id, 0, *other)
    assert target._send(study_id, 6, *other) == 6
    copied = storage.get_all_trials(study_id)
    assert trials_digest(copied) == trials_digest(trials)


def test_digest_mismatch_is_reported(redis_url, prefix):
    class Tampering(InMemoryStorage):
        def get_all_trials(self, study_id, deepcopy=True, states=None):  # noqa: ANN001, ANN202
            trials = super().get_all_trials(study_id, deepcopy=True, states=states)
            trials[3].user_attrs["i"] = -1
            return trials

    src = ours(redis_url, prefix)
    build(src, n=8)
    with pytest.raises(CopyError, match="differ from the source"):
        copy_studies(src, Tampering(), progress=False)
    trials = src.get_all_trials(src.get_study_id_from_name("s"))
    tampered = [t for t in trials]
    tampered[2] = optuna.trial.create_trial(value=1.0, params={}, distributions={})
    assert trials_digest(trials) != trials_digest(tampered)


def _one_line_error(capsys, args: list[str], code: int, *words: str) -> None:  # noqa: ANN001
    assert main(args) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for word in words:
        assert word in err, err


@pytest.mark.skipif(CLUSTER, reason="the journal checks read a plain Redis")
def test_bad_input_writes_nothing(redis_url, prefix, redis_client, tmp_path, capsys):
    src = ours(redis_url, prefix)
    build(src, n=3)
    journal_prefix = prefix + ":j"
    JournalStorage(JournalRedisBackend(redis_url, prefix=journal_prefix)).create_new_study(
        [StudyDirection.MINIMIZE], "j"
    )
    before = snapshot_redis(redis_client, prefix)
    to = str(tmp_path / "out.log")
    base = ["copy", redis_url, to, "--from-prefix", prefix, "--quiet"]
    _one_line_error(capsys, [*base, "--study", "nope"], 1, "'nope'")
    _one_line_error(capsys, ["copy", "ftp://x/y", to], 2, "ftp://x/y")
    _one_line_error(capsys, ["copy", "redis://127.0.0.1:1", to], 1, "cannot reach Redis")
    _one_line_error(
        capsys,
        ["copy", redis_url, to, "--from-prefix", prefix + ":none"],
        1,
        "no optuna-redis data",
    )
    # A journal URL on our data, and our URL on a journal.
    _one_line_error(
        capsys,
        ["copy", "journal+" + redis_url, to, "--from-prefix", prefix],
        2,
        "optuna-redis data",
    )
    _one_line_error(
        capsys, ["copy", redis_url, to, "--from-prefix", journal_prefix], 2, "JournalRedis log"
    )
    journal_file = str(tmp_path / "src.log")
    build(JournalStorage(JournalFileBackend(journal_file)), n=2)
    _one_line_error(
        capsys,
        ["copy", journal_file, redis_url, "--to-prefix", journal_prefix],
        2,
        "JournalRedis log",
    )
    _one_line_error(
        capsys, ["copy", str(tmp_path / "missing.log"), redis_url], 1, "does not exist"
    )
    _one_line_error(
        capsys, ["copy", f"sqlite:///{tmp_path / 'no.db'}", redis_url], 1, "no such SQLite"
    )
    assert snapshot_redis(redis_client, prefix) == before
    assert not os.path.exists(to) and not os.path.exists(tmp_path / "no.db")
