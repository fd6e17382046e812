"""``ioc serve``: run the app (Flask's development server; production: gunicorn ioc.wsgi:application)."""

from __future__ import annotations

import argparse

from ioc import settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=None, help="address to listen on (default: $IOC_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: $IOC_PORT or 8050)")
    parser.add_argument(
        "--debug", action="store_true", default=None, help="Dash debug mode (development only)"
    )


def run(args: argparse.Namespace) -> int:
    from ioc.app import create_app
    from ioc.cli import UsageError
    from ioc.store import StoreError

    try:
        app = create_app(args.data_dir)
    except StoreError as error:
        raise UsageError(str(error)) from None
    from ioc.app import start_warmer

    start_warmer(app)
    debug = bool(settings.get("debug", args.debug))
    app.run(
        host=settings.get("host", args.host),
        port=int(settings.get("port", args.port)),
        debug=debug,
        use_reloader=False,
    )
    return 0
