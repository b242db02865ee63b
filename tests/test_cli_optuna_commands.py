"""Optuna's own CLI commands through ``optuna-redis``: each one's output on a study in our
storage equals ``optuna``'s output on the same study in SQLite, field by field, ids aside;
the exit codes are Optuna's; bad input is one line and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
import json
import logging
import subprocess
import sys

import optuna
import optuna.cli
from optuna.trial import TrialState
import pytest
import redis
import yaml

from optuna_redis import RedisStorage
from optuna_redis import copy_studies
from optuna_redis._cli import main

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")

SEARCH_SPACE = json.dumps(
    {
        "x": {"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 1.0}},
        "n": {"name": "IntDistribution", "attributes": {"low": 1, "high": 9}},
        "c": {"name": "CategoricalDistribution", "attributes": {"choices": ["a", "b"]}},
    }
)
SEEDED_SAMPLER = ["--sampler", "RandomSampler", "--sampler-kwargs", '{"seed": 7}']


def _fill_single(study: optuna.Study) -> None:
    """Trials of every state, with intermediate values and attrs."""
    study.set_user_attr("owner", "cli-test")
    study._storage.set_study_system_attr(study._study_id, "note", {"nested": [1, 2]})

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        n = trial.suggest_int("n", 1, 9, log=True)
        c = trial.suggest_categorical("c", ["a", "b", None])
        trial.set_user_attr("tag", f"t{trial.number}")
        for step in range(3):
            trial.report(x * step, step)
        if trial.number % 5 == 3:
            raise optuna.TrialPruned()
        if trial.number % 5 == 4:
            raise RuntimeError("fails on purpose")
        return x**2 + n + (c == "a")

    study.optimize(objective, n_trials=10, catch=(RuntimeError,))
    study.enqueue_trial({"x": 0.5, "n": 2, "c": "b"})
    running = study.ask()
    running.suggest_float("x", -5, 5)


def _fill_multi(study: optuna.Study) -> None:
    def objective(trial: optuna.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0, 1)
        return x, (1 - x) ** 2

    study.optimize(objective, n_trials=8)


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'source.db'}"
    sampler = optuna.samplers.RandomSampler(seed=1)
    _fill_single(optuna.create_study(storage=url, study_name="single", sampler=sampler))
    _fill_multi(
        optuna.create_study(
            storage=url, study_name="multi", directions=["minimize", "maximize"], sampler=sampler
        )
    )
    return url


@pytest.fixture
def ours(redis_url: str, prefix: str, sqlite_url: str) -> Iterator[list[str]]:
    """``--storage`` and ``--prefix`` of our storage, holding a copy of the SQLite studies."""
    storage = RedisStorage(redis_url, prefix=prefix)
    copy_studies(optuna.storages.RDBStorage(sqlite_url), storage, progress=False)
    storage.remove_session()
    yield ["--storage", redis_url, "--prefix", prefix]


def _run(
    command: str, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch
) -> tuple[int, str, str]:
    """Run one command in this process, as ``optuna`` or as ``optuna-redis``."""
    root = logging.getLogger()
    handlers = list(root.handlers)
    capsys.readouterr()
    try:
        if command == "optuna":
            monkeypatch.setattr(sys, "argv", ["optuna", *args])
            code = optuna.cli.main()
        else:
            code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    except Exception as e:  # noqa: BLE001
        # What an uncaught exception makes of a process: a traceback and exit code 1.
        assert command == "optuna", f"optuna-redis raised {e!r}"
        code = 1
    finally:
        # Both mains add a handler to the root logger, once per process in real life.
        for handler in root.handlers[len(handlers) :]:
            root.removeHandler(handler)
    out, err = capsys.readouterr()
    return code, out, err


def _both(args: list[str], ours: list[str], sqlite_url: str, capsys, monkeypatch):
    theirs = _run("optuna", [*args, "--storage", sqlite_url], capsys, monkeypatch)
    mine = _run("optuna-redis", [*args, *ours], capsys, monkeypatch)
    return theirs, mine


@pytest.mark.parametrize(
    "args",
    [
        ["studies", "-f", "json"],
        ["studies", "-f", "json", "--flatten"],
        ["trials", "--study-name", "single", "-f", "json"],
        ["trials", "--study-name", "single", "-f", "json", "--flatten"],
        ["trials", "--study-name", "multi", "-f", "yaml"],
        ["best-trial", "--study-name", "single", "-f", "json"],
        ["best-trial", "--study-name", "single", "-f", "yaml", "--flatten"],
        ["best-trials", "--study-name", "multi", "-f", "json"],
        ["best-trials", "--study-name", "multi", "-f", "json", "--flatten"],
    ],
    ids=lambda args: " ".join(args),
)
def test_structured_output_equals_optunas_on_sqlite(
    args, ours, sqlite_url, capsys, monkeypatch
) -> None:
    (code_a, out_a, _), (code_b, out_b, err_b) = _both(args, ours, sqlite_url, capsys, monkeypatch)
    assert code_a == code_b == 0, err_b
    load = json.loads if "json" in args else yaml.safe_load
    theirs, mine = load(out_a), load(out_b)
    assert len(theirs) == len(mine) > 0
    assert mine == theirs


@pytest.mark.parametrize(
    "args",
    [
        ["study-names"],
        ["studies"],
        ["studies", "-f", "value"],
        ["trials", "--study-name", "single"],
        ["trials", "--study-name", "multi", "-f", "value", "--flatten"],
        ["best-trial", "--study-name", "single"],
        ["best-trials", "--study-name", "multi"],
    ],
    ids=lambda args: " ".join(args),
)
def test_table_and_value_output_equals_optunas(args, ours, sqlite_url, capsys, monkeypatch):
    (code_a, out_a, _), (code_b, out_b, err_b) = _both(args, ours, sqlite_url, capsys, monkeypatch)
    assert code_a == code_b == 0, err_b
    if args == ["study-names"]:
        # Optuna lists the names in the storage's order, which is its ids' order.
        assert sorted(out_b.splitlines()) == sorted(out_a.splitlines())
    else:
        assert out_b == out_a
        assert "single" in out_b or "multi" in out_b or args[0].startswith(("trials", "best"))


def test_writing_commands_do_the_same_on_both(
    ours, sqlite_url, redis_url, prefix, capsys, monkeypatch
) -> None:
    steps = [
        ["create-study", "--study-name", "made", "--directions", "minimize", "maximize"],
        ["study", "set-user-attr", "--study-name", "made", "--key", "k", "--value", "v"],
        ["ask", "--study-name", "made", "--search-space", SEARCH_SPACE, "-f", "json"]
        + SEEDED_SAMPLER,
        ["tell", "--study-name", "made", "--trial-number", "0", "--values", "1.5", "2.5"],
        ["ask", "--study-name", "made", "--search-space", SEARCH_SPACE, "-f", "json"]
        + SEEDED_SAMPLER,
        ["tell", "--study-name", "made", "--trial-number", "1", "--state", "fail"],
    ]
    for args in steps:
        (code_a, out_a, _), (code_b, out_b, err_b) = _both(
            args, ours, sqlite_url, capsys, monkeypatch
        )
        assert (code_a, out_a) == (code_b, out_b), (args, err_b)
        assert code_b == 0
    storage = RedisStorage(redis_url, prefix=prefix)
    study = optuna.load_study(study_name="made", storage=storage)
    assert study.user_attrs == {"k": "v"}
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert study.trials[0].values == [1.5, 2.5]
    assert set(study.trials[0].params) == {"x", "n", "c"}
    (code_a, _, _), (code_b, out_b, _) = _both(
        ["delete-study", "--study-name", "made"], ours, sqlite_url, capsys, monkeypatch
    )
    assert code_a == code_b == 0
    assert "made" not in [s.study_name for s in storage.get_all_studies()]


@pytest.mark.parametrize(
    "args",
    [
        ["studies", "-f", "xml"],
        ["tell", "--study-name", "single", "--trial-number", "0", "--values", "1"],
    ],
    ids=["unknown-format", "tell-a-finished-trial"],
)
def test_exit_codes_are_optunas(args, ours, sqlite_url, capsys, monkeypatch) -> None:
    (code_a, _, _), (code_b, _, err) = _both(args, ours, sqlite_url, capsys, monkeypatch)
    assert code_a == code_b
    assert code_b == (2 if "-f" in args else 1)
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("optuna-redis")


def _snapshot(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    return {key: client.dump(key) for key in client.scan_iter(match=f"{prefix}:*")}


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["trials", "--study-name", "nope"], 1, "trials: No such study nope"),
        (["best-trial", "--study-name", "nope"], 1, "best-trial: "),
        (
            ["study", "set-user-attr", "--study-name", "nope", "--key", "k", "--value", "v"],
            1,
            "study set-user-attr: ",
        ),
        (["studies", "--storage", "redis://127.0.0.1:1/0"], 1, "cannot open the storage"),
        (["studies", "--storage", "sqlite:///x.db"], 2, "is not a Redis URL"),
        (["studies", "--storage", "journal+redis://127.0.0.1/0"], 2, "is a JournalRedis URL"),
        (["studies", "--storage", "localhost:6379"], 2, "is not a Redis URL"),
        (["storage", "upgrade"], 1, "run: optuna-redis upgrade --url URL --prefix PREFIX"),
    ],
    ids=[
        "unknown-study",
        "unknown-study-best",
        "unknown-study-attr",
        "redis-down",
        "rdb-url",
        "journal-url",
        "no-scheme",
        "storage-upgrade",
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    args, code, message, ours, redis_client, prefix, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    before = _snapshot(redis_client, prefix)
    storage_args = [] if "--storage" in args else ours
    got, out, err = _run("optuna-redis", [*args, *storage_args], capsys, monkeypatch)
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("optuna-redis: error: "), err
    assert message in lines[0]
    assert out == ""
    assert _snapshot(redis_client, prefix) == before


def test_storage_from_the_environment(ours, capsys, monkeypatch) -> None:
    url, prefix = ours[1], ours[3]
    monkeypatch.setenv("OPTUNA_STORAGE", url)
    code, out, err = _run("optuna-redis", ["study-names", "--prefix", prefix], capsys, monkeypatch)
    assert code == 0, err
    assert sorted(out.split()) == ["multi", "single"]
    monkeypatch.delenv("OPTUNA_STORAGE")
    code, out, err = _run("optuna-redis", ["study-names", "--prefix", prefix], capsys, monkeypatch)
    assert code == 2 and "--storage or $OPTUNA_STORAGE" in err


def test_every_optuna_command_is_in_the_help(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in optuna.cli._COMMANDS:
        assert name in out


def test_a_reader_that_goes_away_is_no_traceback(ours) -> None:
    # ``optuna-redis trials ... | head -n 1``: the pipe closes before the table is written.
    with subprocess.Popen(
        [sys.executable, "-m", "optuna_redis", "trials", "--study-name", "single", *ours],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        process.stdout.close()
        _, err = process.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipeError" not in err, err.decode()
    assert process.returncode == 1
