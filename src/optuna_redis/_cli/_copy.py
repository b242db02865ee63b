"""``optuna-redis copy FROM TO``: copy studies between ours, Optuna's RDB storages, journal
files and JournalRedis, in bulk and checked (``optuna_redis.copy_studies``).

Each side is a URL: ours (``redis://``, ``rediss://``, ``unix://``, ``redis+cluster://``),
an RDB URL (``sqlite:///``, ``postgresql[+driver]://``, ``mysql[+driver]://``), a journal
file (``journal+file:///path``, or a plain path that is not a URL), or JournalRedis
(``journal+redis://``, ``journal+rediss://``; or ``--from-journal-redis URL`` for the
source). Every side is opened and checked before anything is written, and a source is
opened so that opening it writes nothing.
"""

from __future__ import annotations

import argparse
import os
from typing import Any
import urllib.parse
import warnings

import redis

from optuna_redis._cli._common import REDIS_SCHEMES
from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import add_target_options
from optuna_redis._cli._common import on_incomplete
from optuna_redis._cli._common import one_line
from optuna_redis._cli._common import redact

RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
JOURNAL_REDIS_SCHEMES = ("journal+redis", "journal+rediss")
JOURNAL_FILE_SCHEME = "journal+file"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``copy`` subcommand to ``commands``."""
    copy = commands.add_parser(
        "copy",
        help="copy studies between optuna-redis, RDB, journal file and JournalRedis storages",
        description=(
            "Copy studies from FROM to TO: directions, study attrs, and every trial in number "
            "order with all its fields, as optuna.copy_study does, in bulk. Each side is "
            f"ours ({', '.join(s + '://' for s in REDIS_SCHEMES)}), an RDB URL (sqlite:///, "
            "postgresql://, mysql://, with +driver), a journal file (journal+file:///path or "
            "a plain path), or JournalRedis (journal+redis://, journal+rediss://). At the end "
            "the trial counts and a digest of the trials on both sides are compared. An "
            "interrupted copy leaves its target study marked incomplete (system attr "
            "optuna_redis:copy_incomplete); --resume or --replace deals with it."
        ),
    )
    copy.add_argument("from_url", metavar="FROM", help="the source storage's URL")
    copy.add_argument(
        "to_url",
        metavar="TO",
        nargs="?",
        help="the target storage's URL (with --from-journal-redis, give only TO)",
    )
    which = copy.add_mutually_exclusive_group()
    which.add_argument(
        "--study", action="append", dest="studies", metavar="NAME", help="a study to copy"
    )
    which.add_argument("--all", action="store_true", help="copy every study (the default)")
    copy.add_argument("--to-study", metavar="NAME", help="the target study's name (one study)")
    add_target_options(copy)
    copy.add_argument(
        "--from-prefix", metavar="P", help="key prefix of ours (optuna) or JournalRedis ('')"
    )
    copy.add_argument(
        "--to-prefix", metavar="P", help="key prefix of ours (optuna) or JournalRedis ('')"
    )
    copy.add_argument(
        "--from-journal-redis", metavar="URL", help="the source is JournalRedis at this URL"
    )
    copy.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Open both sides, copy, and print one line a study."""
    if args.from_journal_redis is not None:
        if args.to_url is not None:
            raise CommandError("with --from-journal-redis, give only TO", 2)
        if urllib.parse.urlsplit(args.from_journal_redis).scheme not in ("redis", "rediss"):
            raise CommandError(
                f"--from-journal-redis {redact(args.from_journal_redis)!r} is not a "
                "redis:// or rediss:// URL",
                2,
            )
        from_url, to_url = "journal+" + args.from_journal_redis, args.from_url
    elif args.to_url is None:
        raise CommandError("give FROM and TO", 2)
    else:
        from_url, to_url = args.from_url, args.to_url
    import optuna

    # Optuna logs every study it creates at INFO: the result lines say it once.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    source = open_side(from_url, args.from_prefix, "FROM", source=True)
    # A journal or SQLite file the target creates is removed again when the copy fails
    # before writing to it (bad input writes nothing).
    created = _new_file(to_url)
    target = open_side(to_url, args.to_prefix, "TO", source=False)
    try:
        results = _copy(args, source, target, created)
    finally:
        for storage in (source, target):
            engine = getattr(storage, "engine", None)
            if engine is not None:  # An RDB's pooled connections: closed now, not at exit.
                engine.dispose()
    for r in results:
        if r.skipped:
            print(f"{r.name}: skipped, the target has {r.to_name!r} ({r.n_trials} trials)")
            continue
        rate = r.n_trials / r.seconds if r.seconds > 0 else 0.0
        print(
            f"{r.name} -> {r.to_name}: {r.n_trials} trials in {r.seconds:.2f} s "
            f"({rate:,.0f} trials/s), digest {r.digest[:16]} matches"
        )
    return 0


def _copy(args: argparse.Namespace, source: Any, target: Any, created: str | None) -> list:
    """``copy_studies`` with its failures as one-line CommandErrors."""
    from optuna_redis._copy import CopyError
    from optuna_redis._copy import copy_studies

    try:
        return copy_studies(
            source,
            target,
            args.studies,
            to_study_name=args.to_study,
            skip_existing=args.skip_existing,
            on_incomplete=on_incomplete(args),
            progress=not args.quiet,
        )
    except CopyError as e:
        _remove_if_unused(created, target)
        raise CommandError(one_line(e)) from e
    except Exception as e:  # A storage's own failure (SQL, Redis, a file): one line too.
        _remove_if_unused(created, target)
        raise CommandError(f"copy failed: {type(e).__name__}: {one_line(e)}") from e


def _new_file(url: str) -> str | None:
    """The path of the journal or SQLite file ``url`` names, when it does not exist yet."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if not scheme:
        path = url
    elif scheme == JOURNAL_FILE_SCHEME:
        path = parts.path
    elif scheme == "sqlite" and url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :].split("?", 1)[0]
    else:
        return None
    return None if not path or os.path.exists(path) else path


def _remove_if_unused(path: str | None, storage) -> None:  # noqa: ANN001
    """Remove a file this run created, when no study landed in it."""
    if path is None:
        return
    try:
        if storage.get_all_studies():
            return
    except Exception:  # noqa: BLE001 - unreadable: the failure being reported says why.
        return
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()
    for leftover in (path, path + ".lock"):
        if os.path.exists(leftover):
            os.remove(leftover)


def open_side(url: str, prefix: str | None, what: str, *, source: bool):  # -> BaseStorage
    """The storage a URL names, or a CommandError naming the URL; a source writes nothing."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    base = scheme.split("+", 1)[0]
    if scheme in REDIS_SCHEMES:
        return _open_ours(url, prefix or "optuna", what, source)
    if scheme in JOURNAL_REDIS_SCHEMES:
        return _open_journal_redis(url[len("journal+") :], prefix or "", what, source)
    if scheme == JOURNAL_FILE_SCHEME or (not scheme and url):
        path = parts.path if scheme else url
        if scheme and parts.netloc:
            raise CommandError(
                f"{what} {url!r}: write a journal file URL as journal+file:///path", 2
            )
        return _open_journal_file(path, what, source)
    if base in RDB_SCHEMES and not scheme.startswith("journal"):
        return _open_rdb(url, what, source)
    raise CommandError(
        f"{what} {redact(url)!r} is not a storage URL: expected "
        f"{', '.join(s + '://' for s in REDIS_SCHEMES)}, sqlite:///, "
        "postgresql://, mysql://, journal+file:///path (or a path), "
        "journal+redis://",
        2,
    )


def _client(url: str, what: str):  # -> redis.Redis
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        client.ping()
    except (redis.RedisError, ValueError) as e:
        raise CommandError(f"{what}: cannot reach Redis at {redact(url)}: {one_line(e)}") from e
    return client


def _open_ours(url: str, prefix: str, what: str, source: bool):  # -> RedisStorage
    from optuna_redis._cli._common import open_storage
    from optuna_redis._keys import Keys

    keys = Keys(prefix)
    if "cluster" not in url.split(":", 1)[0]:
        client = _client(url, what)
        try:
            has_ours = client.exists(keys.format)
            journal_prefix = _journal_prefix_found(client, prefix)
        finally:
            client.close()
        if not has_ours and journal_prefix is not None:
            raise CommandError(
                f"{what} {redact(url)} holds a JournalRedis log (prefix {journal_prefix!r}) and "
                f"no optuna-redis data under prefix {prefix!r}: write it as journal+{url}",
                2,
            )
        if source and not has_ours:
            # Opening our storage would write the format key: a source is never written.
            raise CommandError(
                f"{what} {redact(url)} has no optuna-redis data under prefix {prefix!r}"
            )
    return open_storage(url, prefix)


def _journal_prefix_found(client: redis.Redis, prefix: str) -> str | None:
    for candidate in dict.fromkeys((prefix, "")):
        if client.exists(f"{candidate}:log_number"):
            return candidate
    return None


def _open_journal_redis(url: str, prefix: str, what: str, source: bool):  # -> JournalStorage
    import optuna
    from optuna.storages.journal import JournalRedisBackend
    from optuna.storages.journal import JournalStorage

    from optuna_redis._keys import Keys

    client = _client(url, what)
    try:
        has_log = client.exists(f"{prefix}:log_number")
        ours = [
            p
            for p in dict.fromkeys((prefix or "optuna", "optuna"))
            if client.exists(Keys(p).format)
        ]
    finally:
        client.close()
    if not has_log and ours:
        raise CommandError(
            f"{what} journal+{redact(url)} holds optuna-redis data (prefix {ours[0]!r}) and no "
            f"JournalRedis log under prefix {prefix!r}: write it as {redact(url)}",
            2,
        )
    if source and not has_log:
        raise CommandError(
            f"{what} journal+{redact(url)} has no JournalRedis log under prefix {prefix!r}"
        )
    try:
        with warnings.catch_warnings():
            # Optuna marks JournalRedisBackend experimental; the user asked for it by URL.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return JournalStorage(JournalRedisBackend(url, prefix=prefix))
    except Exception as e:
        raise CommandError(
            f"{what}: cannot open JournalRedis at {redact(url)}: {one_line(e)}"
        ) from e


def _open_journal_file(path: str, what: str, source: bool):  # -> JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.storages.journal import JournalStorage

    if source and not os.path.isfile(path):
        raise CommandError(f"{what} journal file {path!r} does not exist")
    if not source and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise CommandError(f"{what} journal file {path!r}: its directory does not exist")
    try:
        return JournalStorage(JournalFileBackend(path))
    except Exception as e:
        raise CommandError(f"{what}: cannot read the journal file {path!r}: {one_line(e)}") from e


def _open_rdb(url: str, what: str, source: bool):  # -> RDBStorage
    from optuna.storages import RDBStorage

    if url.lower().startswith("sqlite:") and source:
        path = urllib.parse.urlsplit(url).path[1:] if url.startswith("sqlite:///") else ""
        if not path or not os.path.isfile(path):
            raise CommandError(f"{what} {url!r}: no such SQLite file")
    try:
        # A source's tables must exist: creating them would write.
        return RDBStorage(url, skip_table_creation=source)
    except Exception as e:
        raise CommandError(f"{what}: cannot open {redact(url)}: {one_line(e)}") from e
