"""A local SMTP server (aiosmtpd) and a local webhook receiver on 127.0.0.1 (tests/receivers.py),
and the outbox on both database backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ioc.alerts.events import AlertEvent
from tests.receivers import Mailbox, Receiver

BACKENDS = ("sqlite", "postgresql")
# A fixed moment, so nothing depends on the day the tests run: 2026-12-02 09:00 in Ho Chi Minh City.
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC).timestamp()


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


WARDS_Q8 = [(f"2770{i}", f"Phường {i} (Quận 8)") for i in range(1, 9)]
WARDS_Q7 = [("27101", "Phường Tân Thuận"), ("27102", "Phường Phú Mỹ")]


def ward_event(
    alert_id: int,
    ward: tuple[str, str],
    district: str,
    transition: str = "firing",
    at: float = T0,
    day: date = date(2026, 12, 2),
    rule: str = "attendance_anomaly_ward",
) -> AlertEvent:
    code, name = ward
    return AlertEvent(
        alert_id=alert_id,
        transition=transition,  # type: ignore[arg-type]
        rule=rule,
        kind="anomaly",
        kpi="attendance_rate",
        level="ward",
        unit=code,
        unit_name=name,
        district=district,
        start=day,
        end=day + timedelta(days=1) if transition == "resolved" else None,
        severity="critical",
        value=0.64,
        expected=0.95,
        at=datetime.fromtimestamp(at, UTC),
        messages={
            "vi": f"{name}: 64 % so với thường 95 % vào thứ Tư; 5/5 trường thấp hơn",
            "en": f"{name}: 64% vs usually 95% on Wednesdays; 5 of 5 schools lower",
        },
    )


def flood(at: float = T0, transition: str = "firing") -> list[AlertEvent]:
    """A flood in ten wards: eight of Quận 8 (776), two of Quận 7 (778)."""
    events = [ward_event(100 + i, w, "776", transition, at) for i, w in enumerate(WARDS_Q8)]
    events += [ward_event(200 + i, w, "778", transition, at) for i, w in enumerate(WARDS_Q7)]
    return events
