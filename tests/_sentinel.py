"""A throwaway local master, one replica and one Sentinel, for the failover tests.

Every process listens on a free loopback port and keeps nothing on disk (``--save ''``,
``--appendonly no``); only the Sentinel's own config file, which Sentinel rewrites, lives in
a temp dir. ``redis-server`` 7.0 or newer must be on PATH (Sentinel is ``redis-server
<conf> --sentinel``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from typing import Any

import redis

from optuna_redis._local_redis import LocalRedisServer
from optuna_redis._local_redis import free_port
from optuna_redis._local_redis import server_binary
from optuna_redis._local_redis import terminate

__all__ = ["HOST", "SERVICE", "LocalSentinel"]

HOST = "127.0.0.1"
SERVICE = "mymaster"
NO_DISK = ("--save", "", "--appendonly", "no")
FAST_SYNC = ("--repl-diskless-sync-delay", "0")
# The key the fixture writes to check that a replica acknowledges writes.
PROBE_KEY = "local-sentinel:probe"


def _wait(condition: Any, what: str, timeout: float, pause: float = 0.05) -> Any:
    """Poll ``condition()`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            result = condition()
        except redis.RedisError as e:
            result, last_error = None, e
        if result:
            return result
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error is not None else ""
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        time.sleep(pause)


def role(port: int) -> str:
    """``master`` or ``slave``, as the server at ``port`` reports it."""
    with redis.Redis(HOST, port, socket_timeout=2) as client:
        return str(client.info("replication")["role"])


def link_up(port: int) -> bool:
    """Whether the replica at ``port`` is connected to its master and in sync."""
    with redis.Redis(HOST, port, socket_timeout=2) as client:
        info = client.info("replication")
    return info.get("role") == "slave" and info.get("master_link_status") == "up"


def acknowledges(port: int) -> bool:
    """Whether the replica at ``port`` acknowledges its master's writes (a write and ``WAIT``).

    A replica reports ``master_link_status:up`` as soon as a full sync ends, but its master
    streams writes to it only from its first ``REPLCONF ACK``, up to a second later: until
    then ``WAIT`` times out.
    """
    with redis.Redis(HOST, port, socket_timeout=2) as replica:
        master_port = int(replica.info("replication")["master_port"])
    with redis.Redis(HOST, master_port, socket_timeout=2) as master:
        master.set(PROBE_KEY, port)
        return int(master.execute_command("WAIT", 1, 100)) >= 1


class LocalSentinel:
    """A master, a replica of it, and a Sentinel monitoring them as ``mymaster``.

    Started on construction, and ready when it returns: the replica is in sync and the
    Sentinel sees it as a healthy replica (so ``SENTINEL FAILOVER`` can pick it).
    ``master_port`` / ``replica_port`` name the ORIGINAL roles and do not change;
    ``current_master()`` asks the Sentinel. ``stop()`` (or leaving a ``with`` block) stops
    all three.
    """

    def __init__(self, *extra_args: str, sentinel: bool = True) -> None:
        """``extra_args`` go to both data servers (e.g. ``--min-replicas-to-write 1``);
        ``sentinel=False`` starts only the master and its replica."""
        self.binary = server_binary().path  # the Sentinel runs on the same binary
        self.servers: list[LocalRedisServer] = []
        self.sentinel_process: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="optuna-redis-sentinel-")
        try:
            # No 5 s wait before a full sync (the default for diskless replication).
            master = LocalRedisServer(*FAST_SYNC, *extra_args, dir_prefix="optuna-redis-master-")
            self.servers.append(master)
            replica = LocalRedisServer(
                "--replicaof",
                HOST,
                str(master.port),
                *FAST_SYNC,
                *extra_args,
                dir_prefix="optuna-redis-replica-",
            )
            self.servers.append(replica)
            self.master_port = master.port
            self.replica_port = replica.port
            self.wait_demoted(self.replica_port, 20)
            self.sentinel_port = free_port()
            if not sentinel:
                return
            self._start_sentinel()
            _wait(
                lambda: self._sentinel_sees_replica(self.replica_port),
                "the Sentinel to see the replica",
                20,
            )
        except BaseException:
            self.stop()
            raise

    def _start_sentinel(self) -> None:
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(
                f"port {self.sentinel_port}\n"
                f"bind {HOST}\n"
                f"dir {self.dir}\n"
                f"sentinel monitor {SERVICE} {HOST} {self.master_port} 1\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 5000\n"
            )
        self.sentinel_process = subprocess.Popen(
            [self.binary, conf, "--sentinel", *NO_DISK],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
        )

    def sentinel(self) -> redis.Redis:
        """A plain client of the Sentinel process (for SENTINEL commands)."""
        return redis.Redis(HOST, self.sentinel_port, socket_timeout=2)

    def _sentinel_sees_replica(self, port: int) -> bool:
        if self.sentinel_process is not None and self.sentinel_process.poll() is not None:
            raise RuntimeError("the Sentinel process exited")
        with self.sentinel() as client:
            replicas = client.sentinel_slaves(SERVICE)
        for r in replicas:
            if (
                r["port"] == port
                and not r["is_sdown"]
                and not r["is_disconnected"]
                and r.get("master-link-status") == "ok"
            ):
                return True
        return False

    def current_master(self) -> tuple[str, int]:
        """The master's address, as the Sentinel names it."""
        with self.sentinel() as client:
            host, port = client.sentinel_get_master_addr_by_name(SERVICE)
        return host.decode() if isinstance(host, bytes) else str(host), int(port)

    def other(self, port: int) -> int:
        """The port of the server that is not at ``port``."""
        return self.replica_port if port == self.master_port else self.master_port

    def settle(self, timeout: float = 30.0) -> tuple[int, int]:
        """Wait until the master the Sentinel names has the other server as an in-sync
        replica that the Sentinel sees as healthy; return (master port, replica port).

        After ``failover()`` this covers the Sentinel demoting the former master, which it
        does some seconds later (``+convert-to-slave``).
        """
        _, master = self.current_master()
        replica = self.other(master)
        self.wait_demoted(replica, timeout)
        _wait(
            lambda: self._sentinel_sees_replica(replica),
            f"the Sentinel to see port {replica} as a replica",
            timeout,
        )
        return master, replica

    def failover(self, timeout: float = 20.0) -> int:
        """Fail over to the other server; return the new master's port.

        Sends ``SENTINEL FAILOVER`` (retried while the Sentinel answers NOGOODSLAVE, e.g. its
        view of the replica is not fresh yet), then waits until the Sentinel names the
        former replica as master and that server reports ``role:master``. The former master
        is still a master at that point, and clients connected to it keep writing to it: the
        Sentinel demotes it (and closes its clients' connections) only some seconds later,
        about 10 s here (see ``settle``).
        """
        _, old = self.current_master()
        new = self.other(old)

        def ask() -> bool:
            with self.sentinel() as client:
                try:
                    client.execute_command("SENTINEL FAILOVER", SERVICE)
                except redis.ResponseError as e:
                    if "INPROG" in str(e):  # already started by an earlier attempt
                        return True
                    raise
            return True

        _wait(ask, "SENTINEL FAILOVER to be accepted", timeout, pause=0.2)
        _wait(
            lambda: self.current_master()[1] == new and role(new) == "master",
            f"port {new} to become the master",
            timeout,
        )
        return new

    def wait_demoted(self, port: int, timeout: float = 30.0) -> None:
        """Wait until the server at ``port`` is a replica in sync with its master, and
        acknowledges its writes."""
        _wait(lambda: link_up(port), f"port {port} to become an in-sync replica", timeout)
        _wait(lambda: acknowledges(port), f"port {port} to acknowledge writes", timeout)

    def stop(self) -> None:
        if self.sentinel_process is not None:
            terminate(self.sentinel_process)
        for server in reversed(self.servers):
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalSentinel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
