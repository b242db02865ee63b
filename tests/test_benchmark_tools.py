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
    result = run("call_cost.py", "--calls", "50", "--pace", "0")
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
