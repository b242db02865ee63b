"""``optuna-redis import-legacy``: studies written by Optuna 3.0.6's own pickling
RedisStorage arrive in ours field by field, and a planted record that would run code is
refused by key, with nothing run and nothing written.

The legacy layout has no key prefix, so the legacy data lives in a private redis-server of
this module, one database number per test; the shared Redis is never touched by it.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import itertools
import json
import os
from pathlib import Path
import pickle
import subprocess
import sys
import types
from typing import Any

import optuna
from optuna.distributions import FloatDistribution
from optuna.distributions import distribution_to_json
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState
import pytest
import redis

from _legacy_venv import OPTUNA_VERSION
from _legacy_venv import Unavailable
from _legacy_venv import legacy_python
from _redis_server import RedisServer
from _redis_server import free_port
from optuna_redis import LegacyRedisStorage
from optuna_redis import RedisStorage
from optuna_redis._cli import main
from optuna_redis._legacy import LegacyStorageReadOnlyError
from optuna_redis._legacy_pickle import ALLOWED
from optuna_redis._legacy_pickle import RefusedGlobalError
from optuna_redis._legacy_pickle import loads

HERE = Path(__file__).parent
# The studies _legacy_writer.py leaves, with their trial counts by state.
EXPECTED_STATES = {
    "single": {"COMPLETE": 6, "PRUNED": 2, "FAIL": 2, "RUNNING": 1},
    "multi": {"COMPLETE": 6, "WAITING": 1},
    "old-distributions": {"COMPLETE": 1, "FAIL": 1},
    "empty": {},
}


@pytest.fixture(scope="module")
def server() -> Any:
    server = RedisServer("--databases", "64")
    yield server
    server.stop()


_db_numbers = itertools.count(1)  # Database 0 holds what Optuna 3.0.6 wrote.


@pytest.fixture
def legacy_url(server: Any) -> str:
    """A fresh database of the private server, for one test's planted legacy records."""
    return f"redis://127.0.0.1:{server.port}/{next(_db_numbers)}"


@pytest.fixture(scope="module")
def written(server: Any) -> dict:
    """What Optuna 3.0.6 wrote into database 0 through its own RedisStorage (as JSON)."""
    try:
        python = legacy_python()
    except Unavailable as e:
        pytest.skip(f"no Optuna {OPTUNA_VERSION} venv: {e}")
    out = Path(server.dir) / "legacy.json"
    url = f"redis://127.0.0.1:{server.port}/0"
    subprocess.run(
        [python, str(HERE / "_legacy_writer.py"), url, str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    data = json.loads(out.read_text())
    assert data["optuna"] == OPTUNA_VERSION
    return {"url": url, "studies": data["studies"]}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def snapshot(url: str) -> dict[bytes, bytes]:
    client = redis.Redis.from_url(url)
    try:
        return {k: client.dump(k) for k in sorted(client.scan_iter(count=1000))}
    finally:
        client.close()


# --- real data of Optuna 3.0.6 ----------------------------------------------------------------


def test_import_equals_what_optuna_3_wrote(written: dict, redis_url: str, prefix: str) -> None:
    before = snapshot(written["url"])
    code, out, err = run_cli(
        "import-legacy", written["url"], "--to", redis_url, "--to-prefix", prefix, "--quiet"
    )
    assert code == 0, err
    assert err == ""
    for name in EXPECTED_STATES:
        assert f"Imported study {name!r}" in out
    assert "deleted" not in out
    assert snapshot(written["url"]) == before, "the legacy data was written"

    ours = RedisStorage(redis_url, prefix=prefix)
    assert sorted(s.study_name for s in ours.get_all_studies()) == sorted(EXPECTED_STATES)
    for study in written["studies"]:
        study_id = ours.get_study_id_from_name(study["study_name"])
        assert [d.name for d in ours.get_study_directions(study_id)] == study["directions"]
        assert ours.get_study_user_attrs(study_id) == study["user_attrs"]
        assert ours.get_study_system_attrs(study_id) == study["system_attrs"]
        trials = ours.get_all_trials(study_id)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        assert states == EXPECTED_STATES[study["study_name"]]
        assert len(trials) == len(study["trials"])
        # Optuna 3.0.6 lists a study's trials in no fixed order; ours are by number.
        wanted = sorted(study["trials"], key=lambda t: t["number"])
        for got, want in zip(trials, wanted, strict=True):
            assert_same_trial(got, want)


def assert_same_trial(got: FrozenTrial, want: dict) -> None:
    where = f"trial {want['number']}"
    assert got.number == want["number"], where
    assert got.state.name == want["state"], where
    assert (None if got.values is None else [repr(v) for v in got.values]) == want["values"]
    assert {str(k): repr(v) for k, v in got.intermediate_values.items()} == want[
        "intermediate_values"
    ], where
    assert got.params == want["params"], where
    assert {k: json.loads(distribution_to_json(d)) for k, d in got.distributions.items()} == want[
        "distributions"
    ], where
    assert got.user_attrs == want["user_attrs"], where
    assert got.system_attrs == want["system_attrs"], where
    for field in ("datetime_start", "datetime_complete"):
        value = getattr(got, field)
        assert (None if value is None else value.isoformat()) == want[field], (where, field)


def test_real_records_need_only_these_globals(written: dict) -> None:
    # Which globals Optuna 3.0.6's records name, found by unpickling every record of them.
    client = redis.Redis.from_url(written["url"])
    seen: set[tuple[str, str]] = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            seen.add((module, name))
            return ALLOWED[(module, name)]

    for key in client.scan_iter():
        kind = client.type(key)
        raws = [client.get(key)] if kind == b"string" else client.lrange(key, 0, -1)
        for raw in raws:
            if raw.startswith(pickle.PROTO):
                Recording(io.BytesIO(raw)).load()
    client.close()
    assert seen == {
        ("optuna.trial._frozen", "FrozenTrial"),
        ("optuna.trial._state", "TrialState"),
        ("optuna.study._study_summary", "StudySummary"),
        ("optuna.study._study_direction", "StudyDirection"),
        ("optuna.distributions", "FloatDistribution"),
        ("optuna.distributions", "IntDistribution"),
        ("optuna.distributions", "CategoricalDistribution"),
        ("datetime", "datetime"),
    }


def test_default_target_is_the_legacy_redis_and_reruns_skip(written: dict) -> None:
    # Our keys go under the prefix, beside the legacy keys, which have none.
    prefix = "optuna-redis-legacy-default"
    before = snapshot(written["url"])
    code, out, _ = run_cli("import-legacy", written["url"], "--to-prefix", prefix, "--quiet")
    assert code == 0
    assert f"Imported 4 of 4 legacy studies into prefix {prefix!r}" in out
    code, _, err = run_cli("import-legacy", written["url"], "--to-prefix", prefix, "--quiet")
    assert code == 1
    assert err == (
        "optuna-redis: error: the target already has a study named 'single' (--skip-existing "
        f"skips it) (target: prefix {prefix!r} at {written['url']})\n"
    )
    code, out, _ = run_cli(
        "import-legacy", written["url"], "--to-prefix", prefix, "--skip-existing", "--quiet"
    )
    assert code == 0
    assert "Skipped study 'single'" in out
    assert "Imported 0 of 4" in out
    client = redis.Redis.from_url(written["url"])
    legacy_keys = {k for k in before}
    ours = {k for k in client.scan_iter() if k not in legacy_keys}
    assert ours and all(k.startswith(prefix.encode() + b":") for k in ours)
    assert {k: client.dump(k) for k in legacy_keys} == before
    for key in ours:
        client.unlink(key)
    client.close()


def test_study_option_selects(written: dict, redis_url: str, prefix: str) -> None:
    code, out, err = run_cli(
        "import-legacy",
        written["url"],
        "--to",
        redis_url,
        "--to-prefix",
        prefix,
        "--study",
        "multi",
    )
    assert code == 0
    assert "Imported 1 of 1" in out
    assert "multi: 100%" in err and "7/7" in err, err  # The progress bar, without --quiet.
    ours = RedisStorage(redis_url, prefix=prefix)
    assert [s.study_name for s in ours.get_all_studies()] == ["multi"]
    code, _, err = run_cli("import-legacy", written["url"], "--study", "nope", "--quiet")
    assert code == 1
    assert "no legacy study named 'nope'" in err


# --- planted records -------------------------------------------------------------------------


def plant_study(url: str, trial_record: bytes, *, old_layout: bool = False) -> None:
    """A legacy study 's' with one trial whose record is ``trial_record``."""
    client = redis.Redis.from_url(url)
    client.set("study_counter", 0)
    client.set("trial_counter", 0)
    client.rpush("study_list", pickle.dumps(0))
    client.set("study_name:s:study_id", pickle.dumps(0))
    client.set("study_id:0000000000:study_name", pickle.dumps("s"))
    if old_layout:  # Optuna 1.4-2.3 kept one direction.
        client.set("study_id:0000000000:direction", pickle.dumps(StudyDirection.MAXIMIZE))
    else:
        client.set("study_id:0000000000:directions", pickle.dumps([StudyDirection.MINIMIZE]))
    client.set("study_id:0000000000:trial_number", 0)
    client.rpush("study_id:0000000000:trial_list", 0)
    client.set("trial_id:0000000000:frozentrial", trial_record)
    client.set("trial_id:0000000000:study_id", pickle.dumps(0))
    client.close()


def a_trial(**user_attrs: Any) -> FrozenTrial:
    now = datetime.datetime(2022, 9, 1, 12, 0, 0)
    return FrozenTrial(
        number=0,
        state=TrialState.COMPLETE,
        value=1.0,
        datetime_start=now,
        datetime_complete=now,
        params={"x": 0.5},
        distributions={"x": FloatDistribution(0, 1)},
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=0,
    )


class _Reduces:
    """Pickles as a call of ``func(*args)``, as an attacker's record would."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> Any:
        return self.func, self.args


def evil_records(marker: Path) -> dict[str, tuple[bytes, str]]:
    """Records that would create ``marker`` when unpickled, and the global each names."""
    return {
        "os.system": (pickle.dumps(_Reduces(os.system, f"touch {marker}")), "posix.system"),
        "builtins.open": (pickle.dumps(_Reduces(open, str(marker), "w")), "io.open"),
        # A real FrozenTrial, with the call hidden in a user attr: refused all the same.
        "nested": (
            pickle.dumps(a_trial(x=_Reduces(os.system, f"touch {marker}"))),
            "posix.system",
        ),
        "subprocess": (
            pickle.dumps(_Reduces(subprocess.call, ["touch", str(marker)])),
            "subprocess.call",
        ),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.open", "nested", "subprocess"])
def test_a_record_that_would_run_code_is_refused(
    kind: str, legacy_url: str, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    record, global_name = evil_records(marker)[kind]
    plant_study(legacy_url, record)
    code, out, err = run_cli(
        "import-legacy", legacy_url, "--to", redis_url, "--to-prefix", prefix, "--quiet"
    )
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("optuna-redis: error: legacy record 'trial_id:0000000000:frozentrial'")
    assert f"refused global {global_name!r}" in err
    assert not marker.exists(), "the planted pickle ran"
    assert out == ""
    assert not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}:*"))


def test_the_unpickler_refuses_before_calling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for record, global_name in evil_records(marker).values():
        with pytest.raises(RefusedGlobalError) as info:
            loads(record, "k")
        assert info.value.key == "k"
        assert info.value.global_name == global_name
    assert not marker.exists()


def test_a_persistent_id_is_refused() -> None:
    class WithPersistentIds(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            return "outside" if obj == "x" else None

    buffer = io.BytesIO()
    WithPersistentIds(buffer, protocol=4).dump(["x"])
    with pytest.raises(RefusedGlobalError, match="persistent id 'outside'") as info:
        loads(buffer.getvalue(), "study_list")
    assert info.value.key == "study_list"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (b'{"number": 0}', "not a pickle"),
        (b"", "not a pickle"),
        (pickle.dumps(a_trial())[:60], "not a valid pickle"),
        (pickle.dumps(TrialState.COMPLETE)[:-1] + b"X", "not a valid pickle"),
        (pickle.dumps({"a": 1}), "is not a pickled FrozenTrial"),
        (pickle.dumps(a_trial()).replace(b"\x8c\x05state", b"\x8c\x05stat_"), "trial state"),
    ],
    ids=["json", "empty", "truncated", "bad-opcode", "a-dict", "no-state"],
)
def test_a_broken_record_is_a_clear_error(
    record: bytes, message: str, legacy_url: str, redis_url: str, prefix: str
) -> None:
    plant_study(legacy_url, record)
    code, out, err = run_cli(
        "import-legacy", legacy_url, "--to", redis_url, "--to-prefix", prefix, "--quiet"
    )
    assert (code, out) == (1, "")
    assert err.startswith("optuna-redis: error: legacy record 'trial_id:0000000000:frozentrial'")
    assert message in err
    assert err.count("\n") == 1
    assert not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}:*"))


@contextlib.contextmanager
def optuna_2_classes() -> Any:
    """Optuna 2.0's module paths and attribute names, to pickle records as 2.0 wrote them."""
    structs = types.ModuleType("optuna.structs")
    old = {}

    class Legacy:
        def __init__(self, **attrs: Any) -> None:
            self.__dict__.update(attrs)

    for name in ("FrozenTrial", "UniformDistribution", "IntUniformDistribution"):
        cls = type(name, (Legacy,), {"__module__": "optuna.structs", "__qualname__": name})
        setattr(structs, name, cls)
        old[name] = cls
    dists = sys.modules["optuna.distributions"]
    saved = {n: getattr(dists, n) for n in ("UniformDistribution", "IntUniformDistribution")}
    for name in saved:
        old[name].__module__ = "optuna.distributions"
        setattr(dists, name, old[name])
    sys.modules["optuna.structs"] = structs
    try:
        yield old
    finally:
        del sys.modules["optuna.structs"]
        for name, cls in saved.items():
            setattr(dists, name, cls)


def test_optuna_2_layout_and_names(legacy_url: str, redis_url: str, prefix: str) -> None:
    with optuna_2_classes() as old:
        record = pickle.dumps(
            old["FrozenTrial"](
                number=0,
                state=TrialState.PRUNED,
                value=2.5,
                datetime_start=datetime.datetime(2020, 7, 1, 9, 30),
                datetime_complete=None,
                params={"u": 0.25, "i": 4},
                user_attrs={"a": 1},
                system_attrs={},
                intermediate_values={0: 3.0},
                _distributions={
                    "u": old["UniformDistribution"](low=0.0, high=1.0),
                    "i": old["IntUniformDistribution"](low=0, high=8, step=2),
                },
                _trial_id=0,
            ),
            protocol=3,
        )
    assert b"optuna.structs" in record and b"UniformDistribution" in record
    plant_study(legacy_url, record, old_layout=True)
    code, _, err = run_cli(
        "import-legacy", legacy_url, "--to", redis_url, "--to-prefix", prefix, "--quiet"
    )
    assert code == 0, err
    ours = RedisStorage(redis_url, prefix=prefix)
    study_id = ours.get_study_id_from_name("s")
    assert ours.get_study_directions(study_id) == [StudyDirection.MAXIMIZE]
    (trial,) = ours.get_all_trials(study_id)
    assert (trial.state, trial.values, trial.intermediate_values) == (
        TrialState.PRUNED,
        [2.5],
        {0: 3.0},
    )
    assert trial.params == {"u": 0.25, "i": 4}
    assert trial.distributions == {
        "u": optuna.distributions.FloatDistribution(0.0, 1.0),
        "i": optuna.distributions.IntDistribution(0, 8, step=2),
    }
    assert trial.user_attrs == {"a": 1}
    assert trial.datetime_start == datetime.datetime(2020, 7, 1, 9, 30)


def test_the_legacy_storage_refuses_every_write(legacy_url: str) -> None:
    plant_study(legacy_url, pickle.dumps(a_trial()))
    before = snapshot(legacy_url)
    legacy = LegacyRedisStorage(legacy_url)
    writes = {
        "create_new_study": ([StudyDirection.MINIMIZE], "t"),
        "delete_study": (0,),
        "set_study_user_attr": (0, "k", 1),
        "set_study_system_attr": (0, "k", 1),
        "create_new_trial": (0,),
        "set_trial_param": (0, "x", 0.5, FloatDistribution(0, 1)),
        "set_trial_state_values": (0, TrialState.FAIL),
        "set_trial_intermediate_value": (0, 1, 1.0),
        "set_trial_user_attr": (0, "k", 1),
        "set_trial_system_attr": (0, "k", 1),
    }
    assert set(writes) | {
        name for name in optuna.storages.BaseStorage.__abstractmethods__ if name.startswith("get_")
    } == set(optuna.storages.BaseStorage.__abstractmethods__)
    for name, args in writes.items():
        with pytest.raises(LegacyStorageReadOnlyError):
            getattr(legacy, name)(*args)
    assert snapshot(legacy_url) == before
    (trial,) = legacy.get_all_trials(0)
    assert legacy.get_trial(0) == trial
    assert legacy.get_trial_id_from_study_id_trial_number(0, 0) == 0


# --- command errors --------------------------------------------------------------------------


def test_command_errors(legacy_url: str) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"
    cases = [
        (
            [legacy_url],
            1,
            f"{legacy_url} holds no data of Optuna's legacy RedisStorage (no 'study_list' key); "
            "check the URL's database number",
        ),
        ([down], 1, f"cannot read the legacy storage at {down}: Error 111 connecting"),
        (["http://localhost/0"], 2, "'http://localhost/0' is not a URL of Optuna's legacy"),
        (["localhost:6379"], 2, "'localhost:6379' is not a URL of Optuna's legacy"),
        (["redis://127.0.0.1:1/x"], 2, "the database number 'x' is not one"),
        (["redis://127.0.0.1:1/0", "--to", "sqlite:///x.db"], 2, "is not a Redis URL"),
    ]
    for argv, exit_code, message in cases:
        code, out, err = run_cli("import-legacy", *argv, "--quiet")
        assert (code, out) == (exit_code, ""), (argv, err)
        assert err.startswith("optuna-redis: error: ") and message in err, (argv, err)
        assert err.count("\n") == 1, err


def test_a_study_list_that_is_not_a_list(legacy_url: str) -> None:
    client = redis.Redis.from_url(legacy_url)
    client.set("study_list", "x")
    client.close()
    code, _, err = run_cli("import-legacy", legacy_url, "--quiet")
    assert code == 1
    assert (
        err == "optuna-redis: error: legacy record 'study_list': is a Redis string, not a list\n"
    )


@pytest.mark.parametrize(
    "key",
    ["study_list", "study_id:0000000000:study_name", "study_id:0000000000:directions"],
)
def test_a_refused_study_record_names_its_key(
    key: str, legacy_url: str, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    plant_study(legacy_url, pickle.dumps(a_trial()))
    evil = pickle.dumps(_Reduces(os.system, f"touch {marker}"))
    client = redis.Redis.from_url(legacy_url)
    if key == "study_list":
        client.delete(key)
        client.rpush(key, evil)
    else:
        client.set(key, evil)
    client.close()
    code, _, err = run_cli(
        "import-legacy", legacy_url, "--to", redis_url, "--to-prefix", prefix, "--quiet"
    )
    assert code == 1
    assert err.startswith(f"optuna-redis: error: legacy record {key!r}: refused global")
    assert not marker.exists()
    assert not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{prefix}:*"))
