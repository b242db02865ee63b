"""A private ``redis-server`` that a test can kill and start again on the same port and dir,
with every write fsynced to its append-only file before Redis replies."""

from __future__ import annotations

from pathlib import Path
import subprocess
import time
from typing import Any

import pytest
import redis

from _redis_server import free_port
from optuna_redis._local_redis import find_server


class RestartableRedis:
    """A private ``redis-server`` that can be killed and started again on its port and dir.

    Every write is appended to the AOF and fsynced before Redis replies (``appendfsync
    always``), and there are no RDB snapshots, so a restart reloads exactly the writes that
    were acknowledged, and maybe a few whose reply the kill cut off.
    """

    def __init__(self, directory: Path) -> None:
        found = find_server()
        if found is None:
            pytest.skip("no Redis server binary (see optuna_redis._local_redis.find_server)")
        binary = found.path
        directory.mkdir()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = [binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        self.args += ["--dir", str(directory), "--logfile", str(directory / "redis.log")]
        self.args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        # Events of 100 ms or more (an fsync, a command) are recorded, for latency_report().
        self.args += ["--latency-monitor-threshold", "100"]
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.start()

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self.starts += 1
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()  # LOADING (a BusyLoadingError) is a ConnectionError too
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.kill()
                        log = (self.directory / "redis.log").read_text(errors="replace")
                        raise RuntimeError(
                            f"redis-server did not start on port {self.port}:\n{log[-2000:]}"
                        ) from None
                    time.sleep(0.01)
        finally:
            client.close()

    def latency_report(self) -> str:
        """What the running server's latency monitor recorded (``LATENCY LATEST``): a test
        that failed after a restart shows here whether the server itself stalled."""
        try:
            with redis.Redis(port=self.port, socket_timeout=2) as client:
                events = client.execute_command("LATENCY", "LATEST")
        except redis.RedisError as e:
            return f"latency monitor unavailable: {e!r}"
        if not events:
            return "no server event of 100 ms or more since the last start"
        # (Valkey adds fields after the four of Redis: the sum and the count.)
        return "; ".join(
            f"{_text(name)}: last {latest} ms, max {worst} ms"
            for name, _, latest, worst, *_ in events
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final AOF rewrite; only what is on disk survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
