"""The outbox: alert events kept in the app database until every contact point has been told.

:func:`enqueue` is what evaluation calls: one small write, no network, so a load is never held
up by a mail server. The delivery worker (:mod:`ioc.notify.worker`) then, in three steps that
each commit before the next:

1. **routes** each new event to the contact points that want it (rule, district, severity;
   a ``repeat`` only when the contact point was not told about the alert within its repeat
   interval; ``resolved`` only where ``send_resolved``), under the group key of that contact
   point (e.g. ``rule=attendance_anomaly_ward``);
2. **groups**: once a group's oldest event has waited ``group_wait``, its events become ONE
   message, made and stored as it will be sent;
3. **sends** each due message; a failure is retried with exponential backoff
   (``notify_retry_seconds`` doubling up to ``notify_retry_max_seconds``) until
   ``notify_give_up_hours``. A message is marked sent only after the server accepted it, so a
   crash in between sends it again (at least once; webhooks carry ``X-IOC-Delivery`` to
   deduplicate).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from ioc.alerts.events import AlertEvent
from ioc.auth.db import AuthDb
from ioc.notify.messages import event_json


def to_json(event: AlertEvent) -> str:
    return json.dumps(event_json(event), ensure_ascii=False, sort_keys=True)


_FIELDS = frozenset(f.name for f in fields(AlertEvent))


def from_json(text: str) -> AlertEvent:
    """An event as enqueued; fields a newer or older AlertEvent no longer has are left out."""
    raw = {k: v for k, v in json.loads(text).items() if k in _FIELDS}
    raw["start"] = date.fromisoformat(raw["start"])
    raw["end"] = date.fromisoformat(raw["end"]) if raw.get("end") else None
    raw["at"] = datetime.fromisoformat(raw["at"])
    return AlertEvent(**raw)


def enqueue(db: AuthDb, events: Iterable[AlertEvent], now: float | None = None) -> int:
    """Keep ``events`` for delivery and return at once (no network); how many were new.

    An event already enqueued (same alert, transition and time) is kept once, so evaluating the
    same day again never tells anyone twice.
    """
    now = time.time() if now is None else now
    added = 0
    with db.connect() as con:
        for event in events:
            if event.at.tzinfo is None:
                raise ValueError(f"alert {event.alert_id}: the event's time {event.at} has no time zone")
            cur = con.execute(
                "INSERT INTO notify_events (alert_id, transition, at, event, enqueued_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id, transition, at) DO NOTHING",
                (event.alert_id, event.transition, event.at.isoformat(), to_json(event), now),
            )
            added += max(cur.rowcount, 0)
    return added


@dataclass(frozen=True)
class Stored:
    id: int
    event: AlertEvent
    enqueued_at: float


def unrouted(db: AuthDb, limit: int = 5000) -> list[Stored]:
    rows = db.query(
        "SELECT id, event, enqueued_at FROM notify_events WHERE routed_at IS NULL ORDER BY id LIMIT ?",
        (limit,),
    )
    return [Stored(int(r["id"]), from_json(r["event"]), float(r["enqueued_at"])) for r in rows]


def told_since(db: AuthDb, contact_point: str, alert_id: int) -> float | None:
    rows = db.query(
        "SELECT at FROM notify_told WHERE contact_point = ? AND alert_id = ?", (contact_point, alert_id)
    )
    return float(rows[0]["at"]) if rows else None


def route(db: AuthDb, stored: Stored, targets: Iterable[tuple[str, str]], now: float) -> None:
    """Hand one event to its (contact point, group key) pairs and mark it routed, in one transaction."""
    with db.connect() as con:
        for contact_point, group_key in targets:
            con.execute(
                "INSERT INTO notify_pending (event_id, contact_point, group_key, since) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (event_id, contact_point) DO NOTHING",
                (stored.id, contact_point, group_key, stored.enqueued_at),
            )
        con.execute("UPDATE notify_events SET routed_at = ? WHERE id = ?", (now, stored.id))


def open_groups(db: AuthDb) -> list[tuple[str, str, float]]:
    """(contact point, group key, enqueue time of its oldest event) of every group not yet sent."""
    rows = db.query(
        "SELECT contact_point, group_key, min(since) AS oldest FROM notify_pending"
        " WHERE message_id IS NULL GROUP BY contact_point, group_key ORDER BY oldest"
    )
    return [(r["contact_point"], r["group_key"], float(r["oldest"])) for r in rows]


def group_events(db: AuthDb, contact_point: str, group_key: str) -> list[Stored]:
    rows = db.query(
        "SELECT e.id, e.event, e.enqueued_at FROM notify_pending p JOIN notify_events e ON e.id = p.event_id"
        " WHERE p.contact_point = ? AND p.group_key = ? AND p.message_id IS NULL ORDER BY e.id",
        (contact_point, group_key),
    )
    return [Stored(int(r["id"]), from_json(r["event"]), float(r["enqueued_at"])) for r in rows]


def store_message(
    db: AuthDb, contact_point: str, group_key: str, events: list[Stored], message: dict[str, Any], now: float
) -> int | None:
    """Make the group's events one stored message; None when another worker took them meanwhile."""
    try:
        return _store_message(db, contact_point, group_key, events, message, now)
    except _Taken:
        return None


def _store_message(
    db: AuthDb, contact_point: str, group_key: str, events: list[Stored], message: dict[str, Any], now: float
) -> int:
    with db.connect() as con:
        row = con.execute(
            "INSERT INTO notify_messages (contact_point, group_key, created_at, message, status, next_attempt_at)"
            " VALUES (?, ?, ?, ?, 'pending', ?) RETURNING id",
            (contact_point, group_key, now, json.dumps(message, ensure_ascii=False), now),
        ).fetchone()
        assert row is not None
        message_id = int(row[0])
        for item in events:
            cur = con.execute(
                "UPDATE notify_pending SET message_id = ? WHERE event_id = ? AND contact_point = ?"
                " AND message_id IS NULL",
                (message_id, item.id, contact_point),
            )
            if cur.rowcount != 1:
                raise _Taken
            con.execute(
                "INSERT INTO notify_told (contact_point, alert_id, at) VALUES (?, ?, ?)"
                " ON CONFLICT (contact_point, alert_id) DO UPDATE SET at = excluded.at",
                (contact_point, item.event.alert_id, now),
            )
    return message_id


class _Taken(Exception):
    """Another worker grouped these events first (the transaction is rolled back)."""


def drop_group(db: AuthDb, contact_point: str) -> int:
    """Forget the waiting events of a contact point that is no longer configured."""
    with db.connect() as con:
        cur = con.execute(
            "DELETE FROM notify_pending WHERE contact_point = ? AND message_id IS NULL", (contact_point,)
        )
        return max(cur.rowcount, 0)


@dataclass(frozen=True)
class Message:
    id: int
    contact_point: str
    group_key: str
    created_at: float
    message: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str
    sent_at: float | None


_MESSAGE_COLUMNS = "id, contact_point, group_key, created_at, message, status, attempts, next_attempt_at, last_error, sent_at"


def _message(row: Any) -> Message:
    values = dict(row)
    values["message"] = json.loads(values["message"])
    return Message(**values)


def due_messages(db: AuthDb, now: float) -> list[Message]:
    rows = db.query(
        f"SELECT {_MESSAGE_COLUMNS} FROM notify_messages"  # noqa: S608 - fixed column list
        " WHERE status = 'pending' AND next_attempt_at <= ? AND claimed_until <= ? ORDER BY id",
        (now, now),
    )
    return [_message(r) for r in rows]


def messages(db: AuthDb, status: str | None = None, limit: int = 50) -> list[Message]:
    where = " WHERE status = ?" if status else ""
    rows = db.query(
        f"SELECT {_MESSAGE_COLUMNS} FROM notify_messages{where} ORDER BY id DESC LIMIT ?",  # noqa: S608
        (status, limit) if status else (limit,),
    )
    return [_message(r) for r in rows]


def claim(db: AuthDb, message_id: int, now: float, hold: float) -> bool:
    """Take a message for sending for ``hold`` seconds (two workers never send it at once)."""
    with db.connect() as con:
        cur = con.execute(
            "UPDATE notify_messages SET claimed_until = ? WHERE id = ? AND status = 'pending' AND claimed_until <= ?",
            (now + hold, message_id, now),
        )
        return cur.rowcount == 1


def mark_sent(db: AuthDb, message_id: int, now: float) -> None:
    with db.connect() as con:
        con.execute(
            "UPDATE notify_messages SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
            " claimed_until = 0, last_error = '' WHERE id = ?",
            (now, message_id),
        )


def mark_failed(db: AuthDb, message_id: int, error: str, next_attempt_at: float | None) -> None:
    """One failed attempt: tried again at ``next_attempt_at``, or given up when it is None."""
    with db.connect() as con:
        con.execute(
            "UPDATE notify_messages SET attempts = attempts + 1, last_error = ?, claimed_until = 0,"
            " status = ?, next_attempt_at = ? WHERE id = ?",
            (
                error[:1000],
                "failed" if next_attempt_at is None else "pending",
                next_attempt_at or 0,
                message_id,
            ),
        )


def retry_failed(db: AuthDb, now: float, message_id: int | None = None) -> int:
    """Put failed messages (or one) back to be sent at the next run."""
    with db.connect() as con:
        cur = con.execute(
            "UPDATE notify_messages SET status = 'pending', next_attempt_at = ?, created_at = ?,"
            " claimed_until = 0 WHERE status = 'failed' AND (CAST(? AS BIGINT) IS NULL OR id = ?)",
            (now, now, message_id, message_id),
        )
        return max(cur.rowcount, 0)


def counts(db: AuthDb) -> dict[str, int]:
    """Events waiting to be routed or grouped, and messages by status."""
    result = {"events_unrouted": 0, "events_waiting": 0, "pending": 0, "sent": 0, "failed": 0}
    result["events_unrouted"] = int(
        db.query("SELECT count(*) FROM notify_events WHERE routed_at IS NULL")[0][0]
    )
    result["events_waiting"] = int(
        db.query("SELECT count(*) FROM notify_pending WHERE message_id IS NULL")[0][0]
    )
    for row in db.query("SELECT status, count(*) AS n FROM notify_messages GROUP BY status"):
        result[str(row["status"])] = int(row["n"])
    return result


def prune(db: AuthDb, before: float) -> int:
    """Forget what was settled before ``before``: sent and failed messages, their events, and what
    contact points were told then; how many messages went. Nothing waiting is touched."""
    with db.connect() as con:
        gone = con.execute(
            "DELETE FROM notify_messages WHERE status IN ('sent', 'failed') AND created_at < ?", (before,)
        ).rowcount
        con.execute(
            "DELETE FROM notify_pending WHERE message_id IS NOT NULL"
            " AND message_id NOT IN (SELECT id FROM notify_messages)"
        )
        con.execute(
            "DELETE FROM notify_events WHERE routed_at < ?"
            " AND id NOT IN (SELECT event_id FROM notify_pending)",
            (before,),
        )
        con.execute("DELETE FROM notify_told WHERE at < ?", (before,))
        con.execute(
            "DELETE FROM report_runs WHERE status IN ('sent', 'failed') AND created_at < ?", (before,)
        )
    return max(gone, 0)
