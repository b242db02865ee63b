"""What the ``optuna-redis`` subcommands share: the URL forms of our storage, opening one
from a URL with a clear one-line error, and the error type that ``main`` prints as one line
and turns into an exit code."""

from __future__ import annotations

import argparse
import os
import urllib.parse

import redis

# The Redis URL of the demo and of ``upgrade`` when --url is not given.
URL_ENV = "OPTUNA_REDIS_URL"
# Optuna's own CLI reads its storage URL from here; ours does too.
STORAGE_ENV = "OPTUNA_STORAGE"
# URL schemes that name our storage (``RedisStorage`` takes each of them).
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster")


class CommandError(Exception):
    """A command failed for a reason the user can act on: printed as one line.

    Args:
        message: What went wrong, naming the input at fault.
        exit_code: 1 for a failure, 2 for a usage error (as argparse uses).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def is_redis_url(url: str) -> bool:
    """Whether ``url`` is one of the URL forms of our storage."""
    return urllib.parse.urlsplit(url).scheme.lower() in REDIS_SCHEMES


def check_redis_url(url: str, what: str = "--storage") -> str:
    """``url`` when it names our storage, else a CommandError saying what it is instead."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme in REDIS_SCHEMES:
        return url
    if scheme.startswith("journal+"):
        raise CommandError(
            f"{what} {redact(url)!r} is a JournalRedis URL; optuna-redis opens its own "
            f"storage here, as {' / '.join(s + '://' for s in REDIS_SCHEMES)} "
            "(a journal is a source or target of 'optuna-redis copy' only)",
            2,
        )
    if not scheme:
        raise CommandError(
            f"{what} {url!r} is not a URL; expected one of "
            f"{', '.join(s + '://…' for s in REDIS_SCHEMES)}",
            2,
        )
    raise CommandError(
        f"{what} {redact(url)!r} is not a Redis URL (scheme {scheme!r}); expected one of "
        f"{', '.join(s + '://…' for s in REDIS_SCHEMES)} (use Optuna's own 'optuna' command "
        "for RDB and journal storages)",
        2,
    )


def storage_url(given: str | None) -> str:
    """The storage URL from ``--storage``, else ``$OPTUNA_STORAGE``, checked as ours."""
    url = given if given is not None else os.environ.get(STORAGE_ENV)
    if not url:
        raise CommandError(f"give the storage URL with --storage or ${STORAGE_ENV}", 2)
    return check_redis_url(url)


def open_storage(url: str, prefix: str, **kwargs: object):  # -> RedisStorage
    """A ``RedisStorage`` on ``url``, or a CommandError naming the URL and the failure.

    The storage checks the format under the prefix as it connects, so a Redis that is down,
    a wrong password or data of another format fail here, before any command writes.
    """
    from optuna_redis import RedisStorage
    from optuna_redis._errors import IncompatibleFormatError
    from optuna_redis._errors import UnsupportedServerError

    check_redis_url(url)
    try:
        return RedisStorage(url, prefix=prefix, retry_deadline=2.0, **kwargs)
    except (redis.RedisError, IncompatibleFormatError, UnsupportedServerError, ValueError) as e:
        raise CommandError(f"cannot open the storage at {redact(url)}: {one_line(e)}") from e


def one_line(error: BaseException) -> str:
    """An exception as one line of text: its message, else its type's name."""
    text = " ".join(str(error).split())
    return text or type(error).__name__


def redact(url: str) -> str:
    """The URL with its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def positive_int(text: str) -> int:
    """An argparse type: a positive integer."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """The options of a command that copies studies into a target (``copy``,
    ``import-legacy``): what to do with a target study that exists, or that an interrupted
    run left, and the progress bars. ``on_incomplete`` reads them back."""
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip a study whose name the target has already, instead of failing",
    )
    incomplete = parser.add_mutually_exclusive_group()
    incomplete.add_argument(
        "--resume", action="store_true", help="finish a target study an interrupted run left"
    )
    incomplete.add_argument(
        "--replace",
        action="store_true",
        help="delete a target study an interrupted run left, and copy it again",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def on_incomplete(args: argparse.Namespace) -> str:
    """``copy_studies``' ``on_incomplete`` from the options of ``add_target_options``."""
    return "resume" if args.resume else "replace" if args.replace else "error"
