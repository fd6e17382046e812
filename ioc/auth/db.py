"""The access-control database: one SQLite file in WAL mode under ``DATA_DIR/auth``.

Why not the DuckLake store: every web worker writes here (sessions, sign-in attempts, audit rows);
the store has one writer (ingestion) and many readers. SQLite in WAL mode lets many processes write
small rows safely (one at a time, readers never blocked), and keeps secrets out of the Parquet
files that analysts may copy.

The audit table is append-only: triggers refuse UPDATE and DELETE.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,                 -- NULL for accounts that sign in only through OpenID Connect
    role TEXT NOT NULL,
    districts TEXT NOT NULL DEFAULT '', -- comma-separated district codes (district officers)
    wards TEXT NOT NULL DEFAULT '',     -- comma-separated ward codes (district officers)
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
CREATE TABLE IF NOT EXISTS attempts (
    key TEXT NOT NULL,                  -- 'user:<name>' or 'ip:<address>'
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key, at);
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
CREATE TABLE IF NOT EXISTS oidc_states (
    state TEXT PRIMARY KEY,
    verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    next TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class AuthDb:
    """The access-control database of one data directory (thread-safe: one connection per thread)."""

    def __init__(self, data_dir: Path | str) -> None:
        self.folder = Path(data_dir) / "auth"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "auth.sqlite"
        self._local = threading.local()
        con = self._connection()
        if con.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            # one script, one transaction: two processes starting at once both succeed (IF NOT EXISTS)
            con.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")
        try:
            self.path.chmod(0o600)  # password hashes and session hashes: owner only
        except OSError:
            pass

    def _connection(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=10000")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            self._local.con = con
        return con

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one write transaction (BEGIN IMMEDIATE ... COMMIT / ROLLBACK)."""
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self._connection().execute(sql, params).fetchall()


_OPEN: dict[str, AuthDb] = {}
_OPEN_LOCK = threading.Lock()


def open_db(data_dir: Path | str) -> AuthDb:
    """The process's AuthDb for ``data_dir`` (one per folder)."""
    key = str(Path(data_dir).resolve())
    with _OPEN_LOCK:
        db = _OPEN.get(key)
        if db is None or not db.path.exists():
            db = _OPEN[key] = AuthDb(key)
        return db
