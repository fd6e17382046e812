"""A local SMTP server (aiosmtpd) and a local webhook receiver on 127.0.0.1 (tests/receivers.py),
and the outbox on both database backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.receivers import Mailbox, Receiver

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox().start()
    monkeypatch.setenv("IOC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IOC_SMTP_PORT", str(box.port))
    monkeypatch.setenv("IOC_SMTP_SECURITY", "none")
    monkeypatch.setenv("IOC_SMTP_FROM", "IOC <ioc@sgddt.example.vn>")
    monkeypatch.setenv("IOC_SMTP_TIMEOUT", "3")
    yield box
    box.stop()


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    from ioc.auth.db import PostgresAuthDb, SqliteAuthDb

    if request.param == "sqlite":
        database: Any = SqliteAuthDb(tmp_path)
    else:
        server = request.getfixturevalue("postgres_server")
        database = PostgresAuthDb(str(server.create_database("notify_" + uuid.uuid4().hex[:12])))
    yield database
    database.close()
