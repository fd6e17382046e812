"""The delivery worker: routes, groups and sends what the outbox holds (see :mod:`ioc.notify.outbox`).

Run by the scheduler (a ``notify`` job, every 30 s by default) and by ``ioc notify deliver``.
Everything it needs is in the database, so any process may run it, and two at once never send a
message twice (a message is claimed before it is sent).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ioc import settings
from ioc.alerts.events import AlertEvent
from ioc.auth.db import AuthDb
from ioc.notify import outbox
from ioc.notify.channels import DeliveryError, send
from ioc.notify.config import ContactPoint, NotifyConfig
from ioc.notify.messages import compose

log = logging.getLogger("ioc.notify")

CLAIM_SECONDS = 120.0  # a message being sent is left alone by other workers this long


@dataclass
class Delivery:
    """What one run of the worker did."""

    routed: int = 0
    made: int = 0
    sent: int = 0
    failed: int = 0  # attempts that failed (retried later)
    given_up: int = 0
    errors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = (
            f"{self.routed} events routed, {self.made} messages made, {self.sent} sent, "
            f"{self.failed} failed attempts (retried later), {self.given_up} given up"
        )
        return text + "".join(f"\n  {e}" for e in self.errors)


def base_url() -> str:
    configured = str(settings.get("base_url") or "").strip()
    return configured or f"http://{settings.get('host')}:{settings.get('port')}"


def group_key(point: ContactPoint, event: AlertEvent) -> str:
    values = {
        "rule": event.rule,
        "kind": event.kind,
        "district": event.district or "all",
        "level": event.level,
        "severity": event.severity,
    }
    return "|".join(f"{name}={values[name]}" for name in point.group_by) or "all"


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failures: doubling, capped."""
    first = float(settings.get("notify_retry_seconds"))
    cap = float(settings.get("notify_retry_max_seconds"))
    return float(min(cap, first * 2 ** max(attempts - 1, 0)))


def _targets(db: AuthDb, config: NotifyConfig, event: AlertEvent, now: float) -> list[tuple[str, str]]:
    targets = []
    for point in config.contact_points:
        if not point.wants(event.rule, event.district, event.severity):
            continue
        if event.transition == "resolved" and not point.send_resolved:
            continue
        if event.transition == "repeat":
            told = outbox.told_since(db, point.name, event.alert_id)
            if told is not None and now - told < point.repeat_interval:
                continue
        targets.append((point.name, group_key(point, event)))
    return targets


def deliver(db: AuthDb, config: NotifyConfig, *, now: float | None = None, flush: bool = False) -> Delivery:
    """One run: route new events, make the due groups messages, send the due messages.

    ``flush`` makes every waiting group a message now instead of after its ``group_wait``.
    """
    now = time.time() if now is None else now
    done = Delivery()
    give_up = float(settings.get("notify_give_up_hours")) * 3600
    if config.contact_points:
        for stored in outbox.unrouted(db):
            targets = [] if now - stored.enqueued_at > give_up else _targets(db, config, stored.event, now)
            outbox.route(db, stored, targets, now)
            done.routed += 1
    _group(db, config, now, flush, done)
    _send(db, config, now, give_up, done)
    outbox.prune(db, now - float(settings.get("notify_retention_days")) * 86400)
    return done


def _group(db: AuthDb, config: NotifyConfig, now: float, flush: bool, done: Delivery) -> None:
    zone = ZoneInfo(str(settings.get("timezone")))
    link = base_url()
    for name, key, oldest in outbox.open_groups(db):
        point = config.contact_point(name)
        if point is None:
            dropped = outbox.drop_group(db, name)
            log.warning("contact point %r is no longer configured: %d waiting events dropped", name, dropped)
            continue
        if not flush and now - oldest < point.group_wait:
            continue
        events = outbox.group_events(db, name, key)
        if not events:
            continue
        try:
            message = compose(
                [s.event for s in events],
                contact_point=name,
                lang=point.language,
                group_key=key,
                base_url=link,
                now=datetime.fromtimestamp(now, zone),
            )
        except Exception as error:  # noqa: BLE001 - a group that cannot be written waits; others go
            log.exception("contact point %s, group %s: the message cannot be made", name, key)
            done.errors.append(f"{name} {key}: the message cannot be made: {error}")
            continue
        if outbox.store_message(db, name, key, events, message, now) is not None:
            done.made += 1


def _send(db: AuthDb, config: NotifyConfig, now: float, give_up: float, done: Delivery) -> None:
    down: set[str] = set()  # contact points that failed in this run: their other messages wait too
    for message in outbox.due_messages(db, now):
        point = config.contact_point(message.contact_point)
        if point is None:
            outbox.mark_failed(db, message.id, "the contact point is no longer configured", None)
            done.given_up += 1
            continue
        if point.name in down:
            continue  # tried again at the next run, with its own count of attempts untouched
        if not outbox.claim(db, message.id, now, CLAIM_SECONDS):
            continue
        try:
            send(point, message.id, message.message, now)
        except Exception as error:  # noqa: BLE001 - one bad message never stops the others
            if not isinstance(error, DeliveryError):
                log.exception("message %d to %s could not be sent", message.id, point.name)
                error = DeliveryError(f"{type(error).__name__}: {error}")
            down.add(point.name)
            attempts = message.attempts + 1
            late = now + backoff(attempts) - message.created_at > give_up
            outbox.mark_failed(db, message.id, str(error), None if late else now + backoff(attempts))
            if late:
                done.given_up += 1
                log.error(
                    "message %d to %s given up after %d attempts: %s", message.id, point.name, attempts, error
                )
            else:
                done.failed += 1
                log.warning(
                    "message %d to %s: attempt %d failed, next in %.0f s: %s",
                    message.id,
                    point.name,
                    attempts,
                    backoff(attempts),
                    error,
                )
            done.errors.append(f"message {message.id} to {point.name}: {error}")
            continue
        outbox.mark_sent(db, message.id, now)
        done.sent += 1
        log.info("message %d sent to %s", message.id, point.name)
