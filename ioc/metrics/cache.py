"""Cached KPI answers (flask-caching), keyed by everything that changes the answer.

The key holds the KPI, grouping, period, scope, hierarchy date, snapshot, the store's data version,
the bandwidth threshold and the caller's access scope, so a committed ingestion (which bumps the
data version) is never answered from an older entry, and one user's district answer is never
served to another. The CLI computes directly; the web app and the API go through here.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from flask_caching import Cache
from flask_caching.backends.base import BaseCache

from ioc import rollups, settings
from ioc.auth.access import access_key
from ioc.metrics import engine, summary
from ioc.metrics.query import KpiQuery, KpiResult, Scope

if TYPE_CHECKING:
    from flask import Flask

    from ioc.store import Store

T = TypeVar("T")

# the process's cache: set by init_cache(); a plain in-process cache until then (tests, scripts)
_HOLDER: dict[str, Cache] = {}
_LOCK = threading.Lock()


class ObjectCache(BaseCache):
    """An in-process LRU holding the (immutable) results themselves, without pickling.

    Unpickling a by-school result of 50,000 rows takes longer than the 5 ms a cached answer may
    take; results are frozen dataclasses, so sharing them between requests is safe. Each worker
    process has its own; the data version in every key keeps them consistent with each other.
    """

    def __init__(self, default_timeout: int = 300, threshold: int = 2000, **_: Any) -> None:
        super().__init__(default_timeout=default_timeout)
        self.threshold = threshold
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def factory(
        cls, app: Any, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> ObjectCache:
        return cls(
            default_timeout=kwargs.get("default_timeout", 300), threshold=config.get("CACHE_THRESHOLD", 2000)
        )

    def _expiry(self, timeout: int | timedelta | None) -> float:
        timeout = self._normalize_timeout(timeout)
        return time.monotonic() + timeout if timeout > 0 else float("inf")

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, timeout: int | timedelta | None = None) -> bool:
        with self._lock:
            self._items[key] = (self._expiry(timeout), value)
            self._items.move_to_end(key)
            while len(self._items) > self.threshold:
                self._items.popitem(last=False)
        return True

    def add(self, key: str, value: Any, timeout: int | timedelta | None = None) -> bool:
        with self._lock:
            if key in self._items:
                return False
        return self.set(key, value, timeout)

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._items.pop(key, None) is not None

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def clear(self) -> bool:
        with self._lock:
            self._items.clear()
        return True


def _config() -> dict[str, Any]:
    return {
        "CACHE_TYPE": str(settings.get("kpi_cache_type")),
        "CACHE_DEFAULT_TIMEOUT": int(settings.get("kpi_cache_seconds")),
        "CACHE_THRESHOLD": 2000,
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
    # the caller's access scope is part of every key: one district's answer never serves another
    text = repr((kind, access_key(), *parts))
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
    key = cache_key("compute", (str(store.layout.root), q, version, rollups.threshold(), repr(access_scope)))
    return _cached(key, lambda: engine.compute(store, q))


def cached_summarize(
    store: Store,
    kpi_id: str,
    scope: Scope = Scope(),  # noqa: B008 -- frozen, so a shared default is safe
    date_to: date | None = None,
    snapshot: int | None = None,
    series_days: int = 30,
    hierarchy_date: date | None = None,
    access_scope: Any = None,
) -> summary.KpiSummary:
    version = _version(store, snapshot)
    key = cache_key(
        "summarize",
        (
            str(store.layout.root),
            kpi_id,
            scope,
            date_to,
            snapshot,
            series_days,
            hierarchy_date,
            version,
            rollups.threshold(),
            repr(access_scope),
        ),
    )
    return _cached(
        key, lambda: summary.summarize(store, kpi_id, scope, date_to, snapshot, series_days, hierarchy_date)
    )
