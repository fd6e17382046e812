"""Accounts: create, list, disable, change role and assigned districts/wards (district officers) or
school (principals), check passwords."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ioc.auth import audit
from ioc.auth.access import (
    DISTRICT_OFFICER,
    EVERYTHING,
    PRINCIPAL,
    RESTRICTED_ROLES,
    ROLES,
    AccessScope,
    split_codes,
    validate_units,
)
from ioc.auth.db import AuthDb
from ioc.auth.passwords import check_strength, hash_password, verify_password

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")


class AccountError(ValueError):
    """A bad account request (unknown user, bad role, unknown district...)."""


@dataclass(frozen=True)
class Account:
    username: str
    display_name: str
    role: str
    districts: tuple[str, ...]
    wards: tuple[str, ...]
    disabled: bool
    has_password: bool
    schools: tuple[str, ...] = ()

    def access(self) -> AccessScope:
        """District officers see their assigned units only, principals their school (nothing when
        none is assigned); the other roles everything."""
        if self.role in RESTRICTED_ROLES:
            return AccessScope.limited(self.districts, self.wards, self.schools)
        return EVERYTHING

    @property
    def units(self) -> str:
        """The assigned units as text: 'districts / wards', or the school of a principal."""
        if self.role == PRINCIPAL:
            return ",".join(self.schools)
        return ",".join(self.districts) + (" / " + ",".join(self.wards) if self.wards else "")


def _account(row) -> Account:  # type: ignore[no-untyped-def]
    return Account(
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        districts=split_codes(row["districts"]),
        wards=split_codes(row["wards"]),
        disabled=bool(row["disabled"]),
        has_password=row["password_hash"] is not None,
        schools=split_codes(row["schools"]),
    )


def _check_role(
    role: str, districts: Iterable[str], wards: Iterable[str], schools: Iterable[str] = ()
) -> None:
    districts, wards, schools = tuple(districts), tuple(wards), tuple(schools)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if role != DISTRICT_OFFICER and (districts or wards):
        raise AccountError("only district officers are assigned districts or wards")
    if role == PRINCIPAL and len(schools) != 1:
        raise AccountError(
            f"a principal is assigned exactly one school (--school SCHOOL_ID); given {len(schools)}"
        )
    if role != PRINCIPAL and schools:
        raise AccountError("only principals are assigned a school")
    for school in schools:
        if len(school) > 64 or not school.isprintable():
            raise AccountError(f"school id {school[:64]!r}: at most 64 printable characters")
    try:
        validate_units(districts, wards)
    except ValueError as error:
        raise AccountError(str(error)) from None


def get(db: AuthDb, username: str) -> Account | None:
    rows = db.query("SELECT * FROM users WHERE username = ?", (username,))
    return _account(rows[0]) if rows else None


def all_accounts(db: AuthDb) -> list[Account]:
    return [_account(r) for r in db.query("SELECT * FROM users ORDER BY username")]


def count(db: AuthDb) -> int:
    return int(db.query("SELECT count(*) FROM users")[0][0])


def add(
    db: AuthDb,
    username: str,
    role: str,
    password: str | None,
    *,
    display_name: str = "",
    districts: Iterable[str] = (),
    wards: Iterable[str] = (),
    schools: Iterable[str] = (),
    actor: str = "cli",
) -> Account:
    if not USERNAME.match(username):
        raise AccountError("a user name has 2-64 letters, digits or . _ @ -")
    districts, wards, schools = split_codes(districts), split_codes(wards), split_codes(schools)
    _check_role(role, districts, wards, schools)
    if password is not None:
        check_strength(password, username)
    now = time.time()
    with db.connect() as con:
        if con.execute("SELECT 1 FROM users WHERE username = ?", (username,)).fetchone():
            raise AccountError(f"user {username!r} exists already")
        con.execute(
            "INSERT INTO users (username, display_name, password_hash, role, districts, wards, schools,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                username,
                display_name,
                hash_password(password) if password is not None else None,
                role,
                ",".join(districts),
                ",".join(wards),
                ",".join(schools),
                now,
                now,
            ),
        )
    audit.record(
        db,
        "account",
        actor=actor,
        target=username,
        detail="added " + _units_text(role, districts, wards, schools),
    )
    account = get(db, username)
    assert account is not None
    return account


def _require(db: AuthDb, username: str) -> Account:
    account = get(db, username)
    if account is None:
        raise AccountError(f"no user {username!r}")
    return account


def set_role(
    db: AuthDb,
    username: str,
    role: str,
    *,
    districts: Iterable[str] = (),
    wards: Iterable[str] = (),
    schools: Iterable[str] = (),
    actor: str = "cli",
) -> Account:
    _require(db, username)
    districts, wards, schools = split_codes(districts), split_codes(wards), split_codes(schools)
    _check_role(role, districts, wards, schools)
    with db.connect() as con:
        con.execute(
            "UPDATE users SET role = ?, districts = ?, wards = ?, schools = ?, updated_at = ? WHERE username = ?",
            (role, ",".join(districts), ",".join(wards), ",".join(schools), time.time(), username),
        )
        # a changed role takes effect now: existing sessions end
        con.execute("UPDATE sessions SET revoked = 1 WHERE username = ?", (username,))
    audit.record(
        db, "account", actor=actor, target=username, detail=_units_text(role, districts, wards, schools)
    )
    return _require(db, username)


def _units_text(
    role: str, districts: tuple[str, ...], wards: tuple[str, ...], schools: tuple[str, ...]
) -> str:
    """What the audit log says an account was given."""
    if role == PRINCIPAL:
        return f"role={role} school={','.join(schools)}"
    return f"role={role} districts={','.join(districts)} wards={','.join(wards)}"


def set_disabled(db: AuthDb, username: str, disabled: bool = True, *, actor: str = "cli") -> Account:
    _require(db, username)
    with db.connect() as con:
        con.execute(
            "UPDATE users SET disabled = ?, updated_at = ? WHERE username = ?",
            (int(disabled), time.time(), username),
        )
        if disabled:
            con.execute("UPDATE sessions SET revoked = 1 WHERE username = ?", (username,))
    audit.record(db, "account", actor=actor, target=username, detail="disabled" if disabled else "enabled")
    return _require(db, username)


def set_password(db: AuthDb, username: str, password: str, *, actor: str = "cli") -> None:
    _require(db, username)
    check_strength(password, username)
    with db.connect() as con:
        con.execute(
            "UPDATE users SET password_hash = ?, updated_at = ? WHERE username = ?",
            (hash_password(password), time.time(), username),
        )
        con.execute("UPDATE sessions SET revoked = 1 WHERE username = ?", (username,))
    audit.record(db, "account", actor=actor, target=username, detail="password changed")


def authenticate(db: AuthDb, username: str, password: str) -> Account | None:
    """The account when the password matches and the account is enabled; else None (same work)."""
    rows = db.query("SELECT * FROM users WHERE username = ?", (username,))
    stored = rows[0]["password_hash"] if rows else None
    if not verify_password(password, stored):
        return None
    account = _account(rows[0])
    return None if account.disabled else account


# -- OpenID Connect identities: a provider's issuer + sub, linked to one local account ------------


def linked_username(db: AuthDb, issuer: str, subject: str) -> str | None:
    """The local account linked to ``subject`` at ``issuer``, if any."""
    rows = db.query("SELECT username FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject))
    return str(rows[0][0]) if rows else None


def link(db: AuthDb, issuer: str, subject: str, username: str, *, actor: str = "cli") -> None:
    """Link ``username`` to the provider's ``issuer`` + ``subject``: from then on that identity
    signs in to this account whatever its user name claim says. An account has one identity;
    linking one that has another is refused (``unlink`` first)."""
    _require(db, username)
    with db.connect() as con:
        held = con.execute(
            "SELECT issuer, subject FROM identities WHERE username = ?", (username,)
        ).fetchone()
        if held is not None and (held["issuer"], held["subject"]) != (issuer, subject):
            raise AccountError(
                f"account {username!r} is linked to another identity at the provider"
                f" (ioc users unlink {username} lets a new one link)"
            )
        taken = con.execute(
            "SELECT username FROM identities WHERE issuer = ? AND subject = ?", (issuer, subject)
        ).fetchone()
        if taken is not None and taken["username"] != username:
            raise AccountError(f"this identity is linked to account {taken['username']!r} already")
        if held is None:
            con.execute(
                "INSERT INTO identities (issuer, subject, username, linked_at) VALUES (?, ?, ?, ?)",
                (issuer, subject, username, time.time()),
            )
    if held is None:
        audit.record(db, "account", actor=actor, target=username, detail=f"linked to {issuer} sub={subject}")


def unlink(db: AuthDb, username: str, *, actor: str = "cli") -> bool:
    """Forget the provider identity of ``username`` (its next OIDC sign-in links again by user
    name); True when there was one."""
    _require(db, username)
    with db.connect() as con:
        gone = con.execute("DELETE FROM identities WHERE username = ?", (username,)).rowcount
    if gone:
        audit.record(db, "account", actor=actor, target=username, detail="provider identity unlinked")
    return bool(gone)
