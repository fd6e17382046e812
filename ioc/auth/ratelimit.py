"""Sign-in rate limiting: at most N failed attempts per user name and per address in a window.

Attempts live in the auth database, so every worker process counts the same attempts.
"""

from __future__ import annotations

import time

from ioc import settings
from ioc.auth.db import AuthDb


def _keys(username: str, ip: str) -> tuple[str, ...]:
    return (f"user:{username.lower()}", f"ip:{ip}")


def blocked(db: AuthDb, username: str, ip: str, now: float | None = None) -> bool:
    """True when the user name or the address had too many failures in the window."""
    now = time.time() if now is None else now
    window = float(settings.get("login_window_seconds"))
    limit = int(settings.get("login_max_attempts"))
    for key in _keys(username, ip):
        n = db.query("SELECT count(*) FROM attempts WHERE key = ? AND at > ?", (key, now - window))[0][0]
        # an address may try a few user names, but not unboundedly many
        if n >= (limit if key.startswith("user:") else limit * 4):
            return True
    return False


def failed(db: AuthDb, username: str, ip: str, now: float | None = None) -> None:
    now = time.time() if now is None else now
    window = float(settings.get("login_window_seconds"))
    with db.connect() as con:
        for key in _keys(username, ip):
            con.execute("INSERT INTO attempts (key, at) VALUES (?, ?)", (key, now))
        con.execute("DELETE FROM attempts WHERE at < ?", (now - window,))


def succeeded(db: AuthDb, username: str) -> None:
    with db.connect() as con:
        con.execute("DELETE FROM attempts WHERE key = ?", (f"user:{username.lower()}",))
