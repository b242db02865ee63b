"""Optuna's own CLI commands (``studies``, ``trials``, ``best-trial``, ``ask``, ``tell``, …)
on our storage.

Each command is Optuna's own: its options, its output formats and its exit codes come from
the installed ``optuna.cli``, which we do not copy. Optuna's commands open their storage by
calling ``optuna.cli._get_storage(url, storage_class)``, which reads every ``redis://`` URL as
a ``JournalRedisBackend``; while one of them runs, that function opens a ``RedisStorage``
under ``--prefix`` instead. ``storage upgrade`` upgrades an RDB schema, so here it says what to
run instead (``optuna-redis upgrade``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Iterator
import contextlib
import inspect
import logging

import optuna
import optuna.cli
from optuna.exceptions import CLIUsageError
import redis

from optuna_redis._cli._common import STORAGE_ENV
from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import one_line
from optuna_redis._cli._common import open_storage
from optuna_redis._cli._common import storage_url
from optuna_redis._cli._upgrade import storage_upgrade

# Optuna's commands whose storage is not a study store; they get their own handler here.
_REPLACED: dict[str, Callable[[argparse.Namespace], int]] = {"storage upgrade": storage_upgrade}
_REPLACED_HELP = {
    "storage upgrade": "Optuna's RDB schema upgrade; here it says to run 'optuna-redis upgrade'."
}


def names() -> list[str]:
    """Optuna's command names, as the installed ``optuna`` has them."""
    return list(optuna.cli._COMMANDS)


def add_parsers(commands: argparse._SubParsersAction) -> dict[str, argparse.ArgumentParser]:
    """Add each of Optuna's commands to ``commands``, with Optuna's options and ``--prefix``.

    Returns:
        Each command's parser, by name, to print its help after a usage error.
    """
    common = _common_arguments()
    parsers = {}
    for name, command_type in optuna.cli._COMMANDS.items():
        command = command_type()
        text = _REPLACED_HELP.get(name, inspect.getdoc(command_type))
        parser = commands.add_parser(name, parents=[common], help=text, description=text)
        command.add_arguments(parser)
        handler = _REPLACED.get(name, command.take_action)
        parser.set_defaults(handler=_runner(name, handler, parser), storage_class=None)
        parsers[name] = parser
    return parsers


def _common_arguments() -> argparse.ArgumentParser:
    """Optuna's common options (``-v``, ``-q``, ``--log-file``, ``--debug``), our ``--storage``
    and ``--prefix``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--storage",
        default=None,
        help=(
            "the storage URL: redis://, rediss://, unix:// or redis+cluster:// "
            f"(default: ${STORAGE_ENV})"
        ),
    )
    common.add_argument("--prefix", default="optuna", help="key prefix (optuna)")
    verbose = common.add_mutually_exclusive_group()
    verbose.add_argument(
        "-v",
        "--verbose",
        action="count",
        dest="verbose_level",
        default=1,
        help="Increase verbosity of output. Can be repeated.",
    )
    verbose.add_argument(
        "-q",
        "--quiet",
        action="store_const",
        dest="verbose_level",
        const=0,
        help="Suppress output except warnings and errors.",
    )
    common.add_argument(
        "--log-file", default=None, help="Specify a file to log output. Disabled by default."
    )
    common.add_argument(
        "--debug", default=False, action="store_true", help="Show tracebacks on errors."
    )
    return common


def _runner(
    name: str,
    handler: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        optuna.cli._set_verbosity(args)
        optuna.cli._set_log_file(args)
        logger = logging.getLogger("optuna")
        # Open (and so check) the storage before Optuna's code runs: a wrong URL or a Redis
        # that is down is one line here, not a traceback from inside the command.
        storage = (
            None
            if handler is storage_upgrade
            else open_storage(storage_url(args.storage), args.prefix)
        )
        try:
            with _storage_for_optuna(storage):
                return handler(args)
        except CLIUsageError as e:
            # As Optuna's own main does.
            if args.debug:
                logger.exception(e)
            else:
                logger.error(e)
                parser.print_help()
            return 1
        except KeyError as e:
            # A study name that is not there, from Optuna's load_study or our storage.
            raise CommandError(f"{name}: {e.args[0] if e.args else e}") from e
        except (redis.RedisError, ValueError, RuntimeError) as e:
            if args.debug:
                raise
            raise CommandError(f"{name}: {one_line(e)}") from e
        finally:
            if storage is not None:
                storage.remove_session()

    return run


@contextlib.contextmanager
def _storage_for_optuna(storage: optuna.storages.BaseStorage | None) -> Iterator[None]:
    """While it is open, Optuna's commands get ``storage`` whatever URL they were given."""
    if storage is None:
        yield
        return
    original = optuna.cli._get_storage
    optuna.cli._get_storage = lambda storage_url, storage_class: storage
    try:
        yield
    finally:
        optuna.cli._get_storage = original
