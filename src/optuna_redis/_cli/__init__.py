"""The ``optuna-redis`` command: every command of Optuna's ``optuna`` CLI on our storage,
and our own (``demo``, ``upgrade``, ``info``, ``copy``, ``import-legacy``, ``dashboard``).

Each subcommand lives in its own module, which adds its parser with ``add_parser(commands)``
and sets ``handler``. A handler returns the exit code, or raises ``CommandError``, which is
printed here as one line (exit code 1, or 2 for a usage error).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import os
import sys

import optuna
import optuna.cli

from optuna_redis._cli import _copy
from optuna_redis._cli import _dashboard
from optuna_redis._cli import _demo
from optuna_redis._cli import _import_legacy
from optuna_redis._cli import _info
from optuna_redis._cli import _optuna_commands
from optuna_redis._cli import _upgrade
from optuna_redis._cli._common import CommandError

# Our own subcommands, each a module with ``add_parser``.
_OWN_COMMANDS = {
    "demo": _demo,
    "upgrade": _upgrade,
    "import-legacy": _import_legacy,
    "copy": _copy,
    "info": _info,
    "dashboard": _dashboard,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments without the program name; :obj:`None` reads ``sys.argv``.

    Returns:
        The exit code: 0 on success.
    """
    from optuna_redis import __version__

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="optuna-redis",
        description=(
            "optuna-redis: an Optuna storage on Redis. Optuna's own 'optuna' command and "
            "optuna-dashboard read every redis:// URL as a JournalRedis log; this command "
            "opens the RedisStorage of optuna-redis instead."
        ),
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"optuna-redis {__version__} (optuna {optuna.__version__})",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _OWN_COMMANDS.values():
        module.add_parser(commands)
    _optuna_commands.add_parsers(commands)
    commands.add_parser("help", help="show this help message and exit").set_defaults(
        handler=lambda args: _print_help(parser)
    )
    if not argv:
        argv = ["help"]
    elif argv[0] not in _OWN_COMMANDS:
        # Optuna's command names have spaces ("storage upgrade", "study set-user-attr"), and
        # Optuna takes options before them; its own argv rewriting handles both.
        argv = optuna.cli._preprocess_argv(["optuna-redis", *argv])
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 1
    try:
        return args.handler(args)
    except CommandError as e:
        print(f"optuna-redis: error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        # The reader went away (``optuna-redis trials ... | head``): stop quietly, and keep
        # the interpreter's final flush of stdout from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
