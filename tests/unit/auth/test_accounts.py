"""Accounts, passwords, sessions, tokens, rate limiting, the secret key and the audit log."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ioc.auth import accounts, audit, sessions, tokens
from ioc.auth.access import EVERYTHING, AccessScope
from ioc.auth.db import AuthDb, open_db
from ioc.auth.passwords import WeakPassword, hash_password, verify_password


def test_password_hash_is_salted_scrypt_and_verifies_only_the_right_password() -> None:
    first, second = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert first.startswith("scrypt$") and first != second
    assert verify_password("correct horse battery", first)
    assert not verify_password("correct horse batterY", first)
    assert not verify_password("anything", None)
    assert not verify_password("anything", "scrypt$garbled")
    assert not verify_password("anything", "md5$1$2$3$4$5")


def test_weak_passwords_are_refused(db: AuthDb) -> None:
    with pytest.raises(WeakPassword):
        accounts.add(db, "lan", "analyst", "short")
    with pytest.raises(WeakPassword):
        accounts.add(db, "nguyenlan", "analyst", "nguyenlan-2026!")


def test_add_authenticate_disable(db: AuthDb) -> None:
    accounts.add(db, "lan", "analyst", "a long passphrase")
    assert accounts.authenticate(db, "lan", "a long passphrase").role == "analyst"
    assert accounts.authenticate(db, "lan", "wrong passphrase!") is None
    assert accounts.authenticate(db, "nobody", "a long passphrase") is None
    accounts.set_disabled(db, "lan", True)
    assert accounts.authenticate(db, "lan", "a long passphrase") is None
    accounts.set_disabled(db, "lan", False)
    assert accounts.authenticate(db, "lan", "a long passphrase") is not None
    with pytest.raises(accounts.AccountError, match="exists"):
        accounts.add(db, "lan", "analyst", "a long passphrase")
    with pytest.raises(accounts.AccountError, match="user name"):
        accounts.add(db, "bad name;--", "analyst", "a long passphrase")


def test_roles_districts_and_deny_by_default(db: AuthDb) -> None:
    officer = accounts.add(db, "minh", "district_officer", "a long passphrase")
    assert officer.access().empty  # nothing assigned: sees nothing
    officer = accounts.set_role(db, "minh", "district_officer", districts=["760", "761"], wards=["25747"])
    access = officer.access()
    assert access.restricted and access.allows_district("760") and not access.allows_district("718")
    assert access.allows_ward("25747", "718") and not access.allows_ward("25750", "718")
    assert access.allows_ward("26734", "760")
    with pytest.raises(accounts.AccountError, match="unknown district"):
        accounts.set_role(db, "minh", "district_officer", districts=["999"])
    with pytest.raises(accounts.AccountError, match="unknown ward"):
        accounts.set_role(db, "minh", "district_officer", wards=["1"])
    with pytest.raises(accounts.AccountError, match="only district officers"):
        accounts.set_role(db, "minh", "leadership", districts=["760"])
    with pytest.raises(accounts.AccountError, match="unknown role"):
        accounts.set_role(db, "minh", "superuser")
    assert accounts.set_role(db, "minh", "leadership").access() == EVERYTHING


def test_access_scope_keys_differ_between_scopes() -> None:
    a, b = AccessScope.limited(["760"]), AccessScope.limited(["761"])
    assert a.key() != b.key() != EVERYTHING.key()
    assert AccessScope.limited(["761", "760"]).key() == AccessScope.limited(["760", "761"]).key()


def test_session_expiry_logout_and_role_change(db: AuthDb) -> None:
    accounts.add(db, "lan", "analyst", "a long passphrase")
    value, session = sessions.create(db, username="lan", lifetime=3600, now=1000.0)
    assert sessions.lookup(db, value, now=1000.0 + 3599) == session
    assert sessions.lookup(db, value, now=1000.0 + 3601) is None  # expired
    value, _ = sessions.create(db, username="lan")
    assert sessions.lookup(db, value) is not None
    assert sessions.revoke(db, value)
    assert sessions.lookup(db, value) is None  # logged out
    value, _ = sessions.create(db, username="lan")
    accounts.set_role(db, "lan", "leadership")
    assert sessions.lookup(db, value) is None  # a role change ends sessions
    value, _ = sessions.create(db, username="lan")
    accounts.set_disabled(db, "lan")
    assert sessions.lookup(db, value) is None
    assert sessions.lookup(db, "not a session") is None


def test_default_session_lasts_eight_hours(db: AuthDb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_SESSION_HOURS", raising=False)
    _, session = sessions.create(db, username="x", now=0.0)
    assert session.expires_at == 8 * 3600


def test_tokens(db: AuthDb) -> None:
    secret, token = tokens.create(db, "etl", "api", ["read"], districts=["760"])
    assert secret.startswith("ioc_api_")
    assert tokens.verify(db, secret, "api").name == "etl"
    assert tokens.verify(db, secret, "kiosk") is None
    assert tokens.verify(db, secret + "x", "api") is None
    assert tokens.get(db, "etl").access() == AccessScope.limited(["760"])
    assert tokens.get(db, "etl").last_used_at is not None
    tokens.revoke(db, "etl")
    assert tokens.verify(db, secret, "api") is None
    wall, _ = tokens.create(db, "wall", "kiosk", ["control_room"], days=1)
    assert tokens.verify(db, wall, "kiosk", now=9e12) is None  # expired
    with pytest.raises(tokens.TokenError):
        tokens.create(db, "bad", "api", ["admin"])
    with pytest.raises(tokens.TokenError):
        tokens.create(db, "wall2", "kiosk", [])
    # only hashes are stored
    stored = {r[0] for r in db.query("SELECT token_hash FROM tokens")}
    assert secret not in stored and wall not in stored


def test_audit_log_is_append_only(db: AuthDb) -> None:
    audit.record(db, "sign_in", "failed", actor="lan", ip="10.0.0.1")
    audit.record(db, "export", actor="user:lan", target="GET /export/csv")
    entries = audit.entries(db)
    assert [e.event for e in entries] == ["export", "sign_in"]
    with pytest.raises(db.errors, match="append-only"):
        with db.connect() as con:
            con.execute("UPDATE audit SET outcome = 'ok'")
    with pytest.raises(db.errors, match="append-only"):
        with db.connect() as con:
            con.execute("DELETE FROM audit")
    assert len(audit.entries(db)) == 2
    with pytest.raises(ValueError):
        audit.record(db, "made_up")


def test_account_changes_are_audited(db: AuthDb) -> None:
    accounts.add(db, "lan", "analyst", "a long passphrase", actor="cli")
    accounts.set_role(db, "lan", "district_officer", districts=["760"])
    accounts.set_disabled(db, "lan")
    details = [e.detail for e in audit.entries(db, event="account")]
    assert details == [
        "disabled",
        "role=district_officer districts=760 wards=",
        "added role=analyst districts= wards=",
    ]


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    first = open_db(tmp_path).secret_key()
    assert len(first) >= 64 and open_db(tmp_path).secret_key() == first
    mode = (tmp_path / "auth" / "secret_key").stat().st_mode
    assert not mode & (stat.S_IRWXG | stat.S_IRWXO)
    assert open_db(tmp_path / "other").secret_key() != first


def test_a_principal_sees_exactly_one_school(db: AuthDb) -> None:
    principal = accounts.add(db, "hieu", "principal", "a long passphrase", schools=["79000004"])
    assert accounts.get(db, "hieu").schools == ("79000004",)
    access = principal.access()
    assert access.restricted and access.codes("school") == {"79000004"}
    assert access.allows_school("79000004", "26734", "760")
    assert not access.allows_school("79000005", "26734", "760")
    assert not access.allows_district("760") and not access.allows_ward("26734", "760")
    with pytest.raises(accounts.AccountError, match="exactly one school"):
        accounts.add(db, "tam", "principal", "a long passphrase")
    with pytest.raises(accounts.AccountError, match="only principals"):
        accounts.set_role(db, "hieu", "district_officer", districts=["760"], schools=["79000004"])
    moved = accounts.set_role(db, "hieu", "district_officer", districts=["760"])
    assert moved.schools == () and moved.access().allows_district("760")
    assert any(e.detail == "added role=principal school=79000004" for e in audit.entries(db, event="account"))
