"""What one round trip costs, on each side of the socket, and what of it is ours.

Sends each of a few commands N times over one raw socket (hiredis packs and parses: no
redis-py layer) to a private Redis server, and prints for each the client's wall time per
call and the server's CPU per call (``INFO cpu``, user + sys, around the loop):

- ``PING``, and ``GETRANGE`` of a trial record: a round trip's floor;
- ``EVALSHA`` of ``return 1``, with no keys, then with ``set_trial_param``'s 4 keys and 6
  arguments: what running a script costs, and what passing its arguments costs;
- ``EVALSHA`` of our ``set_trial_param.lua`` (two thirds of a trial's storage calls with
  10 params): what our script adds.

``--layer`` also times what our Python layer costs a storage call with the socket taken out:
a ``RedisStorage`` on the same server makes each call once for real, recording its replies;
then its connection's send is a no-op and its read hands back the recorded reply, and each
call is timed N times. That is the client's cost per call above the round trip (the storage
method, its keys and arguments, the codec, the retry wrapper, hiredis's packing), without
redis-py's reply path, which the stub replaces.

``--scripts N`` profiles the server during ``study.optimize``: N trials (RandomSampler,
``_workload.objective``) run once with ``INFO cpu`` around them, then once more with
``SLOWLOG`` logging every command (``slowlog-log-slower-than 0``), and it prints, per script,
the calls a trial and the µs Redis spent executing each (SLOWLOG's duration: the command's
own run, without reading the request or writing the reply). What the server's CPU per trial
holds beyond the sum is the event loop: the wakeups, reading and parsing requests, writing
replies.

``--pace US`` spins that many microseconds between calls, as ``study.optimize`` does between
storage calls (its sampler and Optuna's bookkeeping: about 100 µs a call with
RandomSampler). A server that goes idle between calls pays for every wakeup, so its CPU per
call rises with the pace; a tight loop (``--pace 0``) shows the least a call can cost.

    python benchmarks/call_cost.py [--calls 20000] [--pace 0,100] [--layer] [--scripts N]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time
from typing import Any

import hiredis
import redis

from _workload import RawConnection
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


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="call_cost.py", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000, help="calls of each command")
    parser.add_argument("--pace", default="0,100", help="µs spun between calls, comma-separated")
    parser.add_argument(
        "--layer", action="store_true", help="also time our Python layer per call, no socket"
    )
    parser.add_argument(
        "--scripts", type=int, default=0, metavar="N", help="also profile N optimize trials"
    )
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
        if args.layer:
            layer_cost(server.url, args.calls)
        if args.scripts:
            script_cost(server.url, args.scripts)
    return 0


def script_cost(url: str, trials: int) -> None:
    """Print what each script costs Redis per optimize trial (SLOWLOG at threshold 0)."""
    import hashlib
    import statistics

    import optuna

    from _workload import new_prefix
    from _workload import objective
    from optuna_redis import RedisStorage
    from optuna_redis._scripts import load_sources

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = {
        hashlib.sha1(source.encode()).hexdigest().encode(): name
        for name, source in load_sources().items()
    }
    client = redis.Redis.from_url(url)
    cpu = RedisCpu(url)

    def evalsha_usec() -> int:
        return client.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0)

    # Redis logs the commands a script calls too, after it: 76 entries a trial, and more.
    limit = trials * 120 + 1000

    def optimize(slowlog: bool) -> tuple[float, float, list]:
        storage = RedisStorage(url, prefix=new_prefix())
        sampler = optuna.samplers.RandomSampler(seed=0)
        study = optuna.create_study(storage=storage, sampler=sampler)
        study.optimize(objective, n_trials=3)  # the scripts loaded, the cache warm
        old = client.config_get("slowlog-*")
        if slowlog:
            client.config_set("slowlog-max-len", limit)
            client.config_set("slowlog-log-slower-than", 0)
            client.slowlog_reset()
        try:
            before, scripts_before = cpu.seconds()[0], evalsha_usec()
            study.optimize(objective, n_trials=trials)
            used = (cpu.seconds()[0] - before) / trials * 1e6
            scripts_used = (evalsha_usec() - scripts_before) / trials
            entries = client.slowlog_get(limit) if slowlog else []
        finally:
            client.config_set("slowlog-log-slower-than", old["slowlog-log-slower-than"])
            client.config_set("slowlog-max-len", old["slowlog-max-len"])
        return used, scripts_used, entries

    cpu_us, scripts_us, _ = optimize(slowlog=False)
    _, _, entries = optimize(slowlog=True)
    if len(entries) >= limit:
        raise SystemExit(f"call_cost.py: error: SLOWLOG held only the last {limit} commands")
    scripts: dict[str, list[int]] = {}
    commands: dict[str, list[int]] = {}
    for entry in entries:
        words = entry["command"].split()
        if words[0].upper() == b"EVALSHA":
            scripts.setdefault(names.get(words[1], "another script"), []).append(entry["duration"])
        else:
            name = words[0].decode(errors="replace").upper()
            if name not in ("INFO", "CONFIG", "SLOWLOG", "HELLO", "CLIENT"):
                commands.setdefault(name, []).append(entry["duration"])

    def rows(durations: dict[str, list[int]]) -> None:
        width = max(map(len, durations), default=0)
        for name, seen in sorted(durations.items(), key=lambda kv: -sum(kv[1])):
            print(
                f"    {name:<{width}}  {len(seen) / trials:5.2f} a trial  median "
                f"{statistics.median(seen):5.1f} µs  {sum(seen) / trials:6.1f} µs a trial"
            )

    print(f"--- the server during study.optimize, {trials} trials")
    print(
        f"a run without SLOWLOG: {cpu_us:.0f} µs of CPU a trial for Redis (INFO cpu), of which "
        f"{scripts_us:.0f} µs running scripts (INFO commandstats, EVALSHA's usec); the other "
        f"{cpu_us - scripts_us:.0f} µs is the event loop: wakeups, reading requests, writing "
        "replies"
    )
    print(
        "a run with SLOWLOG at threshold 0 (which logs every command, the scripts' own too, "
        "and so makes each one slower):"
    )
    print("  scripts (EVALSHA), each one's run inside Redis:")
    rows(scripts)
    print("  the commands they call (part of the scripts' times above):")
    rows(commands)
    client.close()
    cpu.close()


def layer_cost(url: str, calls: int) -> None:
    """Print the µs our Python layer spends per storage call, the socket stubbed out."""
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    from optuna_redis import RedisStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = RedisStorage(url, prefix="optuna-redis-call-cost-layer")
    direct = storage._scripts.direct
    if direct is None:
        print("--- our layer: this client has no direct connection; nothing to time")
        return
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], "layer")
    dist = FloatDistribution(-10, 10)
    # Each call once on a trial of its own first: the scripts are loaded and the
    # distribution registered, so the recorded call below makes one round trip.
    warm_up = storage.create_new_trial(study_id)
    storage.set_trial_param(warm_up, "x0", 0.5, dist)
    storage.set_trial_user_attr(warm_up, "seed", 7)
    storage.get_trial(warm_up)
    storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,))
    storage.set_trial_state_values(warm_up, TrialState.COMPLETE, [1.0])
    trial_id = storage.create_new_trial(study_id)
    cases = {
        "set_trial_param, registered distribution": lambda: storage.set_trial_param(
            trial_id, "x0", 0.5, dist
        ),
        "set_trial_user_attr": lambda: storage.set_trial_user_attr(trial_id, "seed", 7),
        "get_trial of a running trial": lambda: storage.get_trial(trial_id),
        "get_all_trials(states=(WAITING,)), warm": lambda: storage.get_all_trials(
            study_id, deepcopy=False, states=(TrialState.WAITING,)
        ),
        "set_trial_state_values(COMPLETE, [1.0])": lambda: storage.set_trial_state_values(
            trial_id, TrialState.COMPLETE, [1.0]
        ),
    }
    conn = direct._connection()
    send, read = conn.send_packed_command, conn.read_response
    width = max(map(len, cases))
    print(f"--- our layer: µs of client time per storage call, the socket stubbed ({calls} calls)")
    for name, call in cases.items():
        replies: list = []

        def recording(*a: Any, replies: list = replies, **k: Any) -> Any:
            reply = read(*a, **k)
            replies.append(reply)
            return reply

        conn.read_response = recording
        call()
        canned = iter(replies * (calls + 1))
        conn.send_packed_command = lambda *a, **k: None
        conn.read_response = lambda *a, canned=canned, **k: next(canned)
        try:
            start = time.perf_counter()
            for _ in range(calls):
                call()
            took = time.perf_counter() - start
        finally:
            conn.send_packed_command, conn.read_response = send, read
        print(f"{name:<{width}}  {took / calls * 1e6:6.2f} µs/call  ({len(replies)} round trip)")


if __name__ == "__main__":
    sys.exit(main())
