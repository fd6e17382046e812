"""A local SMTP server (aiosmtpd) and a local webhook receiver on 127.0.0.1, and the outbox on both
database backends."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from ioc.alerts.events import AlertEvent

BACKENDS = ("sqlite", "postgresql")
# A fixed moment, so nothing depends on the day the tests run: 2026-12-02 09:00 in Ho Chi Minh City.
T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC).timestamp()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Mailbox:
    """What the SMTP server received; ``stop()``/``start()`` take it down and back on the same port."""

    port: int
    mails: list[EmailMessage] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        return "250 OK"

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def bodies(self) -> list[str]:
        out = []
        for mail in self.mails:
            part = mail.get_body(preferencelist=("plain",))
            assert part is not None
            out.append(part.get_content())
        return out


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    box = Mailbox(free_port())
    box.start()
    monkeypatch.setenv("IOC_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("IOC_SMTP_PORT", str(box.port))
    monkeypatch.setenv("IOC_SMTP_SECURITY", "none")
    monkeypatch.setenv("IOC_SMTP_FROM", "IOC <ioc@sgddt.example.vn>")
    monkeypatch.setenv("IOC_SMTP_TIMEOUT", "3")
    yield box
    box.stop()


@dataclass
class Receiver:
    """A webhook receiver: records each POST (headers, body); answers 503 while ``down``."""

    url: str
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    down: bool = False
    refused: int = 0

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if receiver.down:
                receiver.refused += 1
                self.send_response(503)
                self.end_headers()
                return
            receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/ioc"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


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
