"""Health, readiness and Prometheus metrics of an app node: ``/healthz``, ``/readyz``, ``/metrics``.

- ``/healthz``: the process answers (200, nothing else is asked): for a liveness probe.
- ``/readyz``: this node can serve: the store's catalog answers with its data version, its schema
  is the one this program expects and the accounts database answers. 200 ``{"status": "ready",
  ...}`` or 503 ``{"status": "not ready", "reason": ..., "checks": {...}}``: for a load balancer
  or a readiness probe. The Redis cache is checked and reported (``"degraded"``) but not
  required: without it the node computes answers itself.
- ``/metrics``: Prometheus text format. Request latency by route template, KPI computations and
  their latency by KPI, cache look-ups by level, and -- asked of the metrics front door at scrape
  time, cached per data version (and minute for freshness) -- ingestion runs by dataset and status, data age and staleness
  per dataset (the data-health page's figures, ioc/metrics/health.py) and the data version.
  Under gunicorn every worker writes its figures to ``PROMETHEUS_MULTIPROC_DIR`` and the scrape
  adds them up (ioc/gunicorn_conf.py sets it up). With ``IOC_METRICS_TOKEN`` set, /metrics asks
  for ``Authorization: Bearer <token>``.

All three answer without sign-in (ioc.auth.web.PUBLIC_PATHS).
"""

from __future__ import annotations

import glob
import hmac
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from flask import Flask, Response, g, jsonify, request
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from werkzeug.exceptions import HTTPException

from ioc import clock, migrations, settings
from ioc.access import EVERYTHING
from ioc.auth.db import AuthDbUnreachable
from ioc.metrics.cache import redact, shared_level
from ioc.metrics.front import Metrics
from ioc.store import StoreError

if TYPE_CHECKING:
    from ioc.store import Store

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz", "/metrics")

REQUEST_SECONDS = Histogram(
    "ioc_http_request_duration_seconds",
    "HTTP requests served and how long each took, by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


# -- request latency -----------------------------------------------------------------------------
def _start_timer() -> None:
    g.ioc_request_started = time.perf_counter()


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else "<unmatched>"  # a template: bounded label values


def _observe(response: Response) -> Response:
    started = g.get("ioc_request_started")
    if started is not None and request.path not in HEALTH_PATHS:
        REQUEST_SECONDS.labels(request.method, _route(), str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


# -- the store unreachable: one JSON error per request, one log line per outage -----------------
class Outage:
    """While the store's catalog does not answer, every request that needs it gets a JSON 503
    (not Flask's HTML 500) and the process logs one line when the outage starts and one when the
    catalog answers again (not a traceback per request: 6,900 lines per node in 30 s, issue 13).

    Whether an error is an outage is asked of the catalog itself (``store.ping()``), so a query
    failing for another reason during good health is still a bug with its traceback."""

    def __init__(self, store_factory: Callable[[], Store]) -> None:
        self.store_factory = store_factory
        self._lock = threading.Lock()
        self.since: float | None = None
        self.failed = 0

    def reason(self, error: BaseException) -> str | None:
        """Why the store cannot answer (None: it can, so ``error`` is something else)."""
        if isinstance(error, (StoreError, AuthDbUnreachable)):  # the store or the accounts database is down
            return _one_line(error)
        try:
            self.store_factory().ping()
        except Exception as down:  # noqa: BLE001 - whatever the catalog says, it does not answer
            return _one_line(down)
        return None

    def fail(self, reason: str) -> None:
        with self._lock:
            self.failed += 1
            if self.since is not None:
                return
            self.since = time.monotonic()
        log.error("the store does not answer (%s): answering 503 until it does", reason)

    def recover(self) -> None:
        if self.since is None:  # the common case: no lock taken
            return
        with self._lock:
            if self.since is None:
                return
            seconds, failed = time.monotonic() - self.since, self.failed
            self.since, self.failed = None, 0
        log.warning("the store answers again after %.0f s (%d requests answered 503)", seconds, failed)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}"


def _wants_json() -> bool:
    accept = request.accept_mimetypes
    return (
        request.path.startswith("/api/")
        or request.path.startswith("/_dash-")
        or accept.best_match(["application/json", "text/html"]) != "text/html"
    )


def _install_error_pages(flask_server: Flask, outage: Outage) -> None:
    def failed(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            if not request.path.startswith("/api/"):
                return error
            response = jsonify({"error": error.description, "param": None})
            response.status_code = error.code or 500
            return response
        reason = outage.reason(error)
        if reason is None:  # a bug, not an outage
            if not request.path.startswith("/api/"):
                raise error  # Flask's own handling: the traceback logged, its 500 page
            log.error("error answering %s %s", request.method, request.path, exc_info=error)
            response = jsonify({"error": "internal error (logged on the server)", "param": None})
            response.status_code = 500
            return response
        outage.fail(reason)
        message = "the data store is not reachable right now; try again shortly"
        if _wants_json():
            response = jsonify({"error": message, "param": None})
        else:
            response = Response(f"<!doctype html><title>503</title><p>{message}</p>", mimetype="text/html")
        response.status_code = 503
        response.headers["Retry-After"] = "10"
        response.headers["Cache-Control"] = "no-store"
        return response

    def answered(response: Response) -> Response:
        if response.status_code < 500 and request.path not in HEALTH_PATHS:
            outage.recover()
        return response

    flask_server.register_error_handler(Exception, failed)
    flask_server.after_request(answered)


# -- readiness -----------------------------------------------------------------------------------
def readiness(store: Store, flask_server: Flask | None = None) -> tuple[bool, dict[str, Any]]:
    """(ready, checks): each check is {"ok": bool, ...} with an "error" when not ok."""
    checks: dict[str, dict[str, Any]] = {}
    version: int | None = None
    try:
        ping = getattr(store, "ping", None)  # reads the catalog now, whatever is cached
        version = int(ping() if callable(ping) else store.data_version())
        checks["store"] = {"ok": True, "data_version": version}
    except Exception as error:  # noqa: BLE001 - whatever the catalog says, the node is not ready
        checks["store"] = {
            "ok": False,
            "error": f"store catalog unreachable: {type(error).__name__}: {error}",
        }
    if version is not None:
        checks["migrations"] = _migrations(store, version)
    shared = shared_level()
    if shared is not None:
        problem = shared.ping()
        # not required: without Redis a node computes locally and still answers; a Redis outage
        # must not take every node out of the load balancer at once
        checks["redis"] = {"ok": problem is None, "required": False, "url": redact(shared.url)}
        if problem:
            checks["redis"]["error"] = f"Redis cache unreachable (answers computed locally): {problem}"
    if flask_server is not None:
        auth = flask_server.extensions.get("ioc_auth")
        if auth is not None:
            try:
                auth.db.query("SELECT 1")
                checks["accounts"] = {"ok": True}
            except Exception as error:  # noqa: BLE001
                checks["accounts"] = {
                    "ok": False,
                    "error": f"accounts database unreachable: {type(error).__name__}: {error}",
                }
    return all(c["ok"] for c in checks.values() if c.get("required", True)), checks


_MIGRATIONS_SEEN: dict[tuple[int, int], dict[str, Any]] = {}


def _migrations(store: Store, version: int) -> dict[str, Any]:
    key = (id(store), version)  # the schema only changes with a commit, which bumps the version
    known = _MIGRATIONS_SEEN.get(key)
    if known is not None:
        return known
    try:
        current = migrations.current_version(store)
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": f"schema version unreadable: {type(error).__name__}: {error}"}
    result: dict[str, Any] = {
        "ok": current == migrations.LATEST,
        "schema": current,
        "expected": migrations.LATEST,
    }
    if current < migrations.LATEST:
        result["error"] = f"store schema {current} < {migrations.LATEST}: run `ioc migrate`"
    elif current > migrations.LATEST:
        result["error"] = f"store schema {current} is newer than this program's {migrations.LATEST}: upgrade"
    _MIGRATIONS_SEEN.clear()
    _MIGRATIONS_SEEN[key] = result
    return result


# -- scrape-time figures from the store ----------------------------------------------------------
class StoreCollector(Collector):
    """Figures read from the store when scraped: data version, ingestion runs, data freshness.

    The run log and the newest dates only change with a commit, so they are asked of the metrics
    front door, whose cache keys them by data version (freshness also by minute: staleness depends
    on the clock): with Redis, one worker of all nodes reads them per version and minute. Ages are computed at every scrape.
    """

    def __init__(self, store_factory: Callable[[], Store]) -> None:
        self.store_factory = store_factory

    @staticmethod
    def _read(store: Store) -> tuple[list[Any], list[tuple[str, str, int]]]:
        """Freshness and run counts asked of the metrics front door for the whole city (the scrape
        is the operator's, behind its own token): its cache keys, per data version and minute."""
        minute = clock.now().replace(second=0, microsecond=0)
        metrics = Metrics(store, EVERYTHING)
        return metrics.health("freshness", at=minute), metrics.health("run_counts")

    def collect(self) -> Iterator[Metric]:
        store = self.store_factory()
        up = GaugeMetricFamily("ioc_store_up", "1 when the store's catalog answered this scrape")
        try:
            version = int(store.data_version())
            fresh, runs = self._read(store)
        except Exception as error:  # noqa: BLE001 - a scrape reports the outage, it does not fail
            log.warning("metrics: the store could not be read: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        data_version = GaugeMetricFamily("ioc_data_version", "The store's data version (catalog snapshot id)")
        data_version.add_metric([], version)
        yield data_version
        ingest = CounterMetricFamily(
            "ioc_ingest_runs",
            "Ingestion runs in the store's run log by dataset and status",
            labels=["dataset", "status"],
        )
        for dataset, status, count in runs:
            ingest.add_metric([dataset, status], count)
        yield ingest
        age = GaugeMetricFamily(
            "ioc_data_age_seconds",
            "Seconds since the newest data of each dataset (a day's data: since that day began)",
            labels=["dataset"],
        )
        stale = GaugeMetricFamily(
            "ioc_data_stale", "1 when a dataset is older than its expected cadence allows", labels=["dataset"]
        )
        success = GaugeMetricFamily(
            "ioc_data_last_success_timestamp_seconds",
            "Unix time of the last successful load of each dataset",
            labels=["dataset"],
        )
        now = time.time()
        for item in fresh:
            stamp = _timestamp(item.latest_data)
            if stamp is not None:
                age.add_metric([item.dataset], max(0.0, now - stamp))
            stale.add_metric([item.dataset], 1 if item.stale else 0)
            last = _timestamp(item.last_success)
            if last is not None:
                success.add_metric([item.dataset], last)
        yield age
        yield stale
        yield success


def _timestamp(value: date | datetime | None) -> float | None:
    if value is None:
        return None
    zone = ZoneInfo(str(settings.get("timezone")))
    if not isinstance(value, datetime):
        value = datetime.combine(value, dtime.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.timestamp()


def _redis_up() -> Iterator[Metric]:
    shared = shared_level()
    if shared is None:
        return
    up = GaugeMetricFamily("ioc_cache_redis_up", "1 when the shared Redis cache answered this scrape")
    up.add_metric([], 1 if shared.ping() is None else 0)
    yield up


# A worker creates its metrics file at 0 bytes and sizes it a moment later; a scrape in between
# made prometheus_client's merge raise ``struct.error`` and the whole /metrics answer 500
# (prometheus/client_python#1199). A file a worker is still writing can also read short.
_UNREADABLE = (struct.error, RuntimeError, ValueError, UnicodeDecodeError, FileNotFoundError)


class WorkerFiles(MultiProcessCollector):
    """All gunicorn workers' figures, skipping a file that cannot be read yet instead of failing.

    Empty files (nothing recorded yet) are left out; when the merge still fails it is tried again
    twice, 20 ms apart, and then every file is read on its own and the unreadable ones are left out
    of this scrape (logged, by name): one worker's half-written file costs its figures for one
    scrape, not everybody's.
    """

    def collect(self) -> Iterable[Metric]:
        files = [path for path in glob.glob(os.path.join(self._path, "*.db")) if _size(path) >= 8]
        for attempt in range(3):
            try:
                return self.merge(files, accumulate=True)
            except _UNREADABLE:
                time.sleep(0.02 * (attempt + 1))
        readable = []
        for path in files:
            try:
                self.merge([path], accumulate=True)
            except _UNREADABLE as exc:
                log.warning("metrics file %s left out of this scrape: %s", path, exc)
            else:
                readable.append(path)
        return self.merge(readable, accumulate=True)


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def exposition(store_factory: Callable[[], Store], collector: StoreCollector | None = None) -> bytes:
    """The /metrics text: this process's (or, under gunicorn, all workers') figures + the store's."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        workers = CollectorRegistry()
        WorkerFiles(workers, directory)
        text = generate_latest(workers)
    else:
        text = generate_latest(REGISTRY)
    scraped = CollectorRegistry()
    scraped.register(collector or StoreCollector(store_factory))

    class _Redis(Collector):
        def collect(self) -> Iterator[Metric]:
            return _redis_up()

    scraped.register(_Redis())
    return text + generate_latest(scraped)


# -- wiring ----------------------------------------------------------------------------------------
def register(flask_server: Flask, store_factory: Callable[[], Store]) -> None:
    """Serve /healthz, /readyz and /metrics from ``flask_server`` and time its requests."""
    if "ioc_healthz" in flask_server.view_functions:
        return
    # first of the before-request hooks: the sign-in guard may answer before later ones run
    flask_server.before_request_funcs.setdefault(None, []).insert(0, _start_timer)
    flask_server.after_request(_observe)
    collector = StoreCollector(store_factory)
    _install_error_pages(flask_server, Outage(store_factory))

    def healthz() -> Response:
        return jsonify({"status": "alive"})

    def readyz() -> tuple[Response, int]:
        ready, checks = readiness(store_factory(), flask_server)
        body: dict[str, Any] = {"status": "ready" if ready else "not ready", "checks": checks}
        failed = "; ".join(c["error"] for c in checks.values() if not c["ok"] and "error" in c)
        if failed:
            body["reason" if not ready else "degraded"] = failed
        return jsonify(body), 200 if ready else 503

    def metrics() -> Response:
        token = str(settings.get("metrics_token") or "")
        if token:
            header = request.headers.get("Authorization", "")
            given = header[7:].strip() if header[:7].lower() == "bearer " else ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                response = jsonify({"error": "/metrics needs Authorization: Bearer <IOC_METRICS_TOKEN>"})
                response.status_code = 401
                response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return response
        response = Response(exposition(store_factory, collector), mimetype=None)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Cache-Control"] = "no-store"
        return response

    flask_server.add_url_rule("/healthz", "ioc_healthz", healthz, methods=["GET", "HEAD"])
    flask_server.add_url_rule("/readyz", "ioc_readyz", readyz, methods=["GET", "HEAD"])
    flask_server.add_url_rule("/metrics", "ioc_metrics", metrics, methods=["GET"])
