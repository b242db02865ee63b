"""``optuna-redis import-legacy URL``: copy the studies that Optuna 1.4–3.0's pickling
``RedisStorage`` left at URL into our storage, reading its pickles through the allowlisting
unpickler (``_legacy_pickle.py``), so a record that names anything but Optuna's own
classes is refused, by key, and nothing of it runs.

Every selected study is read and decoded before anything is written, and ``copy_studies``
(the copy of ``optuna-redis copy``: bulk writes, a progress bar, a digest check at the end)
refuses an existing target study before its first write, so a bad record or a name clash
leaves the target as it was. The legacy data is never written.
"""

from __future__ import annotations

import argparse
from collections import Counter
import urllib.parse

import optuna
from optuna.trial import TrialState
import redis

from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import add_target_options
from optuna_redis._cli._common import check_redis_url
from optuna_redis._cli._common import on_incomplete
from optuna_redis._cli._common import one_line
from optuna_redis._cli._common import open_storage
from optuna_redis._cli._common import redact
from optuna_redis._copy import CopyError
from optuna_redis._copy import copy_studies
from optuna_redis._legacy import STUDY_LIST
from optuna_redis._legacy import LegacyRedisStorage
from optuna_redis._legacy import NotALegacyStoreError
from optuna_redis._legacy_pickle import LegacyRecordError

# The legacy storage opened its URL with ``redis.Redis.from_url``: no cluster.
_LEGACY_SCHEMES = ("redis", "rediss", "unix")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``import-legacy`` subcommand to ``commands``."""
    parser = commands.add_parser(
        "import-legacy",
        help="copy the studies of Optuna 1.4-3.0's pickling RedisStorage into ours",
        description=(
            "Copy the studies that Optuna 1.4-3.0's optuna.storages.RedisStorage wrote at URL "
            "(pickled records, keys without a prefix) into optuna-redis. The pickles are read "
            "by an unpickler that builds only Optuna's trial, study, enum and distribution "
            "classes and datetime: a record naming anything else is refused, naming its key, "
            "and none of its code runs. The legacy data is not written."
        ),
    )
    parser.add_argument("url", metavar="URL", help="the legacy RedisStorage URL (with its db)")
    parser.add_argument("--to", help="the target Redis URL (default: URL)")
    parser.add_argument("--to-prefix", default="optuna", help="the target key prefix (optuna)")
    parser.add_argument(
        "--study",
        action="append",
        metavar="NAME",
        help="import only this study (repeatable; default: every study)",
    )
    add_target_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Import the legacy studies; 0 when every selected study was imported or skipped."""
    url = _check_legacy_url(args.url)
    target_url = check_redis_url(args.to or args.url, "--to")
    legacy = _open_legacy(url)
    studies = legacy.get_all_studies()
    if args.study:
        known = {s.study_name for s in studies}
        missing = [n for n in args.study if n not in known]
        if missing:
            raise CommandError(
                f"no legacy study named {missing[0]!r} at {redact(url)} "
                f"(it has: {', '.join(sorted(known)) or 'none'})"
            )
        studies = [s for s in studies if s.study_name in set(args.study)]
    if not studies:
        print(f"No legacy studies at {redact(url)}: nothing to import.")
        return 0
    # Decode every record first: a refused or broken one fails before the first write.
    try:
        trials = {s._study_id: legacy.get_all_trials(s._study_id, deepcopy=False) for s in studies}
    except LegacyRecordError as e:
        raise CommandError(str(e)) from e
    except redis.RedisError as e:
        raise CommandError(
            f"cannot read the legacy storage at {redact(url)}: {one_line(e)}"
        ) from e

    target = open_storage(target_url, args.to_prefix)
    # Optuna logs each study it creates at INFO; the lines below say it once, in order.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        results = copy_studies(
            legacy,
            target,
            [s.study_name for s in studies],
            skip_existing=args.skip_existing,
            on_incomplete=on_incomplete(args),
            progress=not args.quiet,
        )
    except CopyError as e:
        raise CommandError(
            f"{e} (target: prefix {args.to_prefix!r} at {redact(target_url)})"
        ) from e
    finally:
        optuna.logging.set_verbosity(verbosity)
    by_name = {s.study_name: s for s in studies}
    for result in results:
        if result.skipped:
            print(f"Skipped study {result.name!r}: the target has a study of that name.")
            continue
        counts = Counter(t.state for t in trials[by_name[result.name]._study_id])
        by_state = ", ".join(f"{s.name} {counts[s]}" for s in TrialState if counts[s])
        directions = "/".join(d.name for d in by_name[result.name].directions)
        print(
            f"Imported study {result.name!r} ({directions}): {result.n_trials} trials"
            + (f" ({by_state})" if by_state else "")
        )
    imported = sum(not r.skipped for r in results)
    print(
        f"Imported {imported} of {len(studies)} legacy studies into prefix "
        f"{args.to_prefix!r} at {redact(target_url)}."
    )
    return 0


def _check_legacy_url(url: str) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _LEGACY_SCHEMES:
        raise CommandError(
            f"URL {redact(url)!r} is not a URL of Optuna's legacy RedisStorage; expected "
            f"{' / '.join(s + '://…' for s in _LEGACY_SCHEMES)}",
            2,
        )
    database = urllib.parse.urlsplit(url).path.strip("/")
    if scheme != "unix" and database and not database.isdigit():
        # redis-py would quietly open database 0 instead.
        raise CommandError(f"URL {redact(url)!r}: the database number {database!r} is not one", 2)
    return url


def _open_legacy(url: str) -> LegacyRedisStorage:
    try:
        return LegacyRedisStorage(client=redis.Redis.from_url(url, socket_connect_timeout=5))
    except NotALegacyStoreError as e:
        raise CommandError(
            f"{redact(url)} holds no data of Optuna's legacy RedisStorage (no "
            f"{STUDY_LIST!r} key); check the URL's database number"
        ) from e
    except LegacyRecordError as e:
        raise CommandError(str(e)) from e
    except (redis.RedisError, ValueError) as e:
        raise CommandError(
            f"cannot read the legacy storage at {redact(url)}: {one_line(e)}"
        ) from e
