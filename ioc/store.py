"""The one module that touches the database.

The store is a DuckLake lakehouse: a SQLite catalog (WAL mode) and Parquet data files under the
data directory. One writer process (ingestion, scheduler) and many reader processes (web
workers) use it at once; every process opens its own in-memory DuckDB instance and attaches the
catalog. Inside a process each thread gets its own cursor.

Everything else goes through :class:`Store`: ``execute(sql, params)`` with bound parameters for
reads, ``write(fn)`` for a transaction that retries when another writer holds the catalog.
Identifiers that must be spliced into SQL are quoted by :func:`quote_ident` only.
"""

from __future__ import annotations

import importlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from ioc import settings

log = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_NAME = "lake"
EXTENSIONS = ("ducklake", "sqlite_scanner")


class StoreError(RuntimeError):
    """The store cannot be opened or used as asked."""


def quote_ident(name: str) -> str:
    """Quote an identifier (table or column name) for DuckDB SQL."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Results:
    """Rows of a query with their column names."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self.columns, self.rows[0], strict=True)) if self.rows else None

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


@dataclass(frozen=True)
class Layout:
    """Where each part of the store lives inside the data directory."""

    root: Path

    @property
    def catalog(self) -> Path:
        return self.root / "lake" / "catalog.sqlite"

    @property
    def files(self) -> Path:
        return self.root / "lake" / "files"

    @property
    def extensions(self) -> Path:
        return self.root / "extensions"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def create(self) -> None:
        for folder in (self.catalog.parent, self.files, self.extensions, self.archive, self.logs):
            folder.mkdir(parents=True, exist_ok=True)


def _install_extensions(con: duckdb.DuckDBPyConnection, layout: Layout) -> None:
    """Install DuckLake and the SQLite scanner from their PyPI wheels, never from the network."""
    version = "v" + duckdb.__version__
    for name in EXTENSIONS:
        try:
            con.execute(f"LOAD {name}")
            continue
        except duckdb.Error:
            pass
        module = importlib.import_module(f"duckdb_extension_{name}")
        wheel_file = Path(str(module.__file__)).parent / "extensions" / version / f"{name}.duckdb_extension"
        if not wheel_file.exists():
            raise StoreError(
                f"DuckDB extension {name!r} for DuckDB {duckdb.__version__} is not installed "
                f"(expected {wheel_file}); install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
            )
        con.execute(f"INSTALL '{wheel_file}'")
        con.execute(f"LOAD {name}")


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def is_lock_error(error: BaseException) -> bool:
    text = str(error).lower()
    return "database is locked" in text or "conflict" in text or "busy" in text


class Store:
    """An open store: one DuckDB instance per process with the DuckLake catalog attached."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        migrate: bool = True,
        read_only: bool = False,
    ) -> None:
        self.layout = Layout(settings.data_dir(data_dir))
        self.read_only = read_only
        if read_only and not self.layout.catalog.exists():
            raise StoreError(
                f"no store in {self.layout.root}: run `ioc demo` or `ioc ingest` first "
                "(or point --data-dir / IOC_DATA_DIR at an existing store)"
            )
        self.layout.create()
        self._local = threading.local()
        self._version_stamp: tuple[tuple[object, ...], int] | None = None
        self._lock = threading.Lock()
        self._con = duckdb.connect(
            ":memory:",
            config={
                "extension_directory": str(self.layout.extensions),
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        _install_extensions(self._con, self.layout)
        self._con.execute(f"SET GLOBAL TimeZone = '{settings.get('timezone')}'")
        self._attach(self._con)
        if migrate and not read_only:
            from ioc import migrations

            migrations.migrate(self)
        elif migrate:
            from ioc import migrations

            migrations.check(self)

    # -- connections -------------------------------------------------------------------
    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        options = [f"DATA_PATH '{self.layout.files}/'", "META_JOURNAL_MODE 'wal'"]
        if self.read_only:
            options.append("READ_ONLY")
        con.execute(
            f"ATTACH IF NOT EXISTS 'ducklake:sqlite:{self.layout.catalog}' AS {CATALOG_NAME} "
            f"({', '.join(options)})"
        )
        con.execute(f"USE {CATALOG_NAME}")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (created on first use)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            with self._lock:
                cur = self._con.cursor()
            cur.execute(f"USE {CATALOG_NAME}")
            self._local.cursor = cur
        return cur

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------
    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Results:
        cur = self.cursor()
        rel = cur.execute(sql, params or [])
        columns = tuple(d[0] for d in rel.description or ())
        return Results(columns, rel.fetchall())

    def arrow(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """A query's result as a pyarrow Table (for exports and figures)."""
        cur = self.cursor()
        result = cur.execute(sql, params or [])
        fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
        return fetch()

    def data_version(self) -> int:
        """The catalog's current snapshot id; every committed write increases it.

        Every cached answer asks for it, so it must be cheap: DuckLake's current_snapshot() takes
        milliseconds. Every commit writes the SQLite catalog (its WAL file), so while neither
        file has changed since the last read the answer is the same; otherwise it is read with a
        fresh read-only SQLite connection (DuckDB's SQLite keeps no shared WAL index, so a
        long-lived reader would not see new commits).
        """
        catalog = self.layout.catalog
        try:
            stamp = tuple(
                (st.st_size, st.st_mtime_ns) if (st := _stat(path)) else None
                for path in (catalog, catalog.with_name(catalog.name + "-wal"))
            )
            known = self._version_stamp
            if known is not None and known[0] == stamp:
                return known[1]
            reader = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
            try:
                row = reader.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchall()[0]
            finally:
                reader.close()
            if row[0] is not None:
                self._version_stamp = (stamp, int(row[0]))
                return int(row[0])
        except (OSError, sqlite3.Error, IndexError):
            pass
        sql = f"SELECT id FROM {CATALOG_NAME}.current_snapshot()"  # noqa: S608 - a constant name
        return int(self.execute(sql).scalar())

    def snapshots(self) -> Results:
        return self.execute(
            f"SELECT snapshot_id, snapshot_time, changes FROM {CATALOG_NAME}.snapshots() "  # noqa: S608
            "ORDER BY snapshot_id"
        )

    def has_table(self, name: str) -> bool:
        return bool(
            self.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND table_name = ?",
                [CATALOG_NAME, name],
            ).scalar()
        )

    # -- writing -------------------------------------------------------------------------
    def write(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """Run ``fn(cursor)`` in one transaction; retry with backoff if the catalog is locked.

        ``fn`` must be safe to run again: it is re-run from the start after a failed commit.
        """
        if self.read_only:
            raise StoreError("this store was opened read-only")
        retries = int(settings.get("write_retries"))
        cur = self.cursor()
        for attempt in range(retries + 1):
            cur.execute("BEGIN TRANSACTION")
            try:
                result = fn(cur)
                cur.execute("COMMIT")
                return result
            except duckdb.Error as error:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                if attempt < retries and is_lock_error(error):
                    delay = min(5.0, 0.05 * 2**attempt) * (0.5 + random.random())
                    log.warning("catalog busy (%s); retrying in %.2fs", error, delay)
                    time.sleep(delay)
                    continue
                raise
            except BaseException:
                try:
                    cur.execute("ROLLBACK")
                except duckdb.Error:
                    pass
                raise
        raise AssertionError("unreachable")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction without retry (for callers that cannot re-run their work)."""
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")

    def maintain(self) -> dict[str, Any]:
        """Compact small Parquet files, expire old snapshots and remove unused files."""
        older_than = int(settings.get("snapshot_retention_days"))
        cur = self.cursor()
        cur.execute(f"CALL ducklake_merge_adjacent_files('{CATALOG_NAME}')")
        cur.execute(
            f"CALL ducklake_expire_snapshots('{CATALOG_NAME}', older_than => now() - INTERVAL {older_than} DAY)"
        )
        cur.execute(f"CALL ducklake_cleanup_old_files('{CATALOG_NAME}', cleanup_all => true)")
        # Only orphans older than a day: a file of a transaction still running in another process
        # (`ioc ingest`, the scheduler) is not in the catalog yet, and deleting it would break
        # that commit (tests/integration/scheduler/test_faults.py shows it).
        cur.execute(
            f"CALL ducklake_delete_orphaned_files('{CATALOG_NAME}', older_than => now() - INTERVAL 1 DAY)"
        )
        return {"data_version": self.data_version()}


_STORES: dict[tuple[Path, bool], Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(data_dir: str | Path | None = None, *, read_only: bool = False) -> Store:
    """The process's store for ``data_dir`` (opened once per process and reused by its threads)."""
    key = (settings.data_dir(data_dir), read_only)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = Store(key[0], read_only=read_only)
            _STORES[key] = store
        return store
