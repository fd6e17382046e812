"""The accounts database's two backends, the choice between them, the shared secret key, the
aggregated audit of unauthenticated requests and the audit rows of ingestion runs."""

from __future__ import annotations

import logging
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest

from ioc.auth import audit, ingestion, sessions
from ioc.auth.db import (
    PG_SCHEMA,
    AuthDbUnreachable,
    PostgresAuthDb,
    Row,
    database_url,
    open_db,
    redact,
    to_pg,
)

from .conftest import new_postgres_url


def test_parameters_are_translated_for_postgresql() -> None:
    assert to_pg("SELECT * FROM t WHERE a = ? AND b = ?") == "SELECT * FROM t WHERE a = %s AND b = %s"
    assert to_pg("WHERE event = :event LIMIT :limit") == "WHERE event = %(event)s LIMIT %(limit)s"
    # quoted text, casts and a literal percent sign stay what they are
    assert to_pg("SELECT 'a?b :c', x::text, 'it''s ?' LIKE 'a%' WHERE y = ?") == (
        "SELECT 'a?b :c', x::text, 'it''s ?' LIKE 'a%%' WHERE y = %s"
    )


def test_rows_read_by_position_and_name() -> None:
    row = Row(["a", "b"], (1, "x"))
    assert row[0] == 1 and row["b"] == "x" and dict(row) == {"a": 1, "b": "x"}
    with pytest.raises(KeyError):
        row["c"]


def test_which_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_AUTH_DATABASE_URL", raising=False)
    monkeypatch.delenv("IOC_CATALOG_URL", raising=False)
    assert database_url() is None  # the SQLite file
    monkeypatch.setenv("IOC_CATALOG_URL", "postgresql://ioc:pw@db:5432/ioc")
    assert database_url() == "postgresql://ioc:pw@db:5432/ioc"  # the catalog's database
    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", "postgresql://acc@db2/accounts")
    assert database_url() == "postgresql://acc@db2/accounts"  # a database of its own
    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", "sqlite")
    assert database_url() is None  # the file, even beside a PostgreSQL catalog
    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", "mysql://root:secret@db/x")
    with pytest.raises(ValueError, match="IOC_AUTH_DATABASE_URL") as error:
        database_url()
    assert "secret" not in str(error.value)
    assert redact("postgresql://ioc:secret@db:5432/ioc") == "postgresql://ioc:***@db:5432/ioc"


def test_an_unreachable_postgresql_opens_and_each_use_is_a_clear_error() -> None:
    from tests.servers import free_port

    # opening asks nothing of the server: a worker starting while the database is down starts
    db = PostgresAuthDb(f"postgresql://ioc:pw@127.0.0.1:{free_port()}/ioc?connect_timeout=2")
    for use in (lambda: db.query("SELECT 1"), db.secret_key, lambda: audit.record(db, "sign_in")):
        with pytest.raises(AuthDbUnreachable, match="cannot reach the accounts database"):
            use()


def test_the_schema_is_made_at_the_first_use_once_and_after_an_outage(
    request: pytest.FixtureRequest, postgres_server: Any
) -> None:
    url = new_postgres_url(request)
    name = url.rsplit("/", 1)[1]
    tables = f"SELECT count(*) FROM information_schema.tables WHERE table_schema = '{PG_SCHEMA}'"  # noqa: S608
    postgres_server.psql("postgres", f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        db = PostgresAuthDb(url)  # down: opens anyway
        with pytest.raises(AuthDbUnreachable):
            db.query("SELECT count(*) FROM users")
    finally:
        postgres_server.psql("postgres", f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    assert postgres_server.psql(name, tables).strip() == "0"
    statements: list[str] = []
    original = PostgresAuthDb._schema_version

    def counted(con: Any) -> int | None:
        statements.append("schema_version")
        return original(con)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(PostgresAuthDb, "_schema_version", staticmethod(counted))
        threads = [threading.Thread(target=db.query, args=("SELECT count(*) FROM users",)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.query("SELECT count(*) FROM users")[0][0] == 0
        audit.record(db, "sign_in", actor="user:x")
    assert statements == ["schema_version"]  # looked at once by the first thread, never again
    assert int(postgres_server.psql(name, tables).strip()) >= 10
    db.close()


def test_postgresql_tables_live_in_their_own_schema(
    request: pytest.FixtureRequest, postgres_server: Any
) -> None:
    url = new_postgres_url(request)
    db = PostgresAuthDb(url)
    db.query("SELECT 1")  # the tables are made at the first use
    name = url.rsplit("/", 1)[1]
    tables = postgres_server.psql(
        name,
        f"SELECT table_name FROM information_schema.tables WHERE table_schema = '{PG_SCHEMA}' ORDER BY 1",  # noqa: S608
    ).split()
    assert {
        "users",
        "sessions",
        "tokens",
        "login_counters",
        "known_addresses",
        "audit",
        "oidc_flows",
        "identities",
        "meta",
    } <= set(tables)
    assert (
        postgres_server.psql(
            name, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).strip()
        == "0"
    )
    # the owner cannot rewrite history either: UPDATE, DELETE and TRUNCATE are refused by triggers
    audit.record(db, "sign_in", actor="user:x")
    for statement in ("UPDATE audit SET actor = 'y'", "DELETE FROM audit", "TRUNCATE audit"):
        with pytest.raises(RuntimeError, match="append-only"):
            postgres_server.psql(name, f"SET search_path TO {PG_SCHEMA}; {statement}")
    assert [e.actor for e in audit.entries(db)] == ["user:x"]
    db.close()


def test_nodes_starting_at_once_share_one_schema_and_one_secret_key(request: pytest.FixtureRequest) -> None:
    url = new_postgres_url(request)
    found: list[Any] = []

    def start() -> None:
        try:
            db = PostgresAuthDb(url)
            found.append(db.secret_key())
            db.close()
        except Exception as error:  # noqa: BLE001 - reported below
            found.append(error)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 6 and all(isinstance(k, str) for k in found), found
    assert len(set(found)) == 1 and len(found[0]) == 64


def test_a_session_opened_through_one_connection_is_seen_and_ended_through_another(
    request: pytest.FixtureRequest,
) -> None:
    url = new_postgres_url(request)
    node1, node2 = PostgresAuthDb(url), PostgresAuthDb(url)
    value, _ = sessions.create(node1, username="lan")
    assert sessions.lookup(node2, value) is not None
    assert sessions.revoke(node2, value)
    assert sessions.lookup(node1, value) is None
    node1.close()
    node2.close()


def test_open_db_follows_the_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IOC_CATALOG_URL", raising=False)
    monkeypatch.delenv("IOC_AUTH_DATABASE_URL", raising=False)
    assert open_db(tmp_path).kind == "sqlite"
    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", new_postgres_url(request))
    db = open_db(tmp_path)
    assert db.kind == "postgresql" and open_db(tmp_path / "elsewhere") is db


def test_unauthenticated_requests_are_aggregated_per_address_path_and_minute(db: Any) -> None:
    worker1 = audit.AnonymousThrottle()
    worker2 = audit.AnonymousThrottle()  # another worker or node on the same database
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 60  # the start of a minute

    def hit(worker: audit.AnonymousThrottle, ip: str, path: str, at: float) -> bool:
        return worker.record(
            db, "anonymous", "denied", ip=ip, path=path, target=path, detail="no session", now=at
        )

    assert hit(worker1, "10.0.0.9", "GET /api/v1/kpis", t0 + 1)  # the first one is written at once
    assert [e.detail.split(" (")[0] for e in audit.entries(db, event="anonymous")] == ["no session"]
    for i in range(500):  # a crawler: 500 more in the same minute
        assert not hit(worker1 if i % 2 else worker2, "10.0.0.9", "GET /api/v1/kpis", t0 + 2 + i / 10)
    assert hit(worker1, "10.0.0.7", "GET /api/v1/kpis", t0 + 3)  # another address is its own entry
    assert len(audit.entries(db, event="anonymous")) == 2
    # the next minute: the counts of the last one are written, one row per worker
    assert worker1.sweep(db, t0 + 61) == 1 and worker2.sweep(db, t0 + 61) == 1
    counted = [e for e in audit.entries(db, event="anonymous") if "more requests" in e.detail]
    assert sorted(int(e.detail.split()[0]) for e in counted) == [250, 250]
    assert all(e.ip == "10.0.0.9" and e.outcome == "denied" for e in counted)
    assert worker1.sweep(db, t0 + 62) == 0  # nothing twice
    # many paths from one address fold into one entry after the first few
    for n in range(100):
        hit(worker1, "10.0.0.5", f"GET /school/{n}", t0 + 120 + n / 100)
    rows = [e for e in audit.entries(db, event="anonymous", limit=1000) if e.ip == "10.0.0.5"]
    assert len(rows) == audit.PATHS_PER_ADDRESS + 1
    worker1.sweep(db, t0 + 200)
    folded = [
        e
        for e in audit.entries(db, event="anonymous")
        if e.target == audit.OTHER_PATHS and "more" in e.detail
    ]
    assert int(folded[0].detail.split()[0]) == 100 - audit.PATHS_PER_ADDRESS - 1


def test_counts_the_database_does_not_take_are_kept_for_the_next_sweep_and_named_at_exit(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.servers import free_port

    down = PostgresAuthDb(f"postgresql://ioc:pw@127.0.0.1:{free_port()}/ioc?connect_timeout=1")
    worker = audit.AnonymousThrottle()
    t0 = 1_800_000_000.0 - 1_800_000_000.0 % 60
    for n in range(31):  # one written at once, 30 counted
        worker.record(
            db, "anonymous", "denied", ip="10.0.0.9", path="GET /", target="/", detail="x", now=t0 + n
        )
    with pytest.raises(AuthDbUnreachable):
        worker.sweep(down, t0 + 61)  # an outage: nothing is lost
    assert worker.sweep(db, t0 + 125) == 1  # the next minute's sweep, the database back
    counted = [e for e in audit.entries(db, event="anonymous") if "more requests" in e.detail]
    assert [int(e.detail.split()[0]) for e in counted] == [30]
    for _ in range(8):  # more counted; the process ends while the database is down
        worker.record(
            db, "anonymous", "denied", ip="10.0.0.8", path="GET /", target="/", detail="x", now=t0 + 130
        )
    worker._db = weakref.ref(down)
    with caplog.at_level(logging.WARNING, logger="ioc.auth.audit"):
        worker._flush_at_exit()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "the audit log did not take the last counts of requests without credentials at exit: "
        "7 requests in 1 summary row are not recorded"
    ]
    assert "cannot reach the accounts database" in caplog.records[0].getMessage()
    assert caplog.records[0].exc_info is None  # one line, no traceback


def test_ingestion_runs_name_who_ran_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IOC_AUTH_DATABASE_URL", raising=False)
    monkeypatch.delenv("IOC_CATALOG_URL", raising=False)
    assert ingestion.ingest_actor("cli").startswith("cli")
    assert ingestion.ingest_actor("demo") == "demo"
    assert ingestion.ingest_actor("nightly-drop") == "scheduler:nightly-drop"
    ingestion.record_ingest(
        tmp_path,
        source="nightly-drop",
        file="attendance_2026-11-23.csv",
        dataset="attendance",
        status="rejected",
        rows_loaded=0,
        rows_replaced=0,
        rows_rejected=3,
        run_id="r1",
    )
    entry = audit.entries(open_db(tmp_path), event="ingest")[0]
    assert (entry.actor, entry.outcome, entry.target) == (
        "scheduler:nightly-drop",
        "denied",
        "attendance_2026-11-23.csv",
    )
    assert "3 rejected" in entry.detail and "run r1" in entry.detail


def test_a_forked_worker_opens_its_own_connections(request: pytest.FixtureRequest) -> None:
    """gunicorn with --preload forks after the app (and its accounts database) is set up: the
    worker must neither use nor close the parent's connections."""
    import os

    db = PostgresAuthDb(new_postgres_url(request))
    value, _ = sessions.create(db, username="lan")
    (pooled,) = db._idle  # noqa: SLF001 - the parent's idle connection, to check it survives
    pid = os.fork()
    if pid == 0:  # the worker: reads and writes on connections of its own, then exits
        code = 1
        try:
            if sessions.lookup(db, value) is not None:
                audit.record(db, "sign_in", actor="user:child")
                code = 0
            db.close()  # as a worker does when it stops: must not end the parent's sessions
            import gc

            gc.collect()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # the parent's pooled connection still works after the child ended (no retry hides it here)
    assert pooled.execute("SELECT 1").fetchone()[0] == 1
    assert sessions.lookup(db, value) is not None
    assert [e.actor for e in audit.entries(db)] == ["user:child"]
    db.close()


def test_an_audit_write_after_the_server_dropped_the_pooled_connections_reconnects(
    request: pytest.FixtureRequest,
) -> None:
    """Issue 13: after a PostgreSQL restart the first load's audit row was lost, because connect()
    (writes) did not reopen a dropped pooled connection as query() (reads) does."""
    url = new_postgres_url(request)
    db = PostgresAuthDb(url)
    try:
        audit.record(db, "sign_in", actor="user:before")
        assert db._idle  # noqa: SLF001 - a pooled connection, idle between statements
        server = request.getfixturevalue("postgres_server")
        ended = server.psql(
            url.rsplit("/", 1)[1],
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'ioc-auth') AS t",
        )
        assert int(ended) >= 1  # what a restart does to every pooled connection
        audit.record(db, "ingest", actor="user:after")  # the write goes through
        assert [e.actor for e in audit.entries(db)] == ["user:after", "user:before"]
    finally:
        db.close()


def test_an_accounts_file_of_schema_2_is_brought_up_to_date(tmp_path: Path) -> None:
    """A deployment's SQLite file from before the atomic throttle: accounts and the audit log stay,
    the racy attempts table and the unbound OIDC states go, the new tables appear."""
    import sqlite3

    from ioc.auth import accounts
    from ioc.auth.db import SCHEMA_VERSION, SqliteAuthDb

    folder = tmp_path / "auth"
    folder.mkdir()
    old = sqlite3.connect(folder / "auth.sqlite")
    old.executescript(
        "CREATE TABLE users (username TEXT PRIMARY KEY, display_name TEXT NOT NULL DEFAULT '',"
        " password_hash TEXT, role TEXT NOT NULL, districts TEXT NOT NULL DEFAULT '',"
        " wards TEXT NOT NULL DEFAULT '', disabled INTEGER NOT NULL DEFAULT 0,"
        " created_at REAL NOT NULL, updated_at REAL NOT NULL);"
        "INSERT INTO users (username, role, created_at, updated_at) VALUES ('lan', 'analyst', 1, 1);"
        "CREATE TABLE attempts (key TEXT NOT NULL, at REAL NOT NULL);"
        "CREATE TABLE oidc_states (state TEXT PRIMARY KEY, verifier TEXT NOT NULL, nonce TEXT NOT NULL,"
        " next TEXT NOT NULL, created_at REAL NOT NULL);"
        "PRAGMA user_version = 2;"
    )
    old.close()
    db = SqliteAuthDb(tmp_path)
    tables = {r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"login_counters", "known_addresses", "oidc_flows", "identities"} <= tables
    assert not {"attempts", "oidc_states"} & tables
    assert db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert accounts.get(db, "lan") is not None
    # users.schools (schema 6) is added to the old table: principals can be made on this file
    assert accounts.get(db, "lan").schools == ()
    assert accounts.add(db, "hieu", "principal", None, schools=["S1"]).schools == ("S1",)
    assert SqliteAuthDb(tmp_path).query("SELECT schools FROM users WHERE username = 'hieu'")[0][0] == "S1"


def test_a_postgresql_accounts_database_of_schema_5_gets_the_schools_column(
    request: pytest.FixtureRequest, postgres_server: Any
) -> None:
    from ioc.auth import accounts

    url = new_postgres_url(request)
    db = PostgresAuthDb(url)
    accounts.add(db, "lan", "analyst", None)
    db.close()
    name = url.rsplit("/", 1)[1]
    postgres_server.psql(
        name,
        f"SET search_path TO {PG_SCHEMA}; ALTER TABLE users DROP COLUMN schools; "  # noqa: S608 - constants
        + "UPDATE meta SET value = '5' WHERE name = 'schema_version'",
    )
    db = PostgresAuthDb(url)  # a node of the new version starting on the old database
    assert accounts.get(db, "lan").schools == ()
    assert accounts.add(db, "hieu", "principal", None, schools=["S1"]).schools == ("S1",)
    db.close()
