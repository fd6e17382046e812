"""``ioc users`` and ``ioc tokens``."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ioc.auth import accounts, audit
from ioc.auth.db import open_db
from ioc.cli import main

SEED = Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "seed"


def test_users_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "add", "lan", "--role", "district_officer", "--district", "760,761"]) == 0
    out = capsys.readouterr().out
    assert "password (shown once):" in out
    password = out.split("password (shown once):")[1].strip()
    db = open_db(data_dir)
    assert accounts.authenticate(db, "lan", password).districts == ("760", "761")
    assert main(["users", "list"]) == 0
    assert "lan" in capsys.readouterr().out
    assert main(["users", "set-role", "lan", "district_officer", "--ward", "26734"]) == 0
    assert accounts.get(db, "lan").wards == ("26734",)
    assert main(["users", "disable", "lan"]) == 0
    assert accounts.get(db, "lan").disabled
    assert main(["users", "enable", "lan"]) == 0
    assert not accounts.get(db, "lan").disabled
    with pytest.raises(SystemExit) as exit_info:
        main(["users", "set-role", "lan", "district_officer", "--district", "999"])
    assert exit_info.value.code == 2
    assert "unknown district code '999'" in capsys.readouterr().err
    assert main(["users", "audit", "--event", "account"]) == 0
    assert "disabled" in capsys.readouterr().out
    assert len(audit.entries(db, event="account")) == 4


def test_password_from_stdin_and_oidc_only_accounts(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    assert main(["users", "add", "minh", "--role", "analyst", "--password-stdin"]) == 0
    assert "shown once" not in capsys.readouterr().out
    db = open_db(data_dir)
    assert accounts.authenticate(db, "minh", "a long passphrase") is not None
    assert main(["users", "add", "sso", "--role", "leadership", "--no-password"]) == 0
    assert not accounts.get(db, "sso").has_password
    # the provider identity linked at the first OIDC sign-in, and forgotten on request
    accounts.link(db, "https://id.example", "sub-1", "sso")
    with pytest.raises(accounts.AccountError, match="linked to another identity"):
        accounts.link(db, "https://id.example", "sub-2", "sso")
    with pytest.raises(accounts.AccountError, match="linked to account 'sso' already"):
        accounts.link(db, "https://id.example", "sub-1", "minh")
    capsys.readouterr()
    assert main(["users", "unlink", "sso"]) == 0
    assert "provider identity unlinked" in capsys.readouterr().out
    assert accounts.linked_username(db, "https://id.example", "sub-1") is None
    accounts.link(db, "https://id.example", "sub-2", "sso")
    assert accounts.linked_username(db, "https://id.example", "sub-2") == "sso"
    assert main(["users", "unlink", "minh"]) == 0
    assert "no provider identity linked" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit) as exit_info:
        main(["users", "add", "weak", "--role", "analyst", "--password-stdin"])
    assert exit_info.value.code == 2


def test_tokens_commands(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ioc.auth import tokens

    assert main(["tokens", "add", "etl", "--scope", "read,export"]) == 0
    secret = capsys.readouterr().out.splitlines()[1]
    db = open_db(data_dir)
    assert tokens.verify(db, secret, "api").scopes == ("read", "export")
    assert main(["tokens", "add", "wall", "--kind", "kiosk", "--screen", "control_room"]) == 0
    assert "device=ioc_kiosk_" in capsys.readouterr().out
    assert tokens.get(db, "wall").expires_at is not None
    assert main(["tokens", "list"]) == 0
    listing = capsys.readouterr().out
    assert "etl" in listing and secret not in listing
    assert main(["tokens", "revoke", "etl"]) == 0
    assert tokens.verify(db, secret, "api") is None
    with pytest.raises(SystemExit):
        main(["tokens", "add", "x", "--scope", "admin"])


def test_copy_a_one_machine_accounts_file_to_postgresql(
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ioc.auth import sessions
    from ioc.auth.db import PostgresAuthDb

    from .conftest import new_postgres_url

    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase\n"))
    assert (
        main(["users", "add", "minh", "--role", "district_officer", "--district", "760", "--password-stdin"])
        == 0
    )
    assert main(["tokens", "add", "etl", "--scope", "read"]) == 0
    secret = capsys.readouterr().out.splitlines()[-2]
    local = open_db(data_dir)
    accounts.link(local, "https://id.example", "sub-1", "minh")
    value, _ = sessions.create(local, username="minh")
    ended, _ = sessions.create(local, username="minh")
    sessions.revoke(local, ended)
    before = [(e.event, e.target, e.detail) for e in audit.entries(local, limit=1000)]
    from ioc.auth import keys

    local_key = keys.file_secret_key(data_dir)  # made by the app's first start on the one machine
    url = new_postgres_url(request)
    assert main(["users", "copy-to-postgres", "--to", url]) == 0
    assert "2 sessions" not in capsys.readouterr().out  # only the live one
    target = PostgresAuthDb(url)
    assert accounts.authenticate(target, "minh", "a long passphrase").districts == ("760",)
    from ioc.auth import tokens

    assert tokens.verify(target, secret, "api") is not None
    assert sessions.lookup(target, value) is not None and sessions.lookup(target, ended) is None
    assert accounts.linked_username(target, "https://id.example", "sub-1") == "minh"
    assert target.secret_key() == local_key  # the one machine's key moved too
    copied = [(e.event, e.target, e.detail) for e in audit.entries(target, limit=1000)]
    assert copied[0][1] == "copy-to-postgres" and copied[1:] == before  # the whole log, in order
    # a second copy would duplicate accounts: refused, naming why
    with pytest.raises(SystemExit) as exit_info:
        main(["users", "copy-to-postgres", "--to", url])
    assert exit_info.value.code == 2 and "in use already" in capsys.readouterr().err
    target.close()


def test_a_principal_is_given_one_school_of_the_store(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ingest.load import ingest_paths
    from ioc.store import Store

    store = Store(data_dir)
    assert ingest_paths(store, [SEED / "schools_2026-09-01.csv"])[0].status == "loaded"
    store.close()
    assert main(["users", "add", "hieu", "--role", "principal", "--school", "S2"]) == 0
    assert "added hieu (principal S2)" in capsys.readouterr().out
    account = accounts.get(open_db(data_dir), "hieu")
    assert account.schools == ("S2",) and account.access().allows_school("S2", "26734", "760")
    assert not account.access().allows_school("S1", "26734", "760")
    assert not account.access().allows_ward("26734", "760")
    assert main(["users", "list"]) == 0
    assert "principal" in capsys.readouterr().out
    for argv, message in (
        (["users", "add", "tam", "--role", "principal", "--school", "S999"], "no school 'S999'"),
        (["users", "add", "tam", "--role", "principal"], "exactly one school"),
        (["users", "add", "tam", "--role", "principal", "--school", "S1,S2"], "exactly one school"),
        (["users", "add", "tam", "--role", "analyst", "--school", "S1"], "only principals"),
        (
            ["users", "set-role", "hieu", "principal", "--school", "S1", "--district", "760"],
            "only district officers",
        ),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err, argv
    assert main(["users", "set-role", "hieu", "principal", "--school", "S1"]) == 0
    assert accounts.get(open_db(data_dir), "hieu").schools == ("S1",)
    assert main(["users", "set-role", "hieu", "analyst"]) == 0
    assert accounts.get(open_db(data_dir), "hieu").schools == ()
