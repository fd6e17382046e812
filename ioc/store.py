"""The one module that touches the database.

The store is a DuckLake lakehouse: a catalog and Parquet data files. By default (``IOC_CATALOG_URL``
empty) the catalog is a SQLite database in WAL mode under the data directory; with
``IOC_CATALOG_URL=postgresql://...`` it is a PostgreSQL database shared by every node.
``IOC_DATA_PATH`` moves the data files to a shared folder or S3-compatible object storage.
One writer process (ingestion, scheduler) and many reader processes (web workers) use it at once;
every process opens its own in-memory DuckDB instance and attaches the catalog. Inside a process
each thread gets its own cursor.

Everything else goes through :class:`Store`: ``execute(sql, params)`` with bound parameters for
reads, ``write(fn)`` for a transaction that retries when another writer holds the catalog.
Identifiers that must be spliced into SQL are quoted by :func:`quote_ident` only.
"""

from __future__ import annotations

import contextvars
import dataclasses
import importlib
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb

from ioc import migrations, settings

log = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_NAME = "lake"
EXTENSIONS = ("ducklake", "sqlite_scanner")  # the embedded store's; Location.extensions() says which
PG_SCHEMES = ("postgresql", "postgres")


# stores' data versions read in the current one_version() block: id(store) -> version
_ONE_VERSION: contextvars.ContextVar[dict[int, int] | None] = contextvars.ContextVar(
    "ioc_one_version", default=None
)


@contextmanager
def one_version() -> Iterator[None]:
    """A block in which each store's data version is read once (Store.data_version)."""
    token = _ONE_VERSION.set({})
    try:
        yield
    finally:
        _ONE_VERSION.reset(token)


def pin_versions() -> None:
    """Start a one_version block that ends with :func:`unpin_versions` (Flask's request hooks)."""
    _ONE_VERSION.set({})


def unpin_versions() -> None:
    _ONE_VERSION.set(None)


def _unpin(store: object) -> None:
    pinned = _ONE_VERSION.get()
    if pinned is not None:
        pinned.pop(id(store), None)


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
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    def create(self) -> None:
        for folder in (self.catalog.parent, self.files, self.archive, self.logs):
            folder.mkdir(parents=True, exist_ok=True)


def sql_literal(text: str) -> str:
    """A SQL string literal (for the few statements that take no bound parameters: ATTACH, SECRET)."""
    return "'" + text.replace("'", "''") + "'"


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for every message that shows a URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{netloc[1]}").geturl()


def parse_catalog_url(url: str, setting: str = "IOC_CATALOG_URL") -> dict[str, str]:
    """libpq connection parameters of a ``postgresql://user:password@host:port/database?...`` URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise StoreError(f"{setting}: not a valid URL ({mask_url(url)}): {error}") from None
    if parts.scheme not in PG_SCHEMES:
        raise StoreError(
            f"{setting}: the catalog must be a postgresql://user:password@host:port/database URL "
            f"(or empty for the embedded SQLite catalog), got scheme {parts.scheme or '(none)'!r} "
            f"in {mask_url(url)}"
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise StoreError(f"{setting}: name the catalog database after the host, e.g. postgresql://host/ioc")
    params = {"dbname": database}
    if parts.hostname:
        params["host"] = unquote(parts.hostname)
    if port is not None:
        params["port"] = str(port)
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password is not None:
        params["password"] = unquote(parts.password)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        params[key] = value
    return params


def conninfo(params: dict[str, str], *, password: bool = True) -> str:
    """A libpq ``key='value' ...`` string (with or without the password)."""

    def quote(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={quote(v)}" for k, v in params.items() if password or k != "password")


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class Location:
    """Where a lake lives: its catalog (SQLite file or PostgreSQL database) and its data files.

    Built from IOC_CATALOG_URL and IOC_DATA_PATH (or explicit values, e.g. the target of
    ``ioc store migrate``). It knows which DuckDB extensions and secrets it needs and how to
    attach itself; nothing here is printed with a password or a secret key in it.
    """

    layout: Layout
    catalog_url: str = field(default="", repr=False)
    data_path_setting: str = ""
    pg: dict[str, str] | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:  # never the password
        return f"Location({self.describe()})"

    @classmethod
    def from_settings(
        cls, layout: Layout, catalog_url: str | None = None, data_path: str | None = None
    ) -> Location:
        url = str(settings.get("catalog_url") if catalog_url is None else catalog_url).strip()
        raw = str(settings.get("data_path") if data_path is None else data_path).strip()
        pg = parse_catalog_url(url) if url else None
        return cls(layout, url, _normalise_data_path(raw), pg)

    # -- describing ------------------------------------------------------------------------
    @property
    def is_postgres(self) -> bool:
        return self.pg is not None

    @property
    def is_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @property
    def data_path(self) -> str:
        """The data path this configuration asks for (the default when IOC_DATA_PATH is empty)."""
        return self.data_path_setting or f"{self.layout.files}/"

    @property
    def catalog_text(self) -> str:
        """The catalog for messages: the SQLite file, or the URL with its password masked."""
        return mask_url(self.catalog_url) if self.pg is not None else str(self.layout.catalog)

    def describe(self) -> str:
        return f"catalog {self.catalog_text}, data {self.data_path}"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message."""
        values = [str(settings.get("s3_secret_access_key"))] if self.is_s3 else []
        if self.pg is not None and self.pg.get("password"):
            values.append(self.pg["password"])
        return tuple(v for v in values if v)

    def extensions(self) -> tuple[str, ...]:
        """The DuckDB extensions this configuration needs (and no others)."""
        names = ["ducklake", "postgres_scanner" if self.is_postgres else "sqlite_scanner"]
        if self.is_s3:
            names.append("httpfs")
        return tuple(names)

    @property
    def _pg_secret(self) -> str:
        return "ioc_catalog_" + str(abs(hash(self.catalog_url)) % 10**12)

    # -- PostgreSQL, directly (psycopg) -------------------------------------------------------
    def pg_connect(self, timeout: float = 10.0) -> Any:
        """A psycopg connection (autocommit) to the catalog database; StoreError when unreachable."""
        assert self.pg is not None
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        try:
            return psycopg.connect(conninfo(self.pg), autocommit=True, connect_timeout=max(1, int(timeout)))
        except psycopg.Error as error:
            raise StoreError(
                f"IOC_CATALOG_URL: cannot connect to the PostgreSQL catalog {self.catalog_text}: "
                f"{_pg_reason(error, self.secrets)}"
            ) from None

    def pg_lake(self) -> tuple[bool, str | None]:
        """(the database holds a DuckLake, its stored data path)."""
        with self.pg_connect() as conn:
            found = conn.execute("SELECT to_regclass('ducklake_metadata') IS NOT NULL").fetchone()
            if not found or not found[0]:
                return False, None
            row = conn.execute("SELECT value FROM ducklake_metadata WHERE key = 'data_path'").fetchone()
            return True, (str(row[0]) if row and row[0] is not None else None)

    def sqlite_data_path(self, con: duckdb.DuckDBPyConnection) -> str | None:
        """The data path stored in the embedded catalog (None when there is no catalog yet).

        Read through ``con`` (prepared: DuckDB's own SQLite, never Python's sqlite3: see
        Store.data_version).
        """
        if not self.layout.catalog.exists():
            return None
        try:
            row = con.execute(
                "SELECT value FROM sqlite_scan(?, 'ducklake_metadata') WHERE key = 'data_path'",
                [str(self.layout.catalog)],
            ).fetchone()
        except duckdb.Error:
            return None
        return str(row[0]) if row and row[0] is not None else None

    def mismatch(self, stored: str | None, asked: str) -> StoreError | None:
        """The error for asking another data path than the one the catalog keeps (None when equal)."""
        if stored is None or stored.rstrip("/") == asked.rstrip("/"):
            return None
        return StoreError(
            f"IOC_DATA_PATH: the catalog {self.catalog_text} keeps its data files in {stored}, not "
            f"{asked}: set IOC_DATA_PATH to that path, or, if the files were moved to {asked}, "
            f"record that with `ioc store repoint --data-path {asked}` (see docs/store.md)"
        )

    # -- the lake ------------------------------------------------------------------------------
    def exists(self) -> bool:
        """The catalog already holds a lake (without creating anything)."""
        if self.pg is None:
            return self.layout.catalog.exists()
        return self.pg_lake()[0]

    def prepare(self, con: duckdb.DuckDBPyConnection) -> None:
        """Load the extensions and create the (in-memory) secrets this location needs."""
        _load_extensions(con, self.extensions())
        if self.pg is not None and self.pg.get("password"):
            con.execute(
                f"CREATE OR REPLACE SECRET {self._pg_secret} "
                f"(TYPE postgres, PASSWORD {sql_literal(self.pg['password'])})"
            )
        if self.is_s3:
            bucket = self.data_path[len("s3://") :].split("/", 1)[0]
            options = [
                "TYPE s3",
                f"REGION {sql_literal(str(settings.get('s3_region')))}",
                f"URL_STYLE {sql_literal(str(settings.get('s3_url_style')))}",
                f"USE_SSL {'true' if settings.get('s3_use_ssl') else 'false'}",
                f"SCOPE {sql_literal('s3://' + bucket)}",
            ]
            if settings.get("s3_endpoint"):
                options.append(f"ENDPOINT {sql_literal(str(settings.get('s3_endpoint')))}")
            if settings.get("s3_access_key_id"):
                options.append(f"KEY_ID {sql_literal(str(settings.get('s3_access_key_id')))}")
                options.append(f"SECRET {sql_literal(str(settings.get('s3_secret_access_key')))}")
            name = "ioc_s3_" + re.sub(r"[^a-z0-9_]", "_", bucket.lower())
            con.execute(f"CREATE OR REPLACE SECRET {name} ({', '.join(options)})")

    def check_data_path(self, con: duckdb.DuckDBPyConnection, data_path: str, *, create: bool) -> None:
        """The data path is reachable: the bucket exists, or the folder exists (created if asked)."""
        if data_path.startswith("s3://"):
            probe = data_path + ".ioc-probe-*"
            try:
                con.execute("SELECT count(*) FROM glob(?)", [probe]).fetchall()
            except duckdb.Error as error:
                endpoint = settings.get("s3_endpoint") or "AWS S3"
                raise StoreError(
                    f"IOC_DATA_PATH: cannot use {data_path} on {endpoint} (see the IOC_S3_* settings): "
                    f"{_first_line(_scrub(str(error), self.secrets))}"
                ) from None
            return
        folder = Path(data_path)
        if create:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"IOC_DATA_PATH: cannot create the data folder {folder}: {error}") from None
        elif not folder.is_dir():
            raise StoreError(f"IOC_DATA_PATH: the data folder {folder} does not exist")

    def attach(
        self,
        con: duckdb.DuckDBPyConnection,
        alias: str,
        *,
        data_path: str | None,
        read_only: bool = False,
        snapshot: int | None = None,
        override: bool = False,
    ) -> None:
        """``ATTACH`` this lake as ``alias`` (``data_path`` None = the one stored in the catalog;
        ``override``: read and write ``data_path`` whatever the catalog names)."""
        options = []
        if self.pg is not None:
            target = "ducklake:postgres:" + conninfo(self.pg, password=False)
            if self.pg.get("password"):
                options.append(f"META_SECRET {sql_literal(self._pg_secret)}")
        else:
            target = f"ducklake:sqlite:{self.layout.catalog}"
            options.append("META_JOURNAL_MODE 'wal'")
        if data_path is not None:
            options.append(f"DATA_PATH {sql_literal(data_path)}")
            if override:  # for this process only: the catalog keeps the path it names
                options.append("OVERRIDE_DATA_PATH true")
        if read_only:
            options.append("READ_ONLY")
        if snapshot is not None:
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        sql = f"ATTACH IF NOT EXISTS {sql_literal(target)} AS {alias}"
        if options:
            sql += f" ({', '.join(options)})"
        for attempt in range(5):
            try:
                con.execute(sql)
                return
            except duckdb.Error as error:
                text = _scrub(str(error), self.secrets)
                if "does not match existing data path" in text:
                    stored = re.search(r'in the catalog "([^"]*)"', text)
                    mismatch = self.mismatch(stored.group(1) if stored else "another place", str(data_path))
                    raise mismatch or StoreError(text) from None
                # two processes creating a new PostgreSQL catalog at once: the loser retries
                if self.pg is not None and attempt < 4 and ("already exists" in text or "duplicate" in text):
                    time.sleep(0.2 * (attempt + 1))
                    continue
                setting = "IOC_CATALOG_URL" if self.pg is not None else "IOC_DATA_DIR"
                raise StoreError(
                    f"{setting}: cannot attach the catalog {self.catalog_text}: {_first_line(text)}"
                ) from None


def _normalise_data_path(raw: str) -> str:
    """'' (the default), an absolute folder, or s3://bucket/prefix/ — always ending in '/'."""
    if not raw:
        return ""
    if "://" in raw:
        scheme = raw.split("://", 1)[0].lower()
        if scheme != "s3":
            raise StoreError(
                f"IOC_DATA_PATH: a folder or s3://bucket/prefix/ is supported, got scheme {scheme!r} in {raw}"
            )
        bucket = raw[len("s3://") :].split("/", 1)[0]
        if not bucket:
            raise StoreError(f"IOC_DATA_PATH: name the bucket, e.g. s3://ioc-lake/data/ (got {raw})")
        return raw if raw.endswith("/") else raw + "/"
    return str(Path(raw).expanduser().resolve()) + "/"


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " ".join(lines[:3])


def _pg_reason(error: BaseException, secrets: Sequence[str]) -> str:
    text = _scrub(str(error), secrets)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        reason = "wrong user name or password"
    elif "does not exist" in lowered and "database" in lowered:
        reason = "the database does not exist (create it first: createdb)"
    elif "connection refused" in lowered or "could not translate host" in lowered or "timeout" in lowered:
        reason = "the server is unreachable"
    else:
        reason = "connection failed"
    return f"{reason} ({_first_line(text)})"


def _load_extensions(con: duckdb.DuckDBPyConnection, names: Sequence[str] = EXTENSIONS) -> None:
    """Load the DuckDB extensions straight from their PyPI wheels, never from the network.

    Loaded by path, not INSTALLed: an install copies each extension (about 30 MB) into an extension
    directory; read where pip put them, they exist once per installation, and a data directory on
    a small or full disk never holds a copy."""
    version = "v" + duckdb.__version__
    for name in names:
        try:
            module = importlib.import_module(f"duckdb_extension_{name}")
        except ImportError:
            module = None
        wheel_file = (
            Path(str(module.__file__)).parent / "extensions" / version / f"{name}.duckdb_extension"
            if module is not None
            else Path(f"duckdb_extension_{name}")
        )
        if not wheel_file.exists():
            raise StoreError(
                f"DuckDB extension {name!r} for DuckDB {duckdb.__version__} is not installed "
                f"(expected {wheel_file}); install duckdb-extension-{name.replace('_', '-')}=={duckdb.__version__}"
            )
        con.execute(f"LOAD {sql_literal(str(wheel_file))}")


_RACY_STAMP_NS = 1_000_000_000  # a catalog stamp younger than this is not trusted (data_version)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def is_lock_error(error: BaseException) -> bool:
    """A commit that lost a race with another writer (worth running again)."""
    text = str(error).lower()
    return (
        "database is locked" in text
        or "conflict" in text
        or "busy" in text
        # a PostgreSQL catalog: two commits took the same snapshot id, or serialisation failed
        or "duplicate key value" in text
        or "could not serialize" in text
    )


def is_connection_lost(error: BaseException) -> bool:
    """The PostgreSQL catalog refused or dropped the connection: an outage, not a bug (a catalog
    restarted, failed over or stopped while DuckLake was reading it)."""
    text = str(error).lower()
    return any(
        sign in text
        for sign in (
            "server closed the connection",
            "terminating connection",
            "connection refused",
            "could not connect",
            "not currently accepting connections",
            "no connection to the server",
            "ssl syscall error",
        )
    )


def store_exists(
    data_dir: str | Path | None = None, *, catalog_url: str | None = None, data_path: str | None = None
) -> bool:
    """A lake exists where the settings point (the SQLite file, or the PostgreSQL database holds one)."""
    return Location.from_settings(Layout(settings.data_dir(data_dir)), catalog_url, data_path).exists()


class Store:
    """An open store: one DuckDB instance per process with the DuckLake catalog attached.

    ``catalog_url`` and ``data_path`` default to the IOC_CATALOG_URL and IOC_DATA_PATH settings.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        migrate: bool = True,
        read_only: bool = False,
        catalog_url: str | None = None,
        data_path: str | None = None,
    ) -> None:
        self.layout = Layout(settings.data_dir(data_dir))
        self.location = Location.from_settings(self.layout, catalog_url, data_path)
        self.read_only = read_only
        location = self.location
        stored: str | None = None
        if location.is_postgres:
            exists, stored = location.pg_lake()
        else:
            exists = self.layout.catalog.exists()
        if read_only and not exists:
            where = (
                f"the PostgreSQL catalog {location.catalog_text}"
                if location.is_postgres
                else str(self.layout.root)
            )
            raise StoreError(
                f"no store in {where}: run `ioc demo`, `ioc ingest` or `ioc store migrate` first "
                "(or point --data-dir / IOC_DATA_DIR / IOC_CATALOG_URL at an existing store)"
            )
        # DuckLake keeps the data path in the catalog when it creates a lake. The embedded store
        # asks for its configured path every time (a mismatch is an error naming IOC_DATA_PATH);
        # nodes sharing a PostgreSQL catalog may leave IOC_DATA_PATH empty and use the stored one.
        attach_path: str | None = location.data_path
        if location.is_postgres and exists and not location.data_path_setting:
            attach_path = None
            if stored:  # what the stored path needs (httpfs and the S3 secret for s3://)
                location = self.location = dataclasses.replace(location, data_path_setting=stored)
        self.data_path = location.data_path
        if (
            location.is_postgres
            and attach_path is not None
            and (error := location.mismatch(stored, attach_path))
        ):
            raise error
        self.layout.create()
        self._local = threading.local()
        self._version_stamp: tuple[tuple[object, ...], int] | None = None
        self._lock = threading.Lock()
        self._pg_conns: list[Any] = []
        self._con = duckdb.connect(
            ":memory:",
            config={
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            },
        )
        try:
            location.prepare(self._con)
            self._override = False
            self.moved_from: str | None = None  # the data path the catalog names, when not this one
            if not location.is_postgres and attach_path is not None and exists:
                stored = location.sqlite_data_path(self._con)
                if location.data_path_setting or location.is_s3:
                    if error := location.mismatch(stored, attach_path):
                        raise error
                elif location.mismatch(stored, attach_path):
                    # A data directory copied, restored or mounted elsewhere: its files are in its
                    # own lake/files/ whatever path the catalog was created with (resolved at open;
                    # `ioc store repoint` records the new path in the catalog).
                    self._override = True
                    self.moved_from = stored
                    log.info("the catalog names %s; the store's files are read from %s", stored, attach_path)
            self._con.execute(f"SET GLOBAL TimeZone = '{settings.get('timezone')}'")
            location.check_data_path(self._con, self.data_path, create=not read_only)
            self._attach_path = attach_path
            self._attach(self._con)
        except BaseException:
            self._con.close()
            raise
        try:
            if migrate and not read_only:
                migrations.migrate(self)
            elif migrate:
                migrations.check(self)
        except BaseException:
            self._con.close()  # a catalog that dropped mid-migration: nothing keeps this connection
            raise

    @property
    def identity(self) -> str:
        """The same text on every node that opens the same lake (for shared cache keys); no secrets."""
        if self.location.is_postgres:
            assert self.location.pg is not None
            pg = self.location.pg
            return f"postgres://{pg.get('host', '')}:{pg.get('port', '5432')}/{pg['dbname']}"
        return f"sqlite:{self.layout.catalog}"

    def describe(self) -> str:
        """Where the store lives, for messages (password masked)."""
        return f"catalog {self.location.catalog_text}, data {self.data_path}"

    # -- connections -------------------------------------------------------------------
    def _attach(self, con: duckdb.DuckDBPyConnection) -> None:
        self.location.attach(
            con, CATALOG_NAME, data_path=self._attach_path, read_only=self.read_only, override=self._override
        )
        con.execute(f"USE {CATALOG_NAME}")

    def attach_snapshot(self, alias: str, snapshot: int) -> None:
        """Attach the lake again, read only, as ``alias`` at data version ``snapshot`` (time travel)."""
        with self._lock:
            self.location.attach(
                self._con,
                alias,
                data_path=self._attach_path,
                read_only=True,
                snapshot=snapshot,
                override=self._override,
            )

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
        for conn in self._pg_conns:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
        self._pg_conns = []
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

        Inside a :func:`one_version` block (a web request, a page the warmer draws) it is read once
        and then answered from the block: what the block computes is all of one version, and a
        page asking for fifty answers asks the catalog once. This store's own commits end that.

        Every cached answer asks for it, so it must be cheap. With a PostgreSQL catalog it is one
        indexed query over this thread's own psycopg connection (reconnected after a failure).
        With the SQLite catalog every commit writes the catalog (its WAL file), so while neither
        file's size and mtime have changed since the last read the answer is the same (a stat of
        two files, microseconds); otherwise it is read through this store's own DuckDB connection
        (milliseconds).

        Never with Python's ``sqlite3`` module: DuckDB's sqlite_scanner brings its own copy of
        SQLite, and two SQLite libraries on one file in one process break each other's POSIX
        locks (closing any descriptor of a file drops all of the process's fcntl locks on it;
        SQLite works around that only within one copy of itself). A writer could then checkpoint
        and reset the WAL, or truncate the -shm index, under this process's DuckDB: "disk I/O
        error", "database disk image is malformed", and SIGBUS on the mapped -shm
        (tests/integration/test_store_concurrency.py, docs/store.md).
        """
        pinned = _ONE_VERSION.get()
        if pinned is not None:
            version = pinned.get(id(self))
            if version is None:
                version = pinned[id(self)] = self._read_version()
            return version
        return self._read_version()

    def _read_version(self) -> int:
        if self.location.is_postgres:
            return self._pg_version()
        catalog = self.layout.catalog
        now = time.time_ns()
        stats = [_stat(path) for path in (catalog, catalog.with_name(catalog.name + "-wal"))]
        stamp = tuple((st.st_size, st.st_mtime_ns) if st else None for st in stats)
        known = self._version_stamp
        if known is not None and known[0] == stamp:
            return known[1]
        # the stamp is taken first: a commit in between only makes the next call read again
        version = self._sqlite_version()
        # A commit in the same file-system clock tick as a stamp can leave size and mtime as they
        # were (the WAL is rewritten from its start after a checkpoint): a stamp that young is not
        # kept, so the next call reads again (as git does with racily clean files).
        newest = max((st.st_mtime_ns for st in stats if st), default=0)
        self._version_stamp = (stamp, version) if now - newest > _RACY_STAMP_NS else None
        return version

    def _sqlite_version(self) -> int:
        """The newest committed snapshot id in the embedded catalog, read by DuckDB's own SQLite.

        On a cursor of its own per thread: it never ends a result the thread's cursor is still
        reading, nor sees that cursor's open transaction.
        """
        cur = getattr(self._local, "version_cursor", None)
        if cur is None:
            with self._lock:
                cur = self._local.version_cursor = self._con.cursor()
        row = cur.execute(f"SELECT id FROM {CATALOG_NAME}.current_snapshot()").fetchone()  # noqa: S608
        return int(row[0])  # type: ignore[index]

    def _pg_version(self) -> int:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        for attempt in range(2):
            conn = getattr(self._local, "pg", None)
            if getattr(self._local, "pg_pid", None) != os.getpid():
                conn = None  # a forked child never uses (or closes) its parent's connection
            if conn is None or conn.closed:
                conn = self._local.pg = self.location.pg_connect(timeout=5)
                self._local.pg_pid = os.getpid()
                try:  # a hung server fails the readiness check instead of hanging it
                    conn.execute("SET statement_timeout = 5000")
                except psycopg.Error:
                    pass
                with self._lock:
                    self._pg_conns = [c for c in self._pg_conns if not c.closed] + [conn]
            try:
                row = conn.execute("SELECT max(snapshot_id) FROM ducklake_snapshot").fetchone()
                return int(row[0])
            except psycopg.Error as error:
                self._local.pg = None
                try:
                    conn.close()
                except psycopg.Error:
                    pass
                if attempt:
                    raise StoreError(
                        f"IOC_CATALOG_URL: the PostgreSQL catalog {self.location.catalog_text} does not "
                        f"answer: {_pg_reason(error, self.location.secrets)}"
                    ) from None
        raise AssertionError("unreachable")

    def ping(self) -> int:
        """Check that the catalog answers now (readiness); returns the data version.

        Raises StoreError naming the setting and the reason when it does not. Reads the catalog
        itself every time (no cached answer): one query on PostgreSQL, one read of the SQLite
        catalog through this store's DuckDB otherwise (never Python's sqlite3: see data_version).
        """
        if self.location.is_postgres:
            return self._pg_version()
        catalog = self.layout.catalog
        if not catalog.exists():  # DuckDB's SQLite would only fail on it later
            raise StoreError(f"IOC_DATA_DIR: the catalog {catalog} is gone")
        try:
            return self._sqlite_version()
        except (duckdb.Error, TypeError) as error:
            reason = "it holds no snapshot" if isinstance(error, TypeError) else _first_line(str(error))
            raise StoreError(f"IOC_DATA_DIR: the catalog {catalog} cannot be read: {reason}") from None

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
                _unpin(self)
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
            _unpin(self)

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


_STORES: dict[tuple[Path, bool, str, str], Store] = {}
_STORES_LOCK = threading.Lock()


def open_store(data_dir: str | Path | None = None, *, read_only: bool = False) -> Store:
    """The process's store for ``data_dir`` (opened once per process and reused by its threads)."""
    catalog_url, data_path = str(settings.get("catalog_url")), str(settings.get("data_path"))
    key = (settings.data_dir(data_dir), read_only, catalog_url, data_path)
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = Store(key[0], read_only=read_only, catalog_url=catalog_url, data_path=data_path)
            _STORES[key] = store
        return store
