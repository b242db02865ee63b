"""A throwaway local Redis Cluster (masters only) and live slot migration, for the tests.

The cluster is formed with redis-py alone (``CLUSTER ADDSLOTS`` / ``CLUSTER MEET``), so
``redis-cli`` need not be installed; the servers are ``find_server()``'s (Redis 6.2 or newer,
or Valkey).
"""

from __future__ import annotations

from collections.abc import Iterable
import shutil
import socket
import subprocess
import tempfile
import time

import redis
from redis.cluster import RedisCluster
from redis.cluster import key_slot

from optuna_redis._local_redis import free_port
from optuna_redis._local_redis import server_binary

__all__ = [
    "LocalRedisCluster",
    "SlotMigration",
    "migrate_slot",
    "owner_port",
    "slot_of",
]

HOST = "127.0.0.1"
N_SLOTS = 16384
BUS_PORT_OFFSET = 10000


class LocalRedisCluster:
    """``n`` ``redis-server`` cluster masters on free loopback ports, each in its own temp dir.

    Started and formed on construction; ``stop()`` (or leaving a ``with`` block) kills the
    servers and removes their dirs. The slots are split evenly, in port order.

    Example::

        with LocalRedisCluster() as cluster:
            client = cluster.client()
            client.set("{7}:a", b"1")
    """

    def __init__(
        self, n: int = 3, *extra_args: str, timeout: float = 20.0, dir_prefix: str = "optuna-rc-"
    ) -> None:
        if n < 1:
            raise ValueError(f"a cluster needs at least one master, got n={n}.")
        self._binary = server_binary().path
        self._extra_args = extra_args
        self._dir_prefix = dir_prefix
        self.processes: list[subprocess.Popen] = []
        self.dirs: list[str] = []
        self.ports: list[int] = []
        try:
            self._start(n)
            self._form(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_nodes = [(HOST, port) for port in self.ports]
        self.url = f"redis://{HOST}:{self.ports[0]}/0"

    def _start(self, n: int) -> None:
        taken: set[int] = set()
        for _ in range(n):
            # A port can be grabbed between picking and binding it: retry with fresh ones.
            for _attempt in range(5):
                port = _free_cluster_port(taken)
                if self._start_node(port):
                    taken.update((port, port + BUS_PORT_OFFSET))
                    break
            else:
                raise RuntimeError("could not start a redis-server cluster node on a free port")

    def _start_node(self, port: int) -> bool:
        node_dir = tempfile.mkdtemp(prefix=f"{self._dir_prefix}{port}-")
        args = [self._binary, "--port", str(port), "--bind", HOST]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
        args += ["--cluster-node-timeout", "2000", "--save", "", "--appendonly", "no"]
        args += ["--dir", node_dir, *self._extra_args]
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd=node_dir
        )
        client = redis.Redis(host=HOST, port=port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        _kill(process)
                        shutil.rmtree(node_dir, ignore_errors=True)
                        return False
                    time.sleep(0.02)
        finally:
            client.close()
        self.processes.append(process)
        self.dirs.append(node_dir)
        self.ports.append(port)
        return True

    def _form(self, timeout: float) -> None:
        n = len(self.ports)
        bounds = [i * N_SLOTS // n for i in range(n + 1)]
        for i, port in enumerate(self.ports):
            with self.node(port) as node:
                # Distinct epochs up front, as redis-cli does, so no collision round is needed.
                node.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
                # (ADDSLOTS, not Redis 7.0's ADDSLOTSRANGE, so that Redis 6.2 forms one too.)
                node.execute_command("CLUSTER", "ADDSLOTS", *range(bounds[i], bounds[i + 1]))
        with self.node(self.ports[0]) as first:
            for port in self.ports[1:]:
                first.execute_command("CLUSTER", "MEET", HOST, port)
        self.wait_stable(timeout)

    def wait_stable(self, timeout: float = 20.0) -> None:
        """Wait until every node reports ``cluster_state:ok``, all nodes and all slots.

        Raises:
            RuntimeError: if the cluster is not stable within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        want = {
            "cluster_state": "ok",
            "cluster_slots_assigned": str(N_SLOTS),
            "cluster_slots_ok": str(N_SLOTS),
            "cluster_known_nodes": str(len(self.ports)),
        }
        while True:
            bad = {}
            for port in self.ports:
                with self.node(port) as node:
                    info = node.execute_command("CLUSTER", "INFO")
                info = _parse_info(info)
                got = {k: info.get(k) for k in want}
                if got != want:
                    bad[port] = got
            if not bad:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"local Redis Cluster on ports {self.ports} not stable after {timeout} s; "
                    f"nodes that disagree with {want}: {bad}"
                )
            time.sleep(0.05)

    def node(self, port: int) -> redis.Redis:
        """A plain (non-cluster) client on one node; close it (or use it in ``with``)."""
        return redis.Redis(host=HOST, port=port)

    def node_id(self, port: int) -> str:
        with self.node(port) as node:
            return _text(node.execute_command("CLUSTER", "MYID"))

    def client(self, **kwargs) -> RedisCluster:
        """A ``RedisCluster`` on the first node (bytes replies); extra kwargs go to it."""
        return RedisCluster(host=HOST, port=self.ports[0], **kwargs)

    def stop(self) -> None:
        for process in self.processes:
            _kill(process)
        for node_dir in self.dirs:
            shutil.rmtree(node_dir, ignore_errors=True)

    def __enter__(self) -> LocalRedisCluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def slot_of(key: str | bytes) -> int:
    """The cluster hash slot of ``key`` (hash tags honoured)."""
    return key_slot(key.encode() if isinstance(key, str) else key)


def owner_port(cluster: LocalRedisCluster, slot: int) -> int:
    """The port of the master that serves ``slot`` by its own account.

    Raises:
        RuntimeError: if no master, or more than one, claims the slot.
    """
    owners = [port for port in cluster.ports if slot in _own_slots(cluster, port)]
    if len(owners) != 1:
        raise RuntimeError(f"slot {slot} is claimed by {len(owners)} masters: {owners}")
    return owners[0]


class SlotMigration:
    """One slot moving to another master, step by step, as ``redis-cli --cluster reshard`` does.

    ``open()`` marks the slot importing on the target and migrating on the source;
    ``move_keys()`` / ``move_batch()`` MIGRATE keys; ``finish()`` hands the slot to the
    target on every master. Between ``open()`` and ``finish()`` clients see ASK redirects for
    keys already moved, and TRYAGAIN for multi-key commands whose keys are split.
    """

    def __init__(self, cluster: LocalRedisCluster, slot: int, target_port: int) -> None:
        self.cluster = cluster
        self.slot = slot
        self.source_port = owner_port(cluster, slot)
        self.target_port = target_port
        if target_port not in cluster.ports:
            raise ValueError(f"no master on port {target_port}; masters: {cluster.ports}")
        if target_port == self.source_port:
            raise ValueError(f"slot {slot} is already on port {target_port}")
        self.source_id = cluster.node_id(self.source_port)
        self.target_id = cluster.node_id(target_port)
        self.moved = 0

    def open(self) -> None:
        with self.cluster.node(self.target_port) as target:
            target.execute_command("CLUSTER", "SETSLOT", self.slot, "IMPORTING", self.source_id)
        with self.cluster.node(self.source_port) as source:
            source.execute_command("CLUSTER", "SETSLOT", self.slot, "MIGRATING", self.target_id)

    def move_keys(self, keys: Iterable[str | bytes]) -> int:
        """MIGRATE these keys (all in the slot) from source to target; return how many."""
        keys = list(keys)
        if keys:
            with self.cluster.node(self.source_port) as source:
                reply = source.execute_command(
                    "MIGRATE", HOST, self.target_port, "", 0, 5000, "KEYS", *keys
                )
            # NOKEY means none of them existed (any more): nothing moved.
            if _text(reply) == "NOKEY":
                return 0
        self.moved += len(keys)
        return len(keys)

    def move_batch(self, count: int = 100) -> int:
        """MIGRATE up to ``count`` keys still in the slot on the source; return how many."""
        with self.cluster.node(self.source_port) as source:
            keys = source.execute_command("CLUSTER", "GETKEYSINSLOT", self.slot, count)
        return self.move_keys(keys)

    def finish(self) -> None:
        others = [p for p in self.cluster.ports if p not in (self.source_port, self.target_port)]
        # Target first (it bumps its epoch and owns the slot), then the source, then the rest.
        for port in [self.target_port, self.source_port, *others]:
            with self.cluster.node(port) as node:
                node.execute_command("CLUSTER", "SETSLOT", self.slot, "NODE", self.target_id)


def migrate_slot(
    cluster: LocalRedisCluster,
    slot: int,
    target_port: int,
    *,
    pause: float = 0.0,
    batch: int = 100,
) -> int:
    """Move ``slot`` with its keys to the master on ``target_port``, under live traffic.

    Args:
        cluster: The cluster.
        slot: The hash slot to move.
        target_port: Port of the master that receives it.
        pause: Seconds to sleep after opening the slot and after each batch, to keep the slot
            mid-migration for a while.
        batch: Keys per ``CLUSTER GETKEYSINSLOT`` / ``MIGRATE`` round.

    Returns:
        The number of keys moved.
    """
    migration = SlotMigration(cluster, slot, target_port)
    migration.open()
    if pause:
        time.sleep(pause)
    while migration.move_batch(batch):
        if pause:
            time.sleep(pause)
    migration.finish()
    return migration.moved


def _own_slots(cluster: LocalRedisCluster, port: int) -> set[int]:
    with cluster.node(port) as node:
        nodes = _text(node.execute_command("CLUSTER", "NODES"))
    for line in nodes.splitlines():
        fields = line.split()
        if "myself" in fields[2].split(","):
            slots: set[int] = set()
            # Fields 8+ are slots and ranges; "[slot->-id]" / "[slot-<-id]" are open migrations.
            for item in fields[8:]:
                if item.startswith("["):
                    continue
                lo, _, hi = item.partition("-")
                slots.update(range(int(lo), int(hi or lo) + 1))
            return slots
    raise RuntimeError(f"CLUSTER NODES on port {port} has no 'myself' line")


def _free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free too, avoiding ``taken``."""
    for _ in range(200):
        port = free_port()
        bus = port + BUS_PORT_OFFSET
        if bus > 65535 or port in taken or bus in taken:
            continue
        if _is_free(bus):
            return port
    raise RuntimeError("no free loopback port with a free cluster bus port (+10000)")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _parse_info(raw: object) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    pairs = (line.partition(":") for line in _text(raw).splitlines() if ":" in line)
    return {k.strip(): v.strip() for k, _, v in pairs}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
