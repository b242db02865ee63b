"""A throwaway ``redis-server`` on a free loopback port, for the demo and the tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time

import redis


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
    """``redis-server`` from PATH on a free loopback port in a temp dir, keeping nothing on disk.

    Started on construction; ``stop()`` (or leaving a ``with`` block) stops it and removes
    its dir. Extra arguments go to ``redis-server``.
    """

    def __init__(self, *extra_args: str, dir_prefix: str = "optuna-redis-") -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "redis-server is not on PATH: install it (e.g. `apt-get install redis-server` "
                "or `brew install redis`)."
            )
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
                            f"redis-server did not start on port {self.port}"
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
