"""`ioc users copy-to-postgres` moves every table of the app database that holds state: a table
added to the SQLite file (accounts, alerts, the notification outbox, reports...) is either copied or
listed as deliberately not copied, with the reason."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ioc.alerts import records
from ioc.auth.db import PostgresAuthDb, SqliteAuthDb
from ioc.auth.dbcopy import COPIED, NOT_COPIED, copy_to_postgres

from .conftest import new_postgres_url

NOW = 1_796_000_000.0  # fixed: sessions expire an hour after it


def _tables(tmp_path: Path) -> SqliteAuthDb:
    db = SqliteAuthDb(tmp_path)
    records.ensure(db)  # the alert tables are made on first use: every table there is
    return db


def test_every_table_of_the_sqlite_file_is_copied_or_excluded_with_a_reason(tmp_path: Path) -> None:
    db = _tables(tmp_path)
    tables = {str(r[0]) for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert not set(COPIED) & set(NOT_COPIED)
    assert len(set(COPIED)) == len(COPIED)
    unaccounted = tables - set(COPIED) - set(NOT_COPIED)
    assert not unaccounted, f"neither in ioc.auth.dbcopy.COPIED nor in NOT_COPIED (with why): {unaccounted}"
    assert not (set(COPIED) | set(NOT_COPIED)) - tables  # no stale names either
    assert all(len(reason) > 20 for reason in NOT_COPIED.values())


def _value(table: str, column: str, kind: str) -> object:
    if column == "id" or column.endswith("_id"):
        return 7
    if kind == "INTEGER":
        return 0
    if kind == "REAL":
        return NOW + 3600
    return f"{table}.{column}"


def test_a_row_of_every_copied_table_arrives_with_its_ids(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    source = _tables(tmp_path)
    columns: dict[str, list[str]] = {}
    with source.connect() as con:
        for table in COPIED:
            info = source.query(f"PRAGMA table_info({table})")
            columns[table] = [str(r["name"]) for r in info]
            values = [_value(table, str(r["name"]), str(r["type"])) for r in info]
            marks = ", ".join("?" for _ in values)
            con.execute(f"INSERT INTO {table} ({', '.join(columns[table])}) VALUES ({marks})", values)  # noqa: S608
        # an ended session and an expired one stay behind
        ended = (
            "INSERT INTO sessions (id_hash, csrf, created_at, expires_at, revoked) VALUES (?, 'c', 0, ?, ?)"
        )
        con.execute(ended, ("e", NOW + 60, 1))
        con.execute(ended, ("x", NOW - 60, 0))
    target = PostgresAuthDb(new_postgres_url(request))
    started = time.perf_counter()
    counts = copy_to_postgres(source, target, NOW)
    assert time.perf_counter() - started < 10
    assert counts == dict.fromkeys(COPIED, 1)
    for table in COPIED:
        names = [c for c in columns[table] if not (table == "audit" and c == "id")]
        query = f"SELECT {', '.join(names)} FROM {table}"  # noqa: S608
        live = " WHERE id_hash NOT IN ('e', 'x')" if table == "sessions" else ""
        assert [tuple(r.values()) for r in target.query(query)] == [
            tuple(r.values()) for r in source.query(query + live)
        ], table
    # rows made on PostgreSQL afterwards are numbered after the copied ones (actions point at alerts)
    records.act(target, 7, "comment", "minh", "after the move")
    assert [r[0] for r in target.query("SELECT id FROM alert_actions ORDER BY id")] == [7, 8]
    # a second copy is refused, naming why
    with pytest.raises(ValueError, match="in use already"):
        copy_to_postgres(source, target, NOW)
    target.close()
