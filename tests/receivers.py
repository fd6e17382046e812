"""Local receivers of what the product pushes: an SMTP server (aiosmtpd) and a webhook receiver,
on 127.0.0.1, for the notification and report tests and benchmarks.notify_bench. Each can be
taken down and brought back on the same port to play an outage."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Mailbox:
    """What the SMTP server received; ``stop()``/``start()`` take it down (connections refused)
    and back on the same port."""

    port: int = field(default_factory=free_port)
    mails: list[EmailMessage] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    controller: Controller | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        import time

        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(mail)
        self.received_at.append(time.time())
        return "250 OK"

    def start(self) -> Mailbox:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@dataclass
class Receiver:
    """A webhook receiver: records each POST (lower-case headers, raw body); answers 503 while
    ``down``."""

    url: str = ""
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    down: bool = False
    refused: int = 0
    _server: ThreadingHTTPServer | None = None

    def json(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                import time

                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.down:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                receiver.received_at.append(time.time())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/ioc"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
