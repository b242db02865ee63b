"""``optuna-redis dashboard``: optuna-dashboard served on our storage, since
optuna-dashboard's own command reads every ``redis://`` URL as a JournalRedis log."""

from __future__ import annotations

import argparse
import os
import sys

from optuna_redis._cli._common import URL_ENV
from optuna_redis._cli._common import CommandError
from optuna_redis._cli._common import open_storage

INSTALL_HINT = "optuna-dashboard is not installed; run: pip install 'optuna-redis[dashboard]'"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` subcommand to ``commands``."""
    dashboard = commands.add_parser(
        "dashboard",
        help="serve optuna-dashboard on a study storage in Redis",
        description="Serve optuna-dashboard (the optuna-redis[dashboard] extra) on the "
        "studies under a key prefix.",
    )
    dashboard.add_argument("url", nargs="?", help=f"Redis URL (default: ${URL_ENV})")
    dashboard.add_argument("--prefix", default="optuna", help="key prefix (optuna)")
    dashboard.add_argument("--host", default="127.0.0.1", help="hostname (127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8080, help="port number (8080)")
    dashboard.add_argument(
        "--server",
        default="auto",
        choices=["auto", "wsgiref", "gunicorn"],
        help="server (auto: gunicorn when installed, else wsgiref)",
    )
    dashboard.add_argument("--artifact-dir", help="directory to store artifact files")
    dashboard.add_argument("--quiet", "-q", action="store_true", help="quiet")
    dashboard.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve the dashboard until interrupted; a missing extra is a one-line error."""
    try:
        from optuna_dashboard import _cli as dashboard_cli
        from optuna_dashboard import wsgi
    except ImportError as e:
        raise CommandError(INSTALL_HINT) from e
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        raise CommandError(f"give the Redis URL as URL or ${URL_ENV}", 2)
    storage = open_storage(url, args.prefix)
    artifact_store = None
    if args.artifact_dir is not None:
        from optuna.artifacts import FileSystemArtifactStore

        artifact_store = FileSystemArtifactStore(args.artifact_dir)
    app = wsgi(storage, artifact_store=artifact_store)
    server = dashboard_cli.auto_select_server(args.server)
    try:
        if server == "gunicorn":
            dashboard_cli.run_gunicorn(app, args.host, args.port, args.quiet)
        else:
            dashboard_cli.run_wsgiref(app, args.host, args.port, args.quiet)
    except OSError as e:
        raise CommandError(f"cannot serve on {args.host}:{args.port}: {e}") from e
    except KeyboardInterrupt:
        print("", file=sys.stderr)
    return 0
