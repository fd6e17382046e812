"""The append-only audit log: who did what, when, from where, and whether it was allowed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ioc.auth.db import AuthDb

EVENTS = (
    "sign_in",
    "sign_out",
    "refused",
    "export",
    "api_token",
    "kiosk",
    "account",
    "token",
    "ingest",
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
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    with db.connect() as con:
        con.execute(
            "INSERT INTO audit (at, actor, event, outcome, target, detail, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (time.time(), actor, event, outcome, target[:500], detail[:2000], ip),
        )


def entries(
    db: AuthDb, *, limit: int = 200, event: str | None = None, actor: str | None = None
) -> list[AuditEntry]:
    """Newest first."""
    rows = db.query(
        "SELECT * FROM audit WHERE (:event IS NULL OR event = :event) AND (:actor IS NULL OR actor = :actor)"
        " ORDER BY id DESC LIMIT :limit",
        {"event": event, "actor": actor, "limit": int(limit)},
    )
    return [AuditEntry(**dict(r)) for r in rows]
