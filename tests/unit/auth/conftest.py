"""The access-control database on both backends: SQLite (a file in the data directory) and
PostgreSQL (a fresh database of the test suite's server per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BACKENDS = ("sqlite", "postgresql")


def new_postgres_url(request: pytest.FixtureRequest) -> str:
    server = request.getfixturevalue("postgres_server")
    return str(server.create_database("auth_" + uuid.uuid4().hex[:12]))


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from ioc.auth.db import PostgresAuthDb, SqliteAuthDb

    database = (
        SqliteAuthDb(tmp_path) if request.param == "sqlite" else PostgresAuthDb(new_postgres_url(request))
    )
    yield database
    database.close()
