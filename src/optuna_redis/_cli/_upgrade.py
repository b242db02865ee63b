"""``optuna-redis upgrade``: mark the data under a key prefix as this version's storage
format, and ``optuna-redis storage upgrade``, Optuna's RDB schema command, which has no
meaning here and says what to run instead."""

from __future__ import annotations

import argparse
import os

import redis

from optuna_redis._cli._common import URL_ENV
from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import check_redis_url
from optuna_redis._cli._common import one_line
from optuna_redis._cli._common import redact
from optuna_redis._client import client_from_url
from optuna_redis._client import upgrade_format
from optuna_redis._errors import IncompatibleFormatError
from optuna_redis._keys import FORMAT_VERSION
from optuna_redis._keys import UPGRADABLE_FORMATS
from optuna_redis._keys import Keys


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``upgrade`` subcommand to ``commands``."""
    upgrade = commands.add_parser(
        "upgrade",
        help="upgrade the data under a key prefix to this version's storage format",
        description=(
            "Mark the data under a key prefix as this version's storage format, "
            f"{FORMAT_VERSION}, so this version's workers may use it. The records stay as "
            "they are (this version reads the old ones); workers of older versions refuse "
            "the prefix from then on, so stop them first. Upgrades from: "
            + "; ".join(f"{k}: {v}" for k, v in UPGRADABLE_FORMATS.items())
            + "."
        ),
    )
    upgrade.add_argument("--url", help=f"Redis URL (default: ${URL_ENV})")
    upgrade.add_argument("--prefix", default="optuna", help="key prefix (optuna)")
    upgrade.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Upgrade the format under ``args.prefix``; 0 when it is (now) this version's."""
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise CommandError(f"give the Redis URL with --url or ${URL_ENV}", 2)
    check_redis_url(url, "--url")
    keys = Keys(args.prefix)
    try:
        client = client_from_url(url, {}, deadline=5.0)
        old = upgrade_format(client, keys)
    except (IncompatibleFormatError, redis.RedisError, ValueError) as e:
        raise CommandError(
            f"cannot upgrade {args.prefix!r} at {redact(url)}: {one_line(e)}"
        ) from e
    if old is None:
        raise CommandError(
            f"no optuna-redis data under prefix {args.prefix!r} (no key {keys.format!r}): "
            "nothing to upgrade"
        )
    if old == FORMAT_VERSION:
        print(f"Prefix {args.prefix!r} is already at storage format {FORMAT_VERSION}.")
    else:
        print(
            f"Upgraded prefix {args.prefix!r} from storage format {old} to {FORMAT_VERSION}; "
            "the records are unchanged."
        )
    return 0


def storage_upgrade(args: argparse.Namespace) -> int:
    """Optuna's ``storage upgrade`` upgrades an RDB schema; we have none."""
    raise CommandError(
        "'storage upgrade' upgrades an RDB schema, which Redis has none of; to upgrade the "
        "storage format under a prefix, run: optuna-redis upgrade --url URL --prefix PREFIX"
    )
