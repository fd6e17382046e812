"""The access-control database: accounts, sessions, tokens, sign-in counters, OIDC flows and linked
identities, the audit log and (on PostgreSQL) the app's secret key.

Two backends behind one small interface (:class:`AuthDb`):

- **SQLite** (the default): one file in WAL mode, ``DATA_DIR/auth/auth.sqlite``. Every worker
  process of one machine writes here safely (one small write at a time, readers never blocked).
- **PostgreSQL** (``IOC_AUTH_DATABASE_URL``, or the catalog's database when ``IOC_CATALOG_URL``
  is a PostgreSQL URL): several app nodes on several machines share accounts, sessions, tokens,
  rate-limit counters and the audit log, so a session opened on one node works on every other and
  a logout on one ends it everywhere. The tables live in a schema of their own (``ioc_auth``) so
  they never collide with DuckLake's catalog tables in the same database.

Why not the DuckLake store: every web worker writes here (sessions, sign-in attempts, audit rows);
the store has one writer (ingestion) and many readers, and secrets stay out of the Parquet files
that analysts may copy.

Callers write SQL once, in SQLite's dialect with ``?`` or ``:name`` parameters; the PostgreSQL
backend translates the parameters. Rows answer both ``row[0]`` and ``row["column"]``.

The audit table is append-only in both: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL).
"""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import Any, Protocol

from ioc import settings
from ioc.auth.audit import AnonymousThrottle
from ioc.auth.keys import file_secret_key

# 2: anonymous_windows (aggregated audit of unauthenticated requests); 3: notify_* (ioc.notify);
# 4: login_counters and known_addresses (atomic sign-in throttling), oidc_flows bound to a browser,
# identities (accounts linked to an OpenID provider's issuer + sub); 5: report_runs (ioc.reports);
# 6: users.schools (principals: the school they see)
SCHEMA_VERSION = 6
PG_SCHEMA = "ioc_auth"  # the PostgreSQL schema of these tables (DuckLake's catalog lives in another)
# (table, column, definition) added after the table was first released: files and databases made
# before get them when opened (the CREATE TABLE statements below have them for new ones)
ADDED_COLUMNS = (("users", "schools", "TEXT NOT NULL DEFAULT ''"),)

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,                 -- NULL for accounts that sign in only through OpenID Connect
    role TEXT NOT NULL,
    districts TEXT NOT NULL DEFAULT '', -- comma-separated district codes (district officers)
    wards TEXT NOT NULL DEFAULT '',     -- comma-separated ward codes (district officers)
    schools TEXT NOT NULL DEFAULT '',   -- the school_id a principal sees
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,           -- sha256 of the cookie value; the value itself is never stored
    username TEXT,                      -- NULL for kiosk sessions
    device TEXT,                        -- kiosk device token name for kiosk sessions
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    ip TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,                 -- 'api' | 'kiosk'
    scopes TEXT NOT NULL DEFAULT '',    -- api: 'read', 'export'; kiosk: screen names
    districts TEXT NOT NULL DEFAULT '',
    wards TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked INTEGER NOT NULL DEFAULT 0,
    last_used_at REAL
);
DROP TABLE IF EXISTS attempts;          -- schema 2's sign-in attempts (counted, then checked: raced)
CREATE TABLE IF NOT EXISTS login_counters (
    key TEXT PRIMARY KEY,               -- 'pair:<name>|<address>', 'user:<name>', 'ip:<address>'
    failures INTEGER NOT NULL,
    since REAL NOT NULL                 -- the first failure of the window
);
CREATE TABLE IF NOT EXISTS known_addresses (
    username TEXT NOT NULL,             -- lower case
    ip TEXT NOT NULL,
    last_at REAL NOT NULL,              -- the last successful sign-in from there
    PRIMARY KEY (username, ip)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    event TEXT NOT NULL,
    outcome TEXT NOT NULL,              -- 'ok' | 'denied' | 'failed'
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT ''
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
DROP TABLE IF EXISTS oidc_states;       -- schema 2's flows, not bound to a browser
CREATE TABLE IF NOT EXISTS oidc_flows (
    state TEXT PRIMARY KEY,
    browser TEXT NOT NULL,              -- sha256 of the browser's ioc_oidc cookie (login CSRF)
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS identities (
    issuer TEXT NOT NULL,               -- an OpenID provider's issuer
    subject TEXT NOT NULL,              -- its 'sub' for the person: unique per issuer, never reassigned
    username TEXT NOT NULL UNIQUE,      -- the local account (one provider identity per account)
    linked_at REAL NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE TABLE IF NOT EXISTS anonymous_windows (
    bucket TEXT PRIMARY KEY,            -- event|ip|path|minute: the first unauthenticated request of a window
    at REAL NOT NULL
);
-- the outbox of notifications (ioc.notify): events as evaluation hands them over, the messages
-- made of them per contact point, and what each contact point was last told about each alert
CREATE TABLE IF NOT EXISTS notify_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    transition TEXT NOT NULL,           -- 'firing' | 'repeat' | 'resolved'
    at TEXT NOT NULL,                   -- the transition's time (ISO 8601): with the two above, the event's key
    event TEXT NOT NULL,                -- the AlertEvent as JSON
    enqueued_at REAL NOT NULL,
    routed_at REAL,                     -- NULL until the worker has handed it to its contact points
    UNIQUE (alert_id, transition, at)
);
CREATE INDEX IF NOT EXISTS notify_events_unrouted ON notify_events(routed_at);
CREATE TABLE IF NOT EXISTS notify_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_point TEXT NOT NULL,
    group_key TEXT NOT NULL,
    created_at REAL NOT NULL,
    message TEXT NOT NULL,              -- what is sent (JSON), made once so every attempt sends the same
    status TEXT NOT NULL,               -- 'pending' | 'sent' | 'failed'
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS notify_messages_due ON notify_messages(status, next_attempt_at);
CREATE TABLE IF NOT EXISTS notify_pending (
    event_id INTEGER NOT NULL,
    contact_point TEXT NOT NULL,
    group_key TEXT NOT NULL,
    since REAL NOT NULL,                -- when the event was enqueued: a group waits from its oldest
    message_id INTEGER,                 -- NULL until grouped into a message
    PRIMARY KEY (event_id, contact_point)
);
CREATE INDEX IF NOT EXISTS notify_pending_open ON notify_pending(message_id, contact_point, group_key);
CREATE TABLE IF NOT EXISTS report_runs (
    report TEXT NOT NULL,
    due TEXT NOT NULL,                  -- the schedule's fire time (ISO 8601) this run is for
    status TEXT NOT NULL,               -- 'pending' | 'sent' | 'failed'
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    file TEXT NOT NULL DEFAULT '',      -- the printed PDF once made (sent again as is on a retry)
    last_error TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    sent_at REAL,
    PRIMARY KEY (report, due)
);
CREATE TABLE IF NOT EXISTS notify_told (
    contact_point TEXT NOT NULL,
    alert_id INTEGER NOT NULL,
    at REAL NOT NULL,                   -- when a message about the alert was last made for the contact point
    PRIMARY KEY (contact_point, alert_id)
);
"""

# The same tables on PostgreSQL: times are float8 (REAL is float4 there), ids an identity column.
PG_TABLES = SQLITE_SCHEMA.replace(" REAL", " DOUBLE PRECISION").replace(
    "id INTEGER PRIMARY KEY AUTOINCREMENT", "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
)
PG_TABLES = (
    PG_TABLES[: PG_TABLES.index("CREATE TRIGGER")]
    + PG_TABLES[PG_TABLES.index("DROP TABLE IF EXISTS oidc_states") :]
)
PG_SCHEMA_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA};
SET LOCAL search_path TO {PG_SCHEMA};
{PG_TABLES}
{"".join(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {c} {d};" + chr(10) for t, c, d in ADDED_COLUMNS)}
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,              -- 'schema_version', 'secret_key'
    value TEXT NOT NULL
);
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE OR REPLACE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE OR REPLACE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
INSERT INTO meta (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}')
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
"""  # noqa: S608 - fixed text


class Row(Mapping[str, Any]):
    """A result row read by position (``row[0]``) or by column name (``row["name"]``)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        self._names = tuple(names)
        self._values = tuple(values)

    def __getitem__(self, key: int | str) -> Any:  # type: ignore[override]
        if isinstance(key, int):
            return self._values[key]
        try:
            return self._values[self._names.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"Row({dict(zip(self._names, self._values, strict=True))!r})"


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> list[Row]: ...


class Connection(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Cursor: ...


class AuthDb(ABC):
    """The access-control database of one deployment (thread-safe: one connection per thread and
    process; a forked worker opens its own)."""

    kind: str  # 'sqlite' | 'postgresql'
    errors: tuple[type[BaseException], ...]  # what a refused statement raises (e.g. the audit triggers)

    def __init__(self) -> None:
        self._local = threading.local()
        self.anonymous = AnonymousThrottle()  # aggregation of unauthenticated requests (ioc.auth.audit)

    @abstractmethod
    def connect(self) -> AbstractContextManager[Connection]:
        """A connection inside one write transaction, committed at the end (rolled back on error)."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """Rows of one read statement (outside any transaction)."""

    @abstractmethod
    def secret_key(self) -> str:
        """The app's secret key for this deployment, generated once."""

    @abstractmethod
    def describe(self) -> str:
        """Where the database is, for logs and messages (never a password)."""

    def close(self) -> None:
        """Close this thread's connection (a new one opens on the next use)."""
        con = getattr(self._local, "con", None)
        self._local.con = None
        if con is not None:
            con.close()


# -- SQLite --------------------------------------------------------------------------------------


class _SqliteCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Row | None:
        row = self._cursor.fetchone()
        return None if row is None else Row(row.keys(), tuple(row))

    def fetchall(self) -> list[Row]:
        return [Row(r.keys(), tuple(r)) for r in self._cursor.fetchall()]


class _SqliteConnection:
    def __init__(self, con: sqlite3.Connection) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> _SqliteCursor:
        return _SqliteCursor(self._con.execute(sql, params))


class SqliteAuthDb(AuthDb):
    """One SQLite file in WAL mode under ``DATA_DIR/auth`` (one machine)."""

    kind = "sqlite"
    errors = (sqlite3.DatabaseError,)

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.folder = self.data_dir / "auth"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "auth.sqlite"
        con = self._connection()
        if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # one script, one transaction: two processes starting at once both succeed (IF NOT EXISTS)
            con.executescript(f"BEGIN IMMEDIATE;\n{SQLITE_SCHEMA}\nCOMMIT;")
            self._add_columns(con)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        try:
            self.path.chmod(0o600)  # password hashes and session hashes: owner only
        except OSError:
            pass

    @staticmethod
    def _add_columns(con: sqlite3.Connection) -> None:
        """Columns added to tables of a file made by an older version (SQLite has no ADD COLUMN IF
        NOT EXISTS: looked up under the write lock, so two processes starting at once add it once)."""
        con.execute("BEGIN IMMEDIATE")
        try:
            for table, column, definition in ADDED_COLUMNS:
                present = {str(r[1]) for r in con.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=10000")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            self._local.con, self._local.pid = con, os.getpid()
        return con

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteConnection(con)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        return [Row(r.keys(), tuple(r)) for r in self._connection().execute(sql, params).fetchall()]

    def secret_key(self) -> str:
        return file_secret_key(self.data_dir)

    def describe(self) -> str:
        return str(self.path)


# -- PostgreSQL ----------------------------------------------------------------------------------

_PARAM = re.compile(r"'(?:[^']|'')*'|::|\?|:([A-Za-z_][A-Za-z0-9_]*)|%")


def to_pg(sql: str) -> str:
    """SQLite-style parameters (``?``, ``:name``) as psycopg's (``%s``, ``%(name)s``); every
    literal ``%`` doubled; ``?`` and ``:name`` inside quotes and ``::`` casts left alone."""

    def swap(match: re.Match[str]) -> str:
        text = match.group(0)
        if text.startswith("'"):
            return text.replace("%", "%%")  # psycopg reads % even inside quotes
        if text == "::":
            return text
        if text == "?":
            return "%s"
        if text == "%":
            return "%%"
        return f"%({match.group(1)})s"

    return _PARAM.sub(swap, sql)


class AuthDbUnreachable(RuntimeError):
    """The accounts database cannot be reached now (an outage, not a wrong statement)."""


class PostgresAuthDb(AuthDb):
    """The tables in schema ``ioc_auth`` of a PostgreSQL database shared by every app node."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        super().__init__()
        self.errors = (psycopg.Error,)
        self.url = url
        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as error:
            raise ValueError(
                f"accounts database URL {redact(url)!r} is not a PostgreSQL URL: {error}"
            ) from None
        options = str(params.get("options") or "")
        params["options"] = (options + f" -c search_path={PG_SCHEMA}").strip()
        params.setdefault("connect_timeout", 10)
        params.setdefault("application_name", "ioc-auth")
        self._conninfo = psycopg.conninfo.make_conninfo("", **params)
        self._pool_lock = threading.Lock()
        self._pool_pid = os.getpid()
        self._idle: list[Any] = []
        self._inherited: list[Any] = []
        # the tables are made (or brought up to date) at the first use, not here: a worker that
        # starts while the database is down starts anyway and answers 503 until it is back
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _new_connection(self) -> Any:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        try:
            return psycopg.connect(self._conninfo, autocommit=True, row_factory=_pg_rows)
        except psycopg.OperationalError as error:
            raise AuthDbUnreachable(
                f"cannot reach the accounts database {self.describe()} "
                f"(IOC_AUTH_DATABASE_URL, or IOC_CATALOG_URL when that is empty): {error}".strip()
            ) from error

    # A small pool per process: connections are taken for one statement or one transaction and
    # given back, so a server that starts a thread per request does not open a connection per
    # thread. A forked child never touches its parent's connections (it keeps them unclosed:
    # closing would end the parent's sessions on the server) and opens its own.

    POOL_SIZE = 8

    def _acquire(self) -> Any:
        with self._pool_lock:
            if self._pool_pid != os.getpid():
                self._inherited.extend(self._idle)
                self._idle, self._pool_pid = [], os.getpid()
            while self._idle:
                con = self._idle.pop()
                if not con.closed and not con.broken:
                    return con
        return self._new_connection()

    def _release(self, con: Any) -> None:
        from psycopg import pq  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        if con.closed or con.broken:
            return
        if con.info.transaction_status == pq.TransactionStatus.IDLE:
            with self._pool_lock:
                if self._pool_pid == os.getpid() and len(self._idle) < self.POOL_SIZE:
                    self._idle.append(con)
                    return
        con.close()

    @contextmanager
    def _borrowed(self) -> Iterator[Any]:
        con = self._acquire()
        try:
            if not self._schema_ready:
                self._ensure_schema(con)
            yield con
        finally:
            self._release(con)

    def _ensure_schema(self, con: Any) -> None:
        """Make the tables or bring them up to date, once per process (on its first connection
        that works; the threads of a process wait for the one that does it)."""
        with self._schema_lock:
            if self._schema_ready:
                return
            if self._schema_version(con) != SCHEMA_VERSION:
                with con.transaction():
                    # nodes starting at once: one creates, the others wait and find everything in place
                    con.execute("SELECT pg_advisory_xact_lock(hashtext('ioc_auth schema'))")
                    con.execute(PG_SCHEMA_SQL)
            self._schema_ready = True

    @staticmethod
    def _schema_version(con: Any) -> int | None:
        row = con.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{PG_SCHEMA}.meta",)).fetchone()
        if not row[0]:
            return None
        found = con.execute(
            f"SELECT value FROM {PG_SCHEMA}.meta WHERE name = 'schema_version'"  # noqa: S608 - a constant
        ).fetchone()
        return int(found[0]) if found else None

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        for attempt in (1, 2):
            with ExitStack() as stack:
                con = stack.enter_context(self._borrowed())
                try:
                    stack.enter_context(con.transaction())  # BEGIN: where a dropped connection fails
                except psycopg.OperationalError:
                    # the server restarted or the connection dropped: like query(), one retry on a
                    # new connection (nothing of the caller's block has run yet)
                    if attempt == 2:
                        raise
                    self.close()  # the idle ones are likely dead too
                    continue
                yield _PgConnection(con)
                return

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        for attempt in (1, 2):
            try:
                with self._borrowed() as con:
                    return list(con.execute(to_pg(sql), params).fetchall())
            except psycopg.OperationalError:
                # the server restarted or the connection dropped: one retry on a new connection
                if attempt == 2:
                    raise
                self.close()  # the idle ones are likely dead too
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the idle connections of this process."""
        with self._pool_lock:
            idle, self._idle = (self._idle, []) if self._pool_pid == os.getpid() else ([], self._idle)
        for con in idle:
            con.close()

    def secret_key(self) -> str:
        """Generated once for every node: the first INSERT wins, the others read what it wrote."""
        with self.connect() as con:
            con.execute(
                "INSERT INTO meta (name, value) VALUES ('secret_key', ?) ON CONFLICT (name) DO NOTHING",
                (secrets.token_hex(32),),
            )
            row = con.execute("SELECT value FROM meta WHERE name = 'secret_key'").fetchone()
        assert row is not None
        return str(row[0])

    def describe(self) -> str:
        return redact(self.url) + f" (schema {PG_SCHEMA})"


class _PgConnection:
    def __init__(self, con: Any) -> None:
        self._con = con

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Cursor:
        return self._con.execute(to_pg(sql), params)  # type: ignore[no-any-return]


def _pg_rows(cursor: Any) -> Any:
    names = [c.name for c in cursor.description or ()]

    def make(values: Sequence[Any]) -> Row:
        return Row(names, values)

    return make


def redact(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


# -- which database ----------------------------------------------------------------------------------

PG_SCHEMES = ("postgresql://", "postgres://")


def database_url() -> str | None:
    """The PostgreSQL URL of the accounts database, or None for the SQLite file.

    ``IOC_AUTH_DATABASE_URL`` when set (a postgresql:// URL, or ``sqlite`` to keep the file even
    with a PostgreSQL catalog); else the catalog's database when ``IOC_CATALOG_URL`` is a
    PostgreSQL URL; else None.
    """
    url = str(settings.get("auth_database_url") or "").strip()
    if url:
        if url.lower() == "sqlite":
            return None
        if not url.lower().startswith(PG_SCHEMES):
            raise ValueError(
                f"IOC_AUTH_DATABASE_URL={redact(url)!r}: expected a postgresql://user:password@host:port/database "
                "URL, 'sqlite', or nothing (= the catalog's PostgreSQL database, else DATA_DIR/auth/auth.sqlite)"
            )
        return url
    catalog = str(settings.get("catalog_url") or "").strip()
    if catalog.lower().startswith(PG_SCHEMES):
        return catalog
    return None


_OPEN: dict[str, AuthDb] = {}
_OPEN_LOCK = threading.Lock()


def open_db(data_dir: Path | str, url: str | None = None) -> AuthDb:
    """The process's AuthDb for this deployment: PostgreSQL at ``url`` (default: :func:`database_url`)
    or the SQLite file of ``data_dir``. One instance per database and process."""
    url = url if url is not None else database_url()
    key = url if url else str(Path(data_dir).resolve())
    with _OPEN_LOCK:
        db = _OPEN.get(key)
        if db is None or (isinstance(db, SqliteAuthDb) and not db.path.exists()):
            db = _OPEN[key] = PostgresAuthDb(url) if url else SqliteAuthDb(key)
        return db
