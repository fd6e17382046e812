"""The WSGI entry point for production: ``gunicorn -w 4 ioc.wsgi:application``.

The store is the one in IOC_DATA_DIR (default ./data). Every worker opens it on its own; DuckLake's
catalog lets several processes read while the scheduler writes.
"""

from __future__ import annotations

from ioc.app import create_app, start_warmer

app = create_app()
start_warmer(app)
application = app.server
