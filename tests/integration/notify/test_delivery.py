"""Alerts pushed end to end: a real SMTP server (aiosmtpd) and a real HTTP receiver on 127.0.0.1.

The worker is driven with an explicit clock (``now``), so ten minutes of outage take seconds while
every attempt really goes to the (stopped or failing) servers.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

import pytest

from ioc.notify import config as notify_config
from ioc.notify import deliver, enqueue
from ioc.notify.channels import verify
from ioc.notify.outbox import counts, messages
from tests.alert_events import T0, WARDS_Q7, WARDS_Q8, contact_points, flood, ward_event
from tests.receivers import Mailbox, Receiver

SECRET = "a-long-random-signing-key-for-quan-8"


@pytest.fixture
def config(tmp_path: Path, webhook: Receiver, monkeypatch: pytest.MonkeyPatch) -> notify_config.NotifyConfig:
    monkeypatch.setenv("IOC_WEBHOOK_SECRET_Q8", SECRET)
    monkeypatch.setenv("IOC_BASE_URL", "https://ioc.sgddt.example.vn")
    file = tmp_path / "notify.toml"
    file.write_text(contact_points(webhook.url), encoding="utf-8")
    return notify_config.load(tmp_path, file)


def mails_to(box: Mailbox, address: str) -> list[Any]:
    return [m for m in box.mails if address in str(m["To"])]


def test_a_flood_in_ten_wards_is_one_message_per_contact_point(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    assert enqueue(db, flood(), now=T0) == 10
    assert enqueue(db, flood(), now=T0 + 5) == 0  # evaluating the day again tells nobody twice

    early = deliver(db, config, now=T0 + 10)  # inside the 30 s group window: more may come
    assert (early.routed, early.made, early.sent) == (10, 0, 0)
    assert not smtp.mails and not webhook.calls

    done = deliver(db, config, now=T0 + 31)
    assert (done.made, done.sent, done.failed) == (4, 4, 0)
    assert len(smtp.mails) == 3 and len(webhook.calls) == 1
    city = mails_to(smtp, "truc-ban@")
    assert len(city) == 1 and "pho-giam-doc@" in str(city[0]["To"])
    body = city[0].get_body(preferencelist=("plain",)).get_content()
    for _, name in WARDS_Q8 + WARDS_Q7:
        assert name in body
    assert "Cảnh báo mới (10)" in body
    assert str(city[0]["Subject"]) == "[IOC] Chuyên cần giảm bất thường — 10 đơn vị (Cảnh báo mới: 10)"
    assert "64 % so với thường 95 % vào thứ Tư" in body
    assert "https://ioc.sgddt.example.vn/alerts/100?lang=vi" in body
    assert "02/12/2026" in body  # Vietnamese date format

    english = mails_to(smtp, "analysts@")[0]
    text = english.get_body(preferencelist=("plain",)).get_content()
    assert "New alert (10)" in text and "Unusual drop in attendance" in str(english["Subject"])
    assert "64% vs usually 95% on Wednesdays; 5 of 5 schools lower" in text
    assert "https://ioc.sgddt.example.vn/alerts/100?lang=en" in text
    assert "2026-12-02" in text
    assert english.get_body(preferencelist=("html",)) is not None

    q7 = mails_to(smtp, "phong-gd-q7@")[0].get_body(preferencelist=("plain",)).get_content()
    assert "Phường Tân Thuận" in q7 and "Phường Phú Mỹ" in q7 and "Quận 8" not in q7  # its district only

    payload = webhook.json()[0]
    assert payload["status"] == "firing" and payload["language"] == "en"
    assert payload["contact_point"] == "quan-8" and payload["group_key"] == "rule=attendance_anomaly_ward"
    assert sorted(a["unit"] for a in payload["alerts"]) == sorted(code for code, _ in WARDS_Q8)
    first = payload["alerts"][0]
    assert first["url"].startswith("https://ioc.sgddt.example.vn/alerts/")
    assert {"alert_id", "rule", "kind", "level", "unit", "unit_name", "start", "end", "value"} <= set(first)

    again = deliver(db, config, now=T0 + 3600)
    assert (again.made, again.sent) == (0, 0) and len(smtp.mails) == 3
    assert counts(db) == {"events_unrouted": 0, "events_waiting": 0, "pending": 0, "sent": 4, "failed": 0}


def test_the_webhook_signature_verifies_as_the_docs_say(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    enqueue(db, flood(), now=T0)
    deliver(db, config, now=T0 + 60)
    headers, body = webhook.calls[0]
    timestamp, signature = headers["x-ioc-timestamp"], headers["x-ioc-signature"]
    # what a receiver does (docs/alerts.md), written out with hmac alone
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert signature == "sha256=" + expected
    assert int(timestamp) == int(T0 + 60)
    assert verify(SECRET.encode(), timestamp, body, signature, now=T0 + 90)
    assert not verify(SECRET.encode(), timestamp, body.replace(b"64", b"99"), signature, now=T0 + 90)
    assert not verify(b"another key", timestamp, body, signature, now=T0 + 90)
    assert not verify(SECRET.encode(), timestamp, body, signature, now=T0 + 60 + 3600)  # replayed later
    assert headers["x-ioc-delivery"] == str(webhook.json()[0]["id"])


def test_nothing_is_lost_when_smtp_and_webhook_are_down_for_ten_minutes(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    smtp.stop()  # connections refused
    webhook.down = True  # answers 503
    enqueue(db, flood(), now=T0)
    now = T0
    while now < T0 + 600:  # the scheduler's notify job runs every 30 s
        now += 30
        deliver(db, config, now=now)
    assert not smtp.mails and not webhook.calls
    assert webhook.refused >= 4  # really tried, backing off: 30 s, 60 s, 120 s, 240 s, ...
    pending = messages(db, "pending")
    assert len(pending) == 4 and all(m.attempts >= 4 for m in pending)
    assert all("SMTP server 127.0.0.1" in m.last_error or "HTTP 503" in m.last_error for m in pending)

    smtp.start()
    webhook.down = False
    recovered = now
    while counts(db)["pending"] and now < recovered + 3600:
        now += 30
        deliver(db, config, now=now)
    assert now - recovered <= 300 + 30  # at most the longest backoff (notify_retry_max_seconds) after
    assert len(smtp.mails) == 3 and len(webhook.calls) == 1  # each once
    assert len(webhook.json()[0]["alerts"]) == 8
    assert counts(db)["sent"] == 4


def test_a_message_when_it_resolves_in_each_language(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    enqueue(db, flood(), now=T0)
    deliver(db, config, now=T0 + 60)
    smtp.mails.clear()
    webhook.calls.clear()
    enqueue(db, flood(at=T0 + 86400, transition="resolved"), now=T0 + 86400)
    done = deliver(db, config, now=T0 + 86400, flush=True)
    # analysts-en does not want resolved messages (send_resolved = false)
    assert done.sent == 3 and not mails_to(smtp, "analysts@")
    vi = mails_to(smtp, "truc-ban@")[0].get_body(preferencelist=("plain",)).get_content()
    assert "Đã hết cảnh báo (10)" in vi and "02/12/2026 – 03/12/2026" in vi
    payload = webhook.json()[0]
    assert payload["status"] == "resolved" and "Resolved (8)" in payload["text"]
    assert all(a["transition"] == "resolved" and a["end"] == "2026-12-03" for a in payload["alerts"])


def test_repeat_interval(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    first = [ward_event(300, WARDS_Q7[0], "778", at=T0)]
    enqueue(db, first, now=T0)
    deliver(db, config, now=T0, flush=True)
    assert len(mails_to(smtp, "phong-gd-q7@")) == 1
    enqueue(db, [ward_event(300, WARDS_Q7[0], "778", "repeat", at=T0 + 3600)], now=T0 + 3600)
    deliver(db, config, now=T0 + 3600, flush=True)
    assert len(mails_to(smtp, "phong-gd-q7@")) == 1  # told an hour ago: within its 4 h
    enqueue(db, [ward_event(300, WARDS_Q7[0], "778", "repeat", at=T0 + 5 * 3600)], now=T0 + 5 * 3600)
    deliver(db, config, now=T0 + 5 * 3600, flush=True)
    repeated = mails_to(smtp, "phong-gd-q7@")
    assert len(repeated) == 2
    assert "Vẫn đang cảnh báo (1)" in repeated[1].get_body(preferencelist=("plain",)).get_content()


def test_a_message_is_given_up_after_the_limit_and_can_be_retried(
    db: Any,
    smtp: Mailbox,
    webhook: Receiver,
    config: notify_config.NotifyConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IOC_NOTIFY_GIVE_UP_HOURS", "1")
    webhook.down = True
    enqueue(db, [ward_event(400, WARDS_Q8[0], "776")], now=T0)
    now = T0
    while now < T0 + 2 * 3600:
        now += 60
        deliver(db, config, now=now, flush=True)
    failed = messages(db, "failed")
    assert len(failed) == 1 and "HTTP 503" in failed[0].last_error
    from ioc.notify.outbox import retry_failed

    webhook.down = False
    assert retry_failed(db, now) == 1
    assert deliver(db, config, now=now).sent == 1 and len(webhook.calls) == 1


def test_a_name_from_the_data_never_breaks_an_email_header(
    db: Any, smtp: Mailbox, webhook: Receiver, config: notify_config.NotifyConfig
) -> None:
    hostile = ward_event(500, ("27199", "Phường X\r\nBcc: attacker@evil.example\r\n<script>"), "778")
    enqueue(db, [hostile], now=T0)
    done = deliver(db, config, now=T0, flush=True)
    assert done.sent == 3 and done.failed == 0
    for mail in smtp.mails:
        assert mail["Bcc"] is None and "attacker" not in str(mail["To"])
        assert "\n" not in str(mail["Subject"]) and "Bcc: attacker@evil.example" in str(mail["Subject"])
        html_part = mail.get_body(preferencelist=("html",)).get_content()
        assert "<script>" not in html_part and "&lt;script&gt;" in html_part


def test_settled_messages_are_forgotten_after_the_retention(
    db: Any,
    smtp: Mailbox,
    webhook: Receiver,
    config: notify_config.NotifyConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IOC_NOTIFY_RETENTION_DAYS", "30")
    enqueue(db, flood(), now=T0)
    deliver(db, config, now=T0, flush=True)
    smtp.stop()  # a message still waiting when the old ones go
    enqueue(db, [ward_event(600, WARDS_Q7[0], "778", at=T0 + 29 * 86400)], now=T0 + 29 * 86400)
    deliver(db, config, now=T0 + 29 * 86400, flush=True)
    assert counts(db)["sent"] == 4 and counts(db)["pending"] == 3
    deliver(db, config, now=T0 + 30 * 86400 + 3600)  # the old ones 30 days and an hour old
    tally = counts(db)
    assert (tally["sent"], tally["pending"]) == (0, 3)
    assert db.query("SELECT count(*) FROM notify_events")[0][0] == 1  # the waiting one is kept
    smtp.start()
    assert deliver(db, config, now=T0 + 30 * 86400 + 4200).sent == 3
