"""The append-only audit log: who did what, when, from where, and whether it was allowed.

Requests without credentials are audited too, but aggregated so that a wall of signed-out kiosks
or a crawler cannot flood the log (:class:`AnonymousThrottle`): the first such request from an
address to a path in a minute is written at once; the others of that minute are counted and
written as one summary row when the minute is over.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ioc.auth.db import AuthDb

log = logging.getLogger(__name__)

EVENTS = (
    "sign_in",
    "sign_out",
    "refused",
    "anonymous",  # a request without credentials (or with an unknown/expired session) to a data path
    "export",
    "api_token",
    "kiosk",
    "account",
    "token",
    "ingest",
    "alert",  # an action on an alert (ioc.alerts.actions): detail 'ack|assign|comment|resolve: text'
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    event: str
    outcome: str
    target: str
    detail: str
    ip: str


INSERT = "INSERT INTO audit (at, actor, event, outcome, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?)"


def _row(event: str, outcome: str, actor: str, target: str, detail: str, ip: str, at: float) -> tuple:
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    return (at, actor, event, outcome, target[:500], detail[:2000], ip)


def record(
    db: AuthDb,
    event: str,
    outcome: str = "ok",
    *,
    actor: str = "",
    target: str = "",
    detail: str = "",
    ip: str = "",
) -> None:
    row = _row(event, outcome, actor, target, detail, ip, time.time())
    with db.connect() as con:
        con.execute(INSERT, row)


def entries(
    db: AuthDb,
    *,
    limit: int = 200,
    event: str | None = None,
    actor: str | None = None,
    since: float | None = None,
) -> list[AuditEntry]:
    """Newest first."""
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("event", event), ("actor", actor)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    sql = "SELECT id, at, actor, event, outcome, target, detail, ip FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = db.query(sql + " ORDER BY id DESC LIMIT ?", (*params, int(limit)))
    return [AuditEntry(**dict(r)) for r in rows]


# -- unauthenticated requests, aggregated ---------------------------------------------------------

WINDOW_SECONDS = 60
PATHS_PER_ADDRESS = 20  # distinct paths listed per address and minute; more fold into one row
OTHER_PATHS = "(other paths)"
UNWRITTEN_ROWS = 10_000  # summary rows kept while the database does not take them


class AnonymousThrottle:
    """One audit row per (event, address, path) and minute, plus one summary row with the count of
    the repeats. The first row is claimed in the database (``anonymous_windows``), so several
    workers and nodes write it once between them; each worker writes its own summary of repeats.
    Pending summaries are written when their minute is over (on the next request) or at exit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], list] = {}  # key -> [minute, repeats, outcome]
        self._paths: dict[tuple[str, str, int], set[str]] = {}
        self._next_sweep = 0.0
        self._db: weakref.ReferenceType[AuthDb] | None = None
        self._unwritten: list[tuple[tuple, int]] = []  # summary rows (and their counts) not written yet
        atexit.register(self._flush_at_exit)

    def record(
        self,
        db: AuthDb,
        event: str,
        outcome: str,
        *,
        ip: str,
        path: str,
        target: str,
        detail: str,
        now: float | None = None,
    ) -> bool:
        """Audit one unauthenticated request; True when a row was written for it now."""
        now = time.time() if now is None else now
        self._db = weakref.ref(db)
        minute = int(now // WINDOW_SECONDS)
        self.sweep(db, now)
        with self._lock:
            seen = self._paths.setdefault((event, ip, minute), set())
            if path not in seen and len(seen) >= PATHS_PER_ADDRESS:
                path, target = OTHER_PATHS, OTHER_PATHS
            seen.add(path)
            key = (event, ip, path)
            window = self._windows.get(key)
            if window is not None and window[0] == minute:
                window[1] += 1
                return False
        bucket = f"{event}|{ip}|{path}|{minute}"
        with db.connect() as con:
            claimed = con.execute(
                "INSERT INTO anonymous_windows (bucket, at) VALUES (?, ?) ON CONFLICT (bucket) DO NOTHING",
                (bucket, now),
            ).rowcount
            if claimed:
                con.execute(
                    INSERT,
                    _row(
                        event,
                        outcome,
                        "",
                        target,
                        detail + " (repeats from this address to this path within the minute are counted)",
                        ip,
                        now,
                    ),
                )
                if minute % 10 == 0:
                    con.execute("DELETE FROM anonymous_windows WHERE at < ?", (now - 3600,))
        with self._lock:
            self._windows[key] = [minute, 0 if claimed else 1, outcome]
        return bool(claimed)

    def sweep(self, db: AuthDb, now: float | None = None, *, everything: bool = False) -> int:
        """Write the summaries of minutes that are over (all of them with ``everything``); the count
        of rows written. Summaries the database does not take (an outage: the error is raised) are
        kept and written by the next sweep that it takes."""
        now = time.time() if now is None else now
        if not everything and now < self._next_sweep:
            return 0
        minute = int(now // WINDOW_SECONDS)
        with self._lock:
            self._next_sweep = (minute + 1) * WINDOW_SECONDS
            done = [k for k, w in self._windows.items() if everything or w[0] < minute]
            finished = [(k, self._windows.pop(k)) for k in done]
            for k in [k for k in self._paths if everything or k[2] < minute]:
                del self._paths[k]
        rows = []
        for (event, ip, path), (window, repeats, outcome) in finished:
            if repeats:
                start = time.strftime("%H:%M", time.gmtime(window * WINDOW_SECONDS))
                row = _row(
                    event,
                    outcome,
                    "",
                    path,
                    f"{repeats} more requests without valid credentials from this address to this path "
                    f"in the minute from {start} UTC (counted by one worker)",
                    ip,
                    (window + 1) * WINDOW_SECONDS,
                )
                rows.append((row, repeats))
        cut = dropped = 0
        with self._lock:
            self._unwritten.extend(rows)
            if len(self._unwritten) > UNWRITTEN_ROWS:  # a long outage: the oldest go, counted
                cut = len(self._unwritten) - UNWRITTEN_ROWS
                dropped = sum(r for _, r in self._unwritten[:cut])
                del self._unwritten[:cut]
            pending = list(self._unwritten)
        if cut:
            log.warning(
                "the audit log has not taken the counts of requests without credentials for too long: "
                "%d requests in the oldest %d summary rows are not recorded",
                dropped,
                cut,
            )
        if not pending:
            return 0
        # the database down (an outage): the rows stay here and go with the next sweep
        with db.connect() as con:
            for row, _ in pending:
                con.execute(INSERT, row)
        with self._lock:
            del self._unwritten[: len(pending)]
        return len(pending)

    def _flush_at_exit(self) -> None:
        db = self._db() if self._db is not None else None
        if db is None or not (self._windows or self._unwritten):
            return
        try:
            self.sweep(db, everything=True)
        except Exception as error:  # noqa: BLE001 - the process is ending; say what is lost and go
            with self._lock:
                rows, requests = len(self._unwritten), sum(r for _, r in self._unwritten)
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:400]
            log.warning(
                "the audit log did not take the last counts of requests without credentials at exit: "
                "%d request%s in %d summary row%s are not recorded (%s)",
                requests,
                "" if requests == 1 else "s",
                rows,
                "" if rows == 1 else "s",
                reason,
            )
