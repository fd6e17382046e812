"""How a message leaves: email through SMTP (smtplib) and a JSON webhook signed with HMAC-SHA256.

The webhook's body is the message's JSON; two headers let the receiver check it came from this
IOC and is fresh (docs/notifications.md shows a receiver)::

    X-IOC-Timestamp: 1764900000                       (Unix seconds when it was sent)
    X-IOC-Signature: sha256=<hex HMAC-SHA256(key, timestamp + "." + body)>
    X-IOC-Delivery:  <message id>                     (the same on every retry: deduplicate on it)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from ioc import settings
from ioc.notify.config import ConfigError, ContactPoint

SIGNATURE_HEADER = "X-IOC-Signature"
TIMESTAMP_HEADER = "X-IOC-Timestamp"
DELIVERY_HEADER = "X-IOC-Delivery"


class DeliveryError(Exception):
    """A message could not be handed over this time (it is tried again later)."""


def sign(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(key, str(timestamp).encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    key: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is within ``tolerance`` seconds."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(key, sent, body), signature)


def webhook_body(message_id: int, message: dict[str, Any]) -> bytes:
    return json.dumps({"id": message_id, **message["payload"]}, ensure_ascii=False, sort_keys=True).encode()


def send_webhook(point: ContactPoint, message_id: int, message: dict[str, Any], now: float) -> None:
    body = webhook_body(message_id, message)
    timestamp = int(now)
    try:
        key = point.secret()
    except ConfigError as error:
        raise DeliveryError(str(error)) from None
    request = urllib.request.Request(  # noqa: S310 - the URL is checked to be http(s) by the config
        str(point.url),
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "education-ioc-notify/1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(key, timestamp, body),
            DELIVERY_HEADER: str(message_id),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=float(settings.get("smtp_timeout"))) as response:  # noqa: S310
            response.read(65536)
    except urllib.error.HTTPError as error:
        raise DeliveryError(f"webhook {point.url} answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DeliveryError(f"webhook {point.url} unreachable: {reason}") from None


def email(to: list[str], subject: str, text: str, html: str | None = None) -> EmailMessage:
    sender = str(settings.get("smtp_from") or "")
    if not sender:
        raise DeliveryError("IOC_SMTP_FROM is empty: set the From address of notification emails")
    # headers unfolded up to RFC 5322's 998: Python's folding of a long Vietnamese subject drops
    # the space between two encoded words ("bất thường— 15"); the bodies are quoted-printable
    mail = EmailMessage(policy=policy.default.clone(max_line_length=998))
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=True)
    mail["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip(">") or None)
    mail.set_content(text, cte="quoted-printable")
    if html:
        mail.add_alternative(html, subtype="html", cte="quoted-printable")
    return mail


def send_mail(mail: EmailMessage) -> None:
    """Hand one email to the SMTP server of the settings (smtp_host, smtp_port, smtp_security, ...)."""
    host = str(settings.get("smtp_host") or "")
    if not host:
        raise DeliveryError("IOC_SMTP_HOST is empty: no SMTP server to send email through")
    port = int(settings.get("smtp_port"))
    security = str(settings.get("smtp_security")).lower()
    if security not in {"starttls", "tls", "none"}:
        raise DeliveryError(f"IOC_SMTP_SECURITY={security!r}: expected starttls, tls or none")
    timeout = float(settings.get("smtp_timeout"))
    context = ssl.create_default_context()
    try:
        server: smtplib.SMTP
        if security == "tls":
            server = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(host, port, timeout=timeout)
        with server:
            if security == "starttls":
                server.starttls(context=context)
            user = str(settings.get("smtp_username") or "")
            if user:
                server.login(user, str(settings.get("smtp_password") or ""))
            refused = server.send_message(mail)
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"SMTP server {host}:{port}: {error}") from None
    if refused:
        raise DeliveryError(f"SMTP server {host}:{port} refused {', '.join(sorted(refused))}")


def send(point: ContactPoint, message_id: int, message: dict[str, Any], now: float) -> None:
    """Deliver a stored message to its contact point; raises DeliveryError when it must be retried."""
    if point.type == "webhook":
        send_webhook(point, message_id, message, now)
    else:
        send_mail(email(list(point.to), message["subject"], message["text"], message["html"]))
