"""``ioc serve``: run the app.

Without ``--workers``: Flask's development server, one process (development, a demo).
With ``--workers N``: gunicorn with N worker processes and ioc/gunicorn_conf.py, exactly
``gunicorn -c python:ioc.gunicorn_conf -w N ioc.wsgi:application`` -- an app node of a
deployment (several nodes share the store, the accounts database and, with IOC_CACHE_REDIS_URL,
the KPI cache).
"""

from __future__ import annotations

import argparse
import os
import sys

from ioc import settings
from ioc.cli import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: $IOC_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $IOC_PORT or 8050)")
    parser.add_argument(
        "--debug", action="store_true", default=None, help="Dash debug mode (development only)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="run gunicorn with N worker processes (ioc/gunicorn_conf.py) instead of the development "
        "server ($IOC_WORKERS is gunicorn's default when this is not given)",
    )


def gunicorn_command(workers: int, host: str, port: int) -> list[str]:
    """The gunicorn command line ``ioc serve --workers`` runs."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:ioc.gunicorn_conf",
        "-w",
        str(workers),
        "-b",
        f"{host}:{port}",
        "ioc.wsgi:application",
    ]


def run(args: argparse.Namespace) -> int:
    # heavy: DuckDB (~70 modules, 0.2 s) only when serving, not for `ioc serve --help`
    from ioc.pending import unreachable_catalog
    from ioc.store import StoreError, open_store

    host = str(settings.get("host", args.host))
    port = int(settings.get("port", args.port))
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers {args.workers}: give at least 1 worker process")
        if args.debug:
            raise UsageError("--debug is for the development server: leave out --workers")
        try:
            # migrate once here, before the workers open the store at the same time
            open_store(args.data_dir).close()
        except StoreError as error:
            if unreachable_catalog(args.data_dir) is None:
                raise UsageError(str(error)) from None
            # the catalog down: the workers start anyway, answer 503 and open it once it is back
            print(f"ioc serve: starting without the store: {error}", file=sys.stderr)
        if args.data_dir is not None:
            os.environ["IOC_DATA_DIR"] = str(settings.data_dir(args.data_dir))
        command = gunicorn_command(args.workers, host, port)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # gunicorn takes over this process (and its signals)
    # heavy: Flask, Dash and Plotly (~1,000 modules, 1.5 s) only for the development server: with
    # --workers this process becomes gunicorn, whose workers import the app themselves
    from ioc.app import create_app, start_warmer

    try:
        app = create_app(args.data_dir)
    except StoreError as error:
        raise UsageError(str(error)) from None
    if settings.get("cache_warm"):
        start_warmer(app)
    debug = bool(settings.get("debug", args.debug))
    app.run(host=host, port=port, debug=debug, use_reloader=False)
    return 0
