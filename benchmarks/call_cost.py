"""What one round trip costs, on each side of the socket, and what of it is ours.

Sends each of a few commands N times over one raw socket (hiredis packs and parses: no
redis-py layer) to a private Redis server, and prints for each the client's wall time per
call and the server's CPU per call (``INFO cpu``, user + sys, around the loop):

- ``PING``, and ``GETRANGE`` of a trial record: a round trip's floor;
- ``EVALSHA`` of ``return 1``, with no keys, then with ``set_trial_param``'s 4 keys and 6
  arguments: what running a script costs, and what passing its arguments costs;
- ``EVALSHA`` of our ``set_trial_param.lua`` (two thirds of a trial's storage calls with
  10 params): what our script adds.

``--pace US`` spins that many microseconds between calls, as ``study.optimize`` does between
storage calls (its sampler and Optuna's bookkeeping: about 100 µs a call with
RandomSampler). A server that goes idle between calls pays for every wakeup, so its CPU per
call rises with the pace; a tight loop (``--pace 0``) shows the least a call can cost.

    python benchmarks/call_cost.py [--calls 20000] [--pace 0,100]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import socket
import sys
import time
from typing import Any

import hiredis
import redis

from optuna_redis._local_redis import LocalRedisServer
from optuna_redis._local_redis import server_binary
from optuna_redis._local_redis import server_version
from server_cost import RedisCpu

SCRIPTS = Path(__file__).resolve().parents[1] / "src" / "optuna_redis" / "_scripts"
# set_trial_param's keys and arguments, at their usual sizes (workload W's names).
TAG = "{optuna-redis-bench-0123abcd:7}"
KEYS = [f"optuna-redis-bench:s:{TAG}:{part}" for part in ("meta", "changes", "dists", "t:12")]
DIST = (
    '{"name": "FloatDistribution", "attributes": '
    '{"step": null, "low": -10.0, "high": 10.0, "log": false}}'
)
ARGS = ["12", "x3", DIST, "p\x00\x02x3" + "a" * 10, "P" + "b" * 120, ""]


class RawConnection:
    """One socket, commands packed by hiredis and replies parsed by its Reader."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def call(self, packed: bytes) -> Any:
        self.sock.sendall(packed)
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            self.reader.feed(self.sock.recv(65536))


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="call_cost.py", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls of each command")
    parser.add_argument("--pace", default="0,100", help="µs spun between calls, comma-separated")
    args = parser.parse_args(argv)
    paces = [float(p) for p in args.pace.split(",")]
    binary = server_binary()
    print(f"{args.calls} calls each, on a private {server_version(binary.path)} ({binary.origin})")
    with LocalRedisServer(dir_prefix="optuna-redis-call-cost-") as server:
        client = redis.Redis.from_url(server.url)
        cpu = RedisCpu(server.url)
        host, port = server.url.split("//")[1].split("/")[0].rsplit(":", 1)
        conn = RawConnection(host, int(port))
        return_1 = client.script_load("return 1")
        prelude = (SCRIPTS / "_prelude.lua").read_text()
        set_param = client.script_load(prelude + (SCRIPTS / "set_trial_param.lua").read_text())

        def reset() -> None:
            client.hset(KEYS[0], mapping={"n": 13, "seq": 1})
            client.delete(KEYS[1], KEYS[2])
            client.set(KEYS[3], "0" + "z" * 200)

        commands = {
            "PING": ["PING"],
            "GETRANGE of a record": ["GETRANGE", KEYS[3], 0, 0],
            "EVALSHA 'return 1', no keys": ["EVALSHA", return_1, 0],
            "EVALSHA 'return 1', 4 keys + 6 args": ["EVALSHA", return_1, 4, *KEYS, *ARGS],
            "EVALSHA set_trial_param.lua": ["EVALSHA", set_param, 4, *KEYS, *ARGS],
        }
        width = max(map(len, commands))
        for pace in paces:
            print(f"--- {pace:g} µs spun between calls")
            for name, command in commands.items():
                packed = hiredis.pack_command(tuple(command))
                reset()
                for _ in range(200):
                    conn.call(packed)
                before, _ = cpu.seconds()
                wall = 0.0
                for _ in range(args.calls):
                    start = time.perf_counter()
                    conn.call(packed)
                    wall += time.perf_counter() - start
                    if pace:
                        spin(pace / 1e6)
                used = cpu.seconds()[0] - before
                print(
                    f"{name:<{width}}  client wall {wall / args.calls * 1e6:6.1f} µs/call"
                    f"   server CPU {used / args.calls * 1e6:6.1f} µs/call"
                )
        reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
