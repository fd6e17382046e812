"""Server-side sessions: the cookie holds a random value; the database holds only its hash.

A session ends at its expiry (8 hours by default), at logout (revoked), or when the account is
disabled or changes role. Kiosk sessions belong to a device token and end with it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from ioc import settings
from ioc.auth.db import AuthDb


@dataclass(frozen=True)
class Session:
    id_hash: str
    username: str | None
    device: str | None
    csrf: str
    created_at: float
    expires_at: float


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def create(
    db: AuthDb,
    *,
    username: str | None = None,
    device: str | None = None,
    lifetime: float | None = None,
    ip: str = "",
    now: float | None = None,
) -> tuple[str, Session]:
    """(cookie value, session). Exactly one of ``username`` and ``device``."""
    if (username is None) == (device is None):
        raise ValueError("a session belongs to a user or to a kiosk device")
    now = time.time() if now is None else now
    seconds = float(lifetime if lifetime is not None else settings.get("session_hours") * 3600)
    value = secrets.token_urlsafe(32)
    session = Session(digest(value), username, device, secrets.token_urlsafe(24), now, now + seconds)
    with db.connect() as con:
        con.execute(
            "INSERT INTO sessions (id_hash, username, device, csrf, created_at, expires_at, ip) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (session.id_hash, username, device, session.csrf, now, session.expires_at, ip),
        )
        con.execute("DELETE FROM sessions WHERE expires_at < ?", (now - 86400,))
    return value, session


def lookup(db: AuthDb, value: str | None, now: float | None = None) -> Session | None:
    """The live session of a cookie value; None when unknown, expired or revoked."""
    if not value or len(value) > 200:
        return None
    now = time.time() if now is None else now
    rows = db.query(
        "SELECT id_hash, username, device, csrf, created_at, expires_at FROM sessions"
        " WHERE id_hash = ? AND revoked = 0 AND expires_at > ?",
        (digest(value), now),
    )
    return Session(**dict(rows[0])) if rows else None


def revoke(db: AuthDb, value: str | None) -> bool:
    if not value:
        return False
    with db.connect() as con:
        cur = con.execute(
            "UPDATE sessions SET revoked = 1 WHERE id_hash = ? AND revoked = 0", (digest(value),)
        )
        return cur.rowcount > 0


def revoke_device(db: AuthDb, device: str) -> None:
    with db.connect() as con:
        con.execute("UPDATE sessions SET revoked = 1 WHERE device = ?", (device,))
