"""gunicorn settings of an app node: ``gunicorn -c python:ioc.gunicorn_conf ioc.wsgi:application``.

``ioc serve --workers N`` runs exactly this. Everything comes from the IOC_* settings, so an
operator sets environment variables, not gunicorn flags (gunicorn's own flags still override):

- bind: ``IOC_HOST:IOC_PORT`` (gunicorn -b overrides);
- workers: ``IOC_WORKERS`` (gunicorn -w overrides);
- timeout: ``IOC_WORKER_TIMEOUT`` seconds per request;
- keep-alive: ``IOC_KEEPALIVE_SECONDS`` idle seconds per connection, longer than the proxy's
  upstream keep-alive so that the proxy, not gunicorn, closes an idle connection;
- no preloading: every worker imports the app and opens its own store (a DuckDB instance must
  not cross a fork).

Prometheus: the workers write their metrics to files in ``PROMETHEUS_MULTIPROC_DIR`` and /metrics
adds them up (prometheus_client's multiprocess mode). When the variable is unset, this module
makes a fresh folder for this node and removes it on exit; a folder given by the operator is
emptied at start. Each node (gunicorn master) needs its own folder; gunicorn's control socket
(``gunicornc -s``) is ``gunicorn.ctl`` in it.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

from ioc import settings, visitors

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_OWN_DIR = not os.environ.get(MULTIPROC_ENV)
if _OWN_DIR:
    # set before any worker imports prometheus_client: the workers inherit it
    os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="ioc-prometheus-")
_METRICS_DIR = os.environ[MULTIPROC_ENV]

bind = f"{settings.get('host')}:{int(settings.get('port'))}"
workers = int(settings.get("workers"))
worker_class = "gthread"
threads = 4  # Dash fires several callbacks per page at once
timeout = int(settings.get("worker_timeout"))
graceful_timeout = 30
keepalive = int(settings.get("keepalive_seconds"))  # longer than any client's idle reuse
preload_app = False
max_requests = 0
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "ioc"
# gunicorn's control socket (gunicornc) defaults to one path per user account: two nodes on one
# machine would take it from each other. Each node's goes in its own folder instead.
control_socket = os.path.join(_METRICS_DIR, "gunicorn.ctl")
# the workers count their requests in one table, so that a worker's cache warmer gives way to the
# requests of every worker of the node (ioc.visitors): made here, in the master, before it forks
_VISITORS = visitors.share_across_workers()
if os.path.isdir("/dev/shm"):  # noqa: S108 - workers' heartbeat files in memory (containers: no slow disk)
    worker_tmp_dir = "/dev/shm"  # noqa: S108


def on_starting(server: Any) -> None:
    """Start from an empty metrics folder: files of an earlier run would be counted again."""
    os.makedirs(_METRICS_DIR, exist_ok=True)
    for path in glob.glob(os.path.join(_METRICS_DIR, "*.db")):
        os.remove(path)
    server.log.info("prometheus multiprocess folder: %s", _METRICS_DIR)


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges and its requests in flight no longer count (counters and
    histograms are kept)."""
    _VISITORS.forget(worker.pid, getattr(worker, "ioc_visitors_row", None))
    # prometheus_client chooses its multiprocess mode when imported: only once the folder is set above
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)


def on_exit(server: Any) -> None:
    if _OWN_DIR:
        shutil.rmtree(_METRICS_DIR, ignore_errors=True)


def pre_fork(server: Any, worker: Any) -> None:
    """The row of the node's table of requests in flight the worker about to be forked writes."""
    worker.ioc_visitors_row = _VISITORS.reserve()


def post_fork(server: Any, worker: Any) -> None:
    """The worker takes the row the master gave it (pre_fork). The app's own log lines (ioc.*:
    warm-ups, Redis outages, sign-in warnings) go to gunicorn's error log, formatted like
    gunicorn's."""
    _VISITORS.adopt(getattr(worker, "ioc_visitors_row", None))
    logger = logging.getLogger("ioc")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s", "[%Y-%m-%d %H:%M:%S %z]"
            )
        )
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
