"""Which ``ioc scheduler`` runs the jobs: one leader per store, however many processes start.

Two ways to decide, chosen by the ``catalog_url`` setting:

* **embedded** (no PostgreSQL catalog): an exclusive ``flock`` on ``DATA_DIR/scheduler.lock``
  holding the owner's pid. One machine, one data directory, one scheduler: a second one refuses
  to start (:class:`SchedulerLock`). The kernel releases the lock when the process dies.
* **PostgreSQL** (``catalog_url = postgresql://…``): a session-level advisory lock,
  ``pg_try_advisory_lock(KEY)``, held on a dedicated autocommit connection to the catalog
  database (:class:`PgLeadership`). ``KEY`` is the first 8 bytes of
  ``sha256("ioc-scheduler:" + database name)`` as a signed big-endian 64-bit integer, so every
  node of one store agrees on it and two stores in one cluster never share it. The server
  releases the lock when the connection ends: at once when the process dies, and after the TCP
  keepalives (10 s idle + 3 x 5 s) when the machine or the network does.

In PostgreSQL mode the same connection keeps the *run ledger*, table ``ioc_scheduler_runs`` in the
catalog database, primary key ``(job_id, fire_time)``. A run is claimed by an insert that only
succeeds while this very connection still holds the lock (the check and the claim are one
statement), so a node that lost the lock can never start a run, and a fire time is claimed at most
twice (the first attempt and one re-run when that attempt was interrupted). The ledger is a plain
PostgreSQL table rather than a DuckLake table so that claiming a run (every few seconds, idle or
not) never moves the store's data version, which every cache is keyed by.

:func:`active_scheduler` and :func:`scheduler_nodes` say who is active and since when, for
``ioc scheduler --status``, ``ioc health``, the data-health page and ``/metrics``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ioc import settings

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler.lock"
STATE_NAME = "scheduler.state.json"
LEDGER_TABLE = "ioc_scheduler_runs"
APP_PREFIX = "ioc-scheduler"
MAX_ATTEMPTS = 2  # a fire time runs once, and is re-run at most once when that run was interrupted
# the active scheduler queries its lock session every 2 s; a holder silent for this long is frozen
# (SIGSTOP, a paused VM, swapped to death): its socket lives on, so PostgreSQL would keep its lock
# for ever; a standby ends that session to take over
HUNG_SECONDS = 20

# libpq and server settings of the lock connection: the client notices a dead server or network
# within ~15 s (tcp_user_timeout), the server drops a dead client's lock within ~25 s (keepalives);
# idle timeouts set for the whole server must never close this idle connection.
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
    "connect_timeout": 10,
}
_SERVER_OPTIONS = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    "-c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0 -c statement_timeout=15000"
)


class LockHeld(RuntimeError):
    """Another scheduler holds the lock."""


class LeadershipLost(RuntimeError):
    """The lock connection is gone (or no longer holds the lock): stop running jobs."""


class LeaderConfigError(ValueError):
    """The catalog URL cannot be used for the scheduler's lock."""


@dataclass(frozen=True)
class SchedulerNode:
    """One ``ioc scheduler`` process as the lock sees it."""

    node: str  # hostname:pid
    role: str  # 'active' | 'standby'
    since: datetime | None  # active: when it took the lock; standby: when it started waiting
    mode: str  # 'postgresql' | 'embedded'

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "role": self.role,
            "since": self.since.isoformat() if self.since else None,
            "mode": self.mode,
        }


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


def lock_key(database: str) -> int:
    """The advisory-lock key of a catalog database (documented in docs/scheduler.md)."""
    digest = hashlib.sha256(f"ioc-scheduler:{database}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _key_parts(key: int) -> tuple[int, int]:
    """``pg_locks`` shows a bigint advisory key as classid (high 32 bits) and objid (low 32 bits)."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    return unsigned >> 32, unsigned & 0xFFFF_FFFF


def _app_name(role: str, since: datetime, node: str) -> str:
    # application_name is visible to every session (pg_stat_activity) and at most 63 bytes long
    head = f"{APP_PREFIX} {role} {int(since.timestamp())} "
    host, _, pid = node.rpartition(":")
    room = 63 - len(head.encode()) - len(pid) - 1
    return f"{head}{host.encode()[:room].decode('ascii', 'ignore')}:{pid}"


def _parse_app_name(name: str) -> tuple[datetime | None, str] | None:
    parts = name.split(" ", 3)
    if len(parts) != 4 or parts[0] != APP_PREFIX:
        return None
    try:
        since = datetime.fromtimestamp(int(parts[2]), UTC)
    except ValueError:
        since = None
    return since, parts[3]


# -- embedded: a flock on DATA_DIR/scheduler.lock -------------------------------------------------
class SchedulerLock:
    """An exclusive, non-blocking ``flock`` on a file holding the owner's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise LockHeld(
                    f"another scheduler (pid {holder}) is running for this data directory: it holds "
                    f"{self.path}; only one may run at a time (stop it first, or use another --data-dir)"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # keep the file (removing it would race with a starting scheduler); just unlock it
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the running scheduler of ``data_dir``, or None when none holds the lock."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- PostgreSQL: an advisory lock and the run ledger ----------------------------------------------
def _connect(url: str, application_name: str) -> psycopg.Connection[Any]:
    # PostgreSQL only: the embedded store never loads psycopg (~190 modules)
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise LeaderConfigError(f"catalog_url (IOC_CATALOG_URL): not a PostgreSQL URL: {error}") from None
    options = f"{given.get('options') or ''} {_SERVER_OPTIONS}".strip()
    conninfo = make_conninfo(url, application_name=application_name, options=options, **_KEEPALIVE)
    return psycopg.connect(conninfo, autocommit=True)


class PgLeadership:
    """The scheduler's lock and run ledger on one dedicated PostgreSQL connection."""

    mode = "postgresql"

    def __init__(self, url: str, node: str | None = None) -> None:
        if not is_postgres_url(url):
            raise LeaderConfigError(
                f"catalog_url (IOC_CATALOG_URL): expected postgresql://user:password@host:port/database, got {url!r}"
            )
        self.url = url
        self.node = node or node_name()
        self.since: datetime | None = None  # when this process took the lock (None: standby)
        self.waiting_since = datetime.now(UTC)
        self.key: int | None = None
        self.database: str | None = None
        self._conn: psycopg.Connection[Any] | None = None
        self._mutex = threading.Lock()  # one statement at a time on the connection

    # the connection
    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self.url, _app_name("standby", self.waiting_since, self.node))
            row = self._conn.execute("SELECT current_database()").fetchone()
            self.database = str(row[0]) if row else ""
            self.key = lock_key(self.database)
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if self.since is not None:  # a standby again from now on
            self.waiting_since = datetime.now(UTC)
        self.since = None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
                pass

    @property
    def active(self) -> bool:
        return self.since is not None

    def try_acquire(self, role: str = "active") -> bool:
        """Take the lock if nobody holds it; False (a standby) otherwise or when the server is away.

        A standby that finds the holder's session silent for :data:`HUNG_SECONDS` ends it (the
        holder is frozen, not dead), so the next try can succeed. ``role`` names the session:
        ``once`` for ``ioc scheduler --once``, which runs no checks and is never taken for hung.
        """
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            try:
                conn = self._connection()
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
                if not (row and row[0]) and self._end_hung_holder(conn):
                    for _ in range(20):  # the ended session lets go of the lock within moments
                        time.sleep(0.1)
                        row = conn.execute("SELECT pg_try_advisory_lock(%s)", [self.key]).fetchone()
                        if row and row[0]:
                            break
                if not (row and row[0]):
                    return False
                self.since = datetime.now(UTC)
                conn.execute(
                    "SELECT set_config('application_name', %s, false)",
                    [_app_name(role, self.since, self.node)],
                )
                conn.execute(
                    f"""CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} (
                        job_id text NOT NULL,
                        fire_time timestamptz NOT NULL,
                        attempts integer NOT NULL,
                        status text NOT NULL,
                        node text NOT NULL,
                        started_at timestamptz NOT NULL,
                        finished_at timestamptz,
                        outcome text,
                        PRIMARY KEY (job_id, fire_time))"""
                )
                return True
            except psycopg.Error as error:
                log.warning("scheduler lock: PostgreSQL is not reachable: %s", error)
                self._drop()
                return False

    def _end_hung_holder(self, conn: psycopg.Connection[Any]) -> bool:
        high, low = _key_parts(self.key or 0)
        row = conn.execute(
            """SELECT a.pid, a.application_name,
                      extract(epoch FROM now() - greatest(a.query_start, a.state_change))
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = %s
                 AND l.objid::bigint = %s AND l.objsubid = 1
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                 AND a.application_name LIKE %s AND a.state = 'idle'""",
            [high, low, f"{APP_PREFIX} active %"],
        ).fetchone()
        if row is None or float(row[2] or 0) < HUNG_SECONDS:
            return False
        parsed = _parse_app_name(str(row[1]))
        holder = parsed[1] if parsed else f"backend {row[0]}"
        log.warning(
            "scheduler lock: the active scheduler %s has not checked its lock for %.0f s (frozen?): "
            "ending its PostgreSQL session so a standby can take over",
            holder,
            float(row[2]),
        )
        conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
        return True

    def _holds_sql(self) -> str:
        high, low = _key_parts(self.key or 0)  # integers: nothing from outside reaches this SQL
        held = "EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted "
        return held + f"AND classid::bigint = {high} AND objid::bigint = {low} AND objsubid = 1)"

    def check(self) -> None:
        """Raise :class:`LeadershipLost` unless this connection still holds the lock."""
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            if self._conn is None or self.since is None:
                raise LeadershipLost("this scheduler does not hold the lock")
            try:
                row = self._conn.execute(f"SELECT {self._holds_sql()}").fetchone()  # noqa: S608 - ints only
            except psycopg.Error as error:
                self._drop()
                raise LeadershipLost(f"the lock connection to PostgreSQL is lost: {error}") from None
            if not (row and row[0]):
                self._drop()
                raise LeadershipLost("the PostgreSQL session no longer holds the scheduler lock")

    def claim(self, job_id: str, fire_time: datetime) -> int | None:
        """Claim a run: its attempt number (1, or 2 for the re-run of an interrupted one), or None when
        the fire time was done already or attempted twice. Raises LeadershipLost when not the leader."""
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            if self._conn is None or self.since is None:
                raise LeadershipLost("this scheduler does not hold the lock")
            try:
                row = self._conn.execute(
                    f"""WITH fence AS (SELECT {self._holds_sql()} AS held),
                    claimed AS (
                        INSERT INTO {LEDGER_TABLE} AS r (job_id, fire_time, attempts, status, node, started_at)
                        SELECT %(job)s, %(fire)s, 1, 'running', %(node)s, now() FROM fence WHERE held
                        ON CONFLICT (job_id, fire_time) DO UPDATE
                            SET attempts = r.attempts + 1, node = EXCLUDED.node, started_at = EXCLUDED.started_at
                            WHERE r.status = 'running' AND r.attempts < {MAX_ATTEMPTS}
                        RETURNING attempts)
                    SELECT (SELECT held FROM fence), (SELECT attempts FROM claimed)""",  # noqa: S608 - fixed names
                    {"job": job_id, "fire": fire_time, "node": self.node},
                ).fetchone()
            except psycopg.Error as error:
                self._drop()
                raise LeadershipLost(f"the lock connection to PostgreSQL is lost: {error}") from None
            if row is None or not row[0]:
                self._drop()
                raise LeadershipLost("the PostgreSQL session no longer holds the scheduler lock")
            return int(row[1]) if row[1] is not None else None

    def finish(self, job_id: str, fire_time: datetime, outcome: str) -> None:
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            if self._conn is None:
                return  # lost: the run stays 'running' and counts as interrupted
            try:
                self._conn.execute(
                    f"UPDATE {LEDGER_TABLE} SET status = 'done', finished_at = now(), outcome = %s "  # noqa: S608
                    "WHERE job_id = %s AND fire_time = %s",
                    [outcome, job_id, fire_time],
                )
            except psycopg.Error as error:
                log.warning("scheduler ledger: cannot mark %s at %s done: %s", job_id, fire_time, error)
                self._drop()

    def last_runs(self) -> dict[str, tuple[datetime, str, int]]:
        """Per job, its latest claimed fire time, status ('running' | 'done') and attempts."""
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            if self._conn is None:
                raise LeadershipLost("this scheduler does not hold the lock")
            try:
                rows = self._conn.execute(
                    f"SELECT DISTINCT ON (job_id) job_id, fire_time, status, attempts FROM {LEDGER_TABLE} "  # noqa: S608
                    "ORDER BY job_id, fire_time DESC"
                ).fetchall()
            except psycopg.Error as error:
                self._drop()
                raise LeadershipLost(f"the lock connection to PostgreSQL is lost: {error}") from None
        return {str(r[0]): (r[1], str(r[2]), int(r[3])) for r in rows}

    def step_down(self) -> None:
        """Give the lock back (a clean stop) and close the connection."""
        import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with self._mutex:
            if self._conn is not None and self.since is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", [self.key])
                except psycopg.Error:
                    pass
            self._drop()

    close = step_down


def _flock_node(data_dir: Path) -> SchedulerNode | None:
    pid = lock_holder(data_dir)
    if pid is None:
        return None
    since: datetime | None = None
    try:
        status = json.loads((data_dir / STATE_NAME).read_text(encoding="utf-8"))
        if isinstance(status, dict) and status.get("pid") == pid:
            text = status.get("active_since") or status.get("started_at")
            since = datetime.fromisoformat(str(text)) if text else None
    except (OSError, ValueError):
        pass
    return SchedulerNode(f"{socket.gethostname()}:{pid}", "active", since, "embedded")


def scheduler_nodes(
    data_dir: Path | str | None = None, catalog_url: str | None = None
) -> list[SchedulerNode]:
    """Every scheduler process of the store, the active one first.

    PostgreSQL mode: the sessions of the catalog database named ``ioc-scheduler …`` and the
    session holding the lock (read from ``pg_stat_activity`` and ``pg_locks``; standbys keep their
    connection open while they wait). Embedded mode: the holder of ``DATA_DIR/scheduler.lock``.
    Raises ``psycopg.Error`` when PostgreSQL cannot be reached.
    """
    return scheduler_overview(data_dir, catalog_url, ledger=False)[0]


def scheduler_overview(
    data_dir: Path | str | None = None, catalog_url: str | None = None, *, ledger: bool = True
) -> tuple[list[SchedulerNode], dict[str, dict[str, Any]]]:
    """The scheduler processes (as :func:`scheduler_nodes`) and, in PostgreSQL mode, each job's
    latest run from the ledger (``fire_time``, ``started_at``, ``finished_at``, ``status``
    ('running' | 'done'), ``outcome``, ``node``) — whichever node made it. Embedded mode: no
    ledger (``{}``); the status file of the data directory has the runs."""
    url = str(settings.get("catalog_url", catalog_url) or "")
    if not is_postgres_url(url):
        node = _flock_node(settings.data_dir(data_dir))
        return ([node] if node else []), {}
    import psycopg  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

    jobs: dict[str, dict[str, Any]] = {}
    with _connect(url, f"{APP_PREFIX}-status") as conn:
        database = conn.execute("SELECT current_database()").fetchone()
        high, low = _key_parts(lock_key(str(database[0]) if database else ""))
        rows = conn.execute(
            """SELECT a.application_name, a.backend_start, a.client_addr::text, a.pid, l.pid IS NOT NULL
               FROM pg_stat_activity a
               LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
                    AND l.classid::bigint = %s AND l.objid::bigint = %s AND l.objsubid = 1
                    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
               WHERE a.datname = current_database()
                 AND (a.application_name LIKE %s OR l.pid IS NOT NULL)""",
            [high, low, f"{APP_PREFIX} %"],
        ).fetchall()
        if ledger:
            try:
                runs = conn.execute(
                    "SELECT DISTINCT ON (job_id) job_id, fire_time, started_at, finished_at, status, outcome, node "  # noqa: S608
                    f"FROM {LEDGER_TABLE} ORDER BY job_id, fire_time DESC"
                ).fetchall()
            except psycopg.errors.UndefinedTable:
                runs = []  # no scheduler was ever active on this catalog
            keys = ("fire_time", "started_at", "finished_at", "status", "outcome", "node")
            jobs = {str(r[0]): dict(zip(keys, r[1:], strict=True)) for r in runs}
    nodes = []
    for app, started, addr, backend, holds in rows:
        parsed = _parse_app_name(app or "")
        since, name = parsed if parsed else (started, f"{addr or 'local'} (backend {backend})")
        nodes.append(SchedulerNode(name, "active" if holds else "standby", since, "postgresql"))
    return sorted(nodes, key=lambda n: (n.role != "active", n.node)), jobs


def active_scheduler(
    data_dir: Path | str | None = None, catalog_url: str | None = None
) -> SchedulerNode | None:
    """The scheduler that runs the jobs now (node = hostname:pid, since when), or None."""
    for node in scheduler_nodes(data_dir, catalog_url):
        if node.role == "active":
            return node
    return None
