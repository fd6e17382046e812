"""The WSGI entry point of an app node: ``gunicorn -c python:ioc.gunicorn_conf ioc.wsgi:application``
(or ``ioc serve --workers N``, which runs exactly that).

The store is the one of IOC_DATA_DIR (default ./data) and IOC_CATALOG_URL / IOC_DATA_PATH. Every
worker imports this module after gunicorn forked it (no preloading) and opens the store on its own;
DuckLake's catalog lets several processes read while the scheduler writes. Unless IOC_CACHE_WARM is
false, each worker runs the cache warmer; with a Redis cache only one of all workers of all nodes
warms a given data version.
"""

from __future__ import annotations

from ioc import settings
from ioc.app import create_app, start_warmer

app = create_app()
if settings.get("cache_warm"):
    start_warmer(app)
application = app.server
