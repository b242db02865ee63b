"""``optuna-redis info``: what a key prefix holds (storage format, studies, trial counts by
state, Redis memory per study) and what the server is (version, memory, eviction policy),
as a table or as JSON. It only reads."""

from __future__ import annotations

import argparse
from collections import Counter
import json
import random

import optuna.cli
from optuna.trial import TrialState
import redis

from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import check_redis_url
from optuna_redis._cli._common import one_line
from optuna_redis._cli._common import open_storage
from optuna_redis._cli._common import redact
from optuna_redis._client import client_from_url
from optuna_redis._keys import Keys

# A study with more trials has its memory estimated from this many sampled trial records.
MEMORY_SAMPLE = 1000
_STATES = [s.name for s in TrialState]


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand to ``commands``."""
    info = commands.add_parser(
        "info",
        help="show the studies under a key prefix and the Redis server they live on",
        description=(
            "Show the storage format under a key prefix, its studies with their trial "
            "counts by state and the Redis memory each uses (estimated from "
            f"{MEMORY_SAMPLE} sampled trials for larger studies), and the server's version, "
            "memory and eviction policy. Reads only."
        ),
    )
    info.add_argument("url", metavar="URL", help="Redis URL of the storage")
    info.add_argument("--prefix", default="optuna", help="key prefix (optuna)")
    info.add_argument("-f", "--format", choices=("table", "json"), default="table")
    info.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the info of ``args.prefix`` at ``args.url``."""
    url = check_redis_url(args.url, "URL")
    try:
        keys = Keys(args.prefix)
    except ValueError as e:
        raise CommandError(f"--prefix: {one_line(e)}", 2) from e
    try:
        client = client_from_url(url, {}, deadline=2.0)
        version = client.get(keys.format)
    except (redis.RedisError, ValueError) as e:
        raise CommandError(f"cannot read {redact(url)}: {one_line(e)}") from e
    if version is None:
        # Checked before opening the storage, which would mark an empty prefix as ours.
        raise CommandError(f"no optuna-redis data under prefix {args.prefix!r} at {redact(url)}")
    storage = open_storage(url, args.prefix)
    try:
        report = {
            "prefix": args.prefix,
            "format": version.decode(),
            "server": _server(client),
            "studies": [_study(storage, client, keys, s) for s in storage.get_all_studies()],
        }
    except redis.RedisError as e:
        raise CommandError(f"cannot read {redact(url)}: {one_line(e)}") from e
    finally:
        storage.remove_session()
        client.close()
    print(json.dumps(report, indent=2) if args.format == "json" else _table(report))
    return 0


def _node(client):  # noqa: ANN001, ANN202
    """A client of one server: INFO and CONFIG of a cluster answer per node."""
    if isinstance(client, redis.RedisCluster):
        return client.get_redis_connection(client.get_default_node())
    return client


def _server(client) -> dict:  # noqa: ANN001
    node = _node(client)
    server = node.info("server")
    memory = node.info("memory")
    try:
        policy = node.config_get("maxmemory-policy").get("maxmemory-policy", "unknown")
    except redis.ResponseError:
        # An ACL user without +config (or a managed Redis that renames CONFIG).
        policy = "unknown (CONFIG not allowed)"
    found = {"redis_version": str(server.get("redis_version"))}
    if "valkey_version" in server:
        found["valkey_version"] = str(server["valkey_version"])
    found.update(
        {
            "maxmemory": int(memory.get("maxmemory", 0)),
            "used_memory": int(memory["used_memory"]),
            "maxmemory_policy": policy,
        }
    )
    return found


def _study(storage, client, keys: Keys, study) -> dict:  # noqa: ANN001
    study_id = study._study_id
    trials = storage.get_all_trials(study_id, deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    numbers = [t.number for t in trials]
    sampled = len(numbers) > MEMORY_SAMPLE
    chosen = random.sample(numbers, MEMORY_SAMPLE) if sampled else numbers
    # Every key of a study shares its hash tag: one slot, so one pipeline on a cluster too.
    pipe = client.pipeline(transaction=False)
    for key in keys.study_keys(study_id):
        pipe.memory_usage(key)
    for number in chosen:
        pipe.memory_usage(keys.trial(study_id, number))
    sizes = [s or 0 for s in pipe.execute()]
    n_fixed = len(keys.study_keys(study_id))
    trial_bytes = sum(sizes[n_fixed:])
    if sampled:
        trial_bytes = round(trial_bytes * len(numbers) / len(chosen))
    return {
        "id": study_id,
        "name": study.study_name,
        "directions": [d.name for d in study.directions],
        "n_trials": len(trials),
        "trials": {state: counts.get(state, 0) for state in _STATES},
        "memory_bytes": sum(sizes[:n_fixed]) + trial_bytes,
        "memory_sampled": sampled,
        "memory_sampled_trials": len(chosen) if sampled else None,
    }


def _table(report: dict) -> str:
    server = report["server"]
    head = [
        {"key": "prefix", "value": report["prefix"]},
        {"key": "storage format", "value": report["format"]},
        *({"key": k, "value": v} for k, v in server.items()),
    ]
    rows = [
        {
            "id": s["id"],
            "name": s["name"],
            "directions": ",".join(s["directions"]),
            "n_trials": s["n_trials"],
            **s["trials"],
            "memory": f"{s['memory_bytes']} B"
            + (f" (sampled {s['memory_sampled_trials']} trials)" if s["memory_sampled"] else ""),
        }
        for s in report["studies"]
    ]
    header = ["id", "name", "directions", "n_trials", *_STATES, "memory"]
    studies = optuna.cli._dump_table(rows, header) if rows else "(no studies)\n"
    return optuna.cli._dump_table(head, ["key", "value"]) + studies
