"""Bearer tokens for machine clients of the JSON API, and kiosk device tokens for wall screens.

A token is shown once when created; the database keeps its SHA-256 only. API tokens carry scopes
(``read``: KPI answers; ``export``: CSV answers) and optionally districts/wards; kiosk tokens
carry the screen names they may show.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ioc.auth import audit, sessions
from ioc.auth.access import EVERYTHING, AccessScope, split_codes, validate_units
from ioc.auth.db import AuthDb

API_SCOPES = ("read", "export")
KINDS = ("api", "kiosk")
NAME = re.compile(r"^[A-Za-z0-9._-]{2,64}$")
PREFIX = {"api": "ioc_api_", "kiosk": "ioc_kiosk_"}


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    name: str
    kind: str
    scopes: tuple[str, ...]  # api: read/export; kiosk: screen names
    districts: tuple[str, ...]
    wards: tuple[str, ...]
    created_by: str
    created_at: float
    expires_at: float | None
    revoked: bool
    last_used_at: float | None

    def access(self) -> AccessScope:
        """The token's units (all when none is named) and, for a kiosk, the screens it may show."""
        units = (
            AccessScope.limited(self.districts, self.wards) if self.districts or self.wards else EVERYTHING
        )
        return units.with_screens(self.scopes) if self.kind == "kiosk" else units


def _token(row) -> Token:  # type: ignore[no-untyped-def]
    return Token(
        name=row["name"],
        kind=row["kind"],
        scopes=split_codes(row["scopes"]),
        districts=split_codes(row["districts"]),
        wards=split_codes(row["wards"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked=bool(row["revoked"]),
        last_used_at=row["last_used_at"],
    )


def create(
    db: AuthDb,
    name: str,
    kind: str,
    scopes: Iterable[str],
    *,
    districts: Iterable[str] = (),
    wards: Iterable[str] = (),
    days: float | None = None,
    actor: str = "cli",
) -> tuple[str, Token]:
    """(secret shown once, token)."""
    if kind not in KINDS:
        raise TokenError(f"unknown token kind {kind!r}; one of {', '.join(KINDS)}")
    if not NAME.match(name):
        raise TokenError("a token name has 2-64 letters, digits or . _ -")
    scopes, districts, wards = split_codes(scopes), split_codes(districts), split_codes(wards)
    if kind == "api":
        bad = [s for s in scopes if s not in API_SCOPES]
        if bad or not scopes:
            raise TokenError(f"API token scopes: one or more of {', '.join(API_SCOPES)}")
    elif not scopes:
        raise TokenError("a kiosk token needs the screen names it may show")
    try:
        validate_units(districts, wards)
    except ValueError as error:
        raise TokenError(str(error)) from None
    secret = PREFIX[kind] + secrets.token_urlsafe(32)
    now = time.time()
    with db.connect() as con:
        if con.execute("SELECT 1 FROM tokens WHERE name = ?", (name,)).fetchone():
            raise TokenError(f"a token named {name!r} exists already")
        con.execute(
            "INSERT INTO tokens (token_hash, name, kind, scopes, districts, wards, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sessions.digest(secret),
                name,
                kind,
                ",".join(scopes),
                ",".join(districts),
                ",".join(wards),
                actor,
                now,
                now + days * 86400 if days else None,
            ),
        )
    audit.record(db, "token", actor=actor, target=name, detail=f"created {kind} scopes={','.join(scopes)}")
    token = get(db, name)
    assert token is not None
    return secret, token


def get(db: AuthDb, name: str) -> Token | None:
    rows = db.query("SELECT * FROM tokens WHERE name = ?", (name,))
    return _token(rows[0]) if rows else None


def all_tokens(db: AuthDb) -> list[Token]:
    return [_token(r) for r in db.query("SELECT * FROM tokens ORDER BY name")]


def revoke(db: AuthDb, name: str, *, actor: str = "cli") -> None:
    if get(db, name) is None:
        raise TokenError(f"no token named {name!r}")
    with db.connect() as con:
        con.execute("UPDATE tokens SET revoked = 1 WHERE name = ?", (name,))
    sessions.revoke_device(db, name)
    audit.record(db, "token", actor=actor, target=name, detail="revoked")


def verify(db: AuthDb, secret: str | None, kind: str, now: float | None = None) -> Token | None:
    """The live token of ``secret`` (of ``kind``); marks it used."""
    if not secret or not secret.startswith(PREFIX.get(kind, "\0")) or len(secret) > 200:
        return None
    now = time.time() if now is None else now
    rows = db.query(
        "SELECT * FROM tokens WHERE token_hash = ? AND kind = ? AND revoked = 0 AND (expires_at IS NULL OR expires_at > ?)",
        (sessions.digest(secret), kind, now),
    )
    if not rows:
        return None
    with db.connect() as con:
        con.execute("UPDATE tokens SET last_used_at = ? WHERE name = ?", (now, rows[0]["name"]))
    return _token(rows[0])
