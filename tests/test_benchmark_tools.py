"""The benchmark tools of issue 14 run and report what they say: ``server_cost.py run`` (one
measurement, as ``ab.py`` runs it in each venv) and ``call_cost.py``, on the test server."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=BENCHMARKS.parent,
    )


def test_server_cost_run_prints_one_measurement(redis_url: str) -> None:
    if redis_url.startswith("redis+cluster://"):
        pytest.skip("INFO cpu of one cluster node is not the server's cost")
    result = run(
        "server_cost.py", "run", "--backend", "ours", "--workers", "2", "--trials", "21",
        "--url", redis_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    got = json.loads(line)
    assert (got["backend"], got["workers"], got["trials"], got["complete"]) == ("ours", 2, 21, 21)
    assert got["trials_per_s"] > 0 and got["server_cpu_us_per_trial"] > 0
    assert got["optuna_redis_version"]["extensions"] in (True, False)


def test_server_cost_run_names_a_bad_url() -> None:
    result = run(
        "server_cost.py", "run", "--backend", "ours", "--workers", "1", "--trials", "1",
        "--url", "redis://127.0.0.1:1/0",
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()  # one line, at once: not 30 s of retries
    assert line.startswith("server_cost: error: cannot reach Redis at redis://127.0.0.1:1/0")


def test_call_cost_reports_each_command() -> None:
    result = run("call_cost.py", "--calls", "50", "--pace", "0", "--layer", "--scripts", "20")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "server CPU" in line]
    names = [line.split("  client wall")[0].strip() for line in lines]
    assert names == [
        "PING",
        "GETRANGE of a record",
        "EVALSHA 'return 1', no keys",
        "EVALSHA 'return 1', 4 keys + 6 args",
        "EVALSHA set_trial_param.lua",
    ]
    # Our layer, the socket stubbed: each storage call timed, each one round trip.
    layer = result.stdout.split("--- our layer:")[1].splitlines()[1:]
    layer = layer[: layer.index(next(line for line in layer if line.startswith("---")))]
    assert [line.split("  ")[0] for line in layer] == [
        "set_trial_param, registered distribution",
        "set_trial_user_attr",
        "get_trial of a running trial",
        "get_all_trials(states=(WAITING,)), warm",
        "set_trial_state_values(COMPLETE, [1.0])",
    ]
    for line in layer:
        assert line.endswith("µs/call  (1 round trip)"), line
        assert float(line.split()[-5]) > 0, line
    # The server's profile: each script of a trial, as often as a trial calls it.
    profile = result.stdout.split("--- the server during study.optimize, 20 trials")[1]
    per_trial = {
        line.split()[0]: float(line.split()[1])
        for line in profile.splitlines()
        if line.startswith("    ")
    }
    assert per_trial["append_trial"] == 10.0  # 10 params a trial, 3 warm-up trials apart
    for script in ("create_trial", "set_trial_state", "sync_trials"):
        assert per_trial[script] == 1.0, (script, per_trial)
    assert per_trial["get_trial"] == 2.0
    assert "µs running scripts (INFO commandstats" in profile


def test_the_contract_floor_makes_one_round_trip_a_storage_call_as_ours_does() -> None:
    """``_workload.ContractFloor`` (``ab.py --b floor``) sends one PING per storage call, and
    under ``study.optimize`` that is as many round trips as ours makes: it is the floor of
    the same calls, not of fewer or more."""
    import optuna
    import redis

    sys.path.insert(0, str(BENCHMARKS))
    try:
        import _workload as w
    finally:
        sys.path.remove(str(BENCHMARKS))
    from optuna_redis._local_redis import LocalRedisServer

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with LocalRedisServer(dir_prefix="optuna-redis-test-floor-") as server:
        client = redis.Redis.from_url(server.url)
        sends = {}
        for backend in ("floor", "ours"):
            storage = w.storage_for(backend, server.url, w.new_prefix())
            sampler = optuna.samplers.RandomSampler(seed=0)
            study = optuna.create_study(storage=storage, sampler=sampler)
            study.optimize(w.objective, n_trials=2)  # connections, scripts, the cold load
            pings = client.info("commandstats").get("cmdstat_ping", {}).get("calls", 0)
            floor_before = getattr(storage, "round_trips", 0)
            with w.round_trips() as sent:
                study.optimize(w.objective, n_trials=10)
            if backend == "floor":
                sends["floor"] = storage.round_trips - floor_before
                assert sent[0] == 0  # no redis-py call: the raw socket only
                after = client.info("commandstats")["cmdstat_ping"]["calls"]
                assert after - pings == sends["floor"]  # each one reached the server
            else:
                sends["ours"] = sent[0]
        client.close()
    # 10 trials of 10 params: ask, create, get_trial twice, 10 params, the finish. Ours also
    # sends redis-py's 4-command handshake once, after optimize's remove_session.
    assert sends["floor"] == 150
    assert sends["ours"] == sends["floor"] + 4
