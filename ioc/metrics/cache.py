"""Cached KPI answers (flask-caching), keyed by everything that changes the answer.

The key holds the KPI, grouping, period, scope, hierarchy date, snapshot, the store's data version,
the bandwidth threshold and the caller's access scope, so a committed ingestion (which bumps the
data version) is never answered from an older entry, and one user's district answer is never
served to another. The CLI computes directly; the web app and the API go through here.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import date
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from flask_caching import Cache

from ioc import rollups, settings
from ioc.metrics import engine, summary
from ioc.metrics.query import KpiQuery, KpiResult, Scope

if TYPE_CHECKING:
    from flask import Flask

    from ioc.store import Store

T = TypeVar("T")

# the process's cache: set by init_cache(); a plain in-process cache until then (tests, scripts)
_HOLDER: dict[str, Cache] = {}
_LOCK = threading.Lock()


def _config() -> dict[str, Any]:
    return {
        "CACHE_TYPE": "SimpleCache",
        "CACHE_DEFAULT_TIMEOUT": int(settings.get("kpi_cache_seconds")),
        "CACHE_THRESHOLD": 5000,
    }


def init_cache(flask_server: Flask) -> None:
    """Attach the KPI cache to the app's Flask server (idempotent)."""
    with _LOCK:
        existing = _HOLDER.get("cache")
        if existing is not None and getattr(existing, "app", None) is flask_server:
            return
        _HOLDER["cache"] = Cache(flask_server, config=_config())


def _cache() -> Cache:
    with _LOCK:
        cache = _HOLDER.get("cache")
        if cache is None:
            from flask import Flask

            cache = _HOLDER["cache"] = Cache(Flask("ioc-metrics-cache"), config=_config())
        return cache


def clear() -> None:
    _cache().clear()


def cache_key(kind: str, parts: tuple[Any, ...]) -> str:
    text = repr((kind, *parts))
    return "ioc-kpi:" + hashlib.sha256(text.encode()).hexdigest()


def _version(store: Store, snapshot: int | None) -> int:
    return snapshot if snapshot is not None else store.data_version()


def _cached(key: str, make: Callable[[], T]) -> T:
    cache = _cache()
    backend = cache.cache  # the cachelib backend: usable outside a request context
    hit = backend.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    value = make()
    backend.set(key, value)
    return value


def cached_compute(store: Store, q: KpiQuery, access_scope: Any = None) -> KpiResult:
    version = _version(store, q.snapshot)
    key = cache_key(
        "compute", (str(store.layout.root), q, version, rollups.threshold(), repr(access_scope))
    )
    return _cached(key, lambda: engine.compute(store, q))


def cached_summarize(
    store: Store,
    kpi_id: str,
    scope: Scope = Scope(),
    date_to: date | None = None,
    snapshot: int | None = None,
    series_days: int = 30,
    hierarchy_date: date | None = None,
    access_scope: Any = None,
) -> summary.KpiSummary:
    version = _version(store, snapshot)
    key = cache_key(
        "summarize",
        (str(store.layout.root), kpi_id, scope, date_to, snapshot, series_days, hierarchy_date, version,
         rollups.threshold(), repr(access_scope)),
    )
    return _cached(
        key, lambda: summary.summarize(store, kpi_id, scope, date_to, snapshot, series_days, hierarchy_date)
    )
