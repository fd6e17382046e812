"""A web worker that starts while the store's PostgreSQL catalog does not answer.

A running worker answers 503 through a catalog outage and serves again when the catalog is back
(ioc.observability.Outage). A worker that starts during the outage -- a gunicorn worker restarted
after a timeout, a node rebooted, a container rescheduled -- must do the same instead of dying at
import with a traceback (and gunicorn halting the node when its first workers fail to boot).

:func:`open_store_or_pending` opens the store as usual; when that fails only because the catalog
cannot be reached, it returns a :class:`PendingStore` in its place: it raises
:class:`~ioc.store.StoreError` for everything (a 503 like any outage) and opens the real store at
the first use after the catalog answers again, then hands everything to it. A catalog that answers
but is wrong (no store there, another data path) still stops the start with its error.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import duckdb

from ioc import settings
from ioc.store import Layout, Location, Store, StoreError, is_connection_lost, open_store

log = logging.getLogger(__name__)


def open_store_or_pending(data_dir: str | Path | None = None) -> Store | PendingStore:
    """The process's store (:func:`ioc.store.open_store`), or a :class:`PendingStore` when the
    PostgreSQL catalog does not answer now."""
    try:
        return open_store(data_dir)
    except (StoreError, duckdb.Error) as error:
        # A catalog that goes down while the worker opens the store (its connection is dropped
        # mid-migration) raises DuckDB's error, not a StoreError; it may be back by now.
        if unreachable_catalog(data_dir) is None and not is_connection_lost(error):
            raise  # the catalog answers: the error is about what is (or is not) in it
        log.error(
            "the store's catalog is not reachable at start (%s): this worker starts without it, "
            "answers 503 and opens the store once the catalog answers",
            " ".join(str(error).split()),
        )
        return PendingStore(data_dir, StoreError(str(error)))


def unreachable_catalog(data_dir: str | Path | None = None) -> StoreError | None:
    """Why the configured PostgreSQL catalog cannot be reached now (None: it can, or the catalog is
    the embedded SQLite file)."""
    location = Location.from_settings(Layout(settings.data_dir(data_dir)))
    if not location.is_postgres:
        return None
    try:
        location.pg_connect(timeout=5).close()
    except StoreError as error:
        return error
    return None


class PendingStore:
    """Stands in for the store of a worker started while its catalog did not answer.

    Every attribute but ``layout`` is the real store's, which is opened at the first use after the
    catalog answers. Until then every use raises StoreError, which the web layer answers with a
    503. One thread at a time tries to open it; threads that waited meanwhile share its outcome
    (with a catalog host that does not answer at all, each attempt waits for the connect timeout:
    a request queue does not become a queue of connection attempts)."""

    def __init__(self, data_dir: str | Path | None, error: StoreError) -> None:
        self._data_dir = data_dir
        self.layout = Layout(settings.data_dir(data_dir))
        self._store: Store | None = None
        self._error = str(error)
        self._attempts = 0
        self._lock = threading.Lock()

    def opened(self) -> Store:
        """The real store, opened now if the catalog answers; StoreError when it does not."""
        store = self._store
        if store is not None:
            return store
        attempts = self._attempts
        with self._lock:
            if self._store is not None:
                return self._store
            if self._attempts != attempts:  # another thread tried while this one waited: its answer
                raise StoreError(self._error)
            self._attempts += 1
            try:
                self._store = open_store(self._data_dir)
            except StoreError as error:
                self._error = str(error)
                raise
            except duckdb.Error as error:
                if not is_connection_lost(error):
                    raise
                self._error = str(error)
                raise StoreError(self._error) from None
        log.warning("the store's catalog answers: opened the store this worker started without")
        return self._store

    def __getattr__(self, name: str) -> Any:
        if name in {"_data_dir", "_store", "_error", "_attempts", "_lock"}:  # before __init__ set them
            raise AttributeError(name)
        return getattr(self.opened(), name)

    def __repr__(self) -> str:
        return f"PendingStore({self._store!r})" if self._store is not None else "PendingStore(not opened)"
