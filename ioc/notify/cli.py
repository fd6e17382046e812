"""``ioc notify``: run the delivery worker once, see the outbox, check the configuration, send a test."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ioc import settings
from ioc.alerts.events import AlertEvent
from ioc.auth.db import open_db
from ioc.notify import config as notify_config
from ioc.notify import outbox
from ioc.notify.channels import DeliveryError, send
from ioc.notify.messages import compose
from ioc.notify.worker import base_url, deliver


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="notification configuration (default: $IOC_NOTIFY_CONFIG, else DATA_DIR/notify.toml)"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser(
        "deliver", help="route, group and send what the outbox holds, once (the scheduler's notify job)"
    )
    run.add_argument(
        "--flush", action="store_true", help="send waiting groups now instead of after their group_wait"
    )
    status = sub.add_parser("status", help="the outbox: events waiting, messages pending, sent and failed")
    status.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_parser("check", help="validate the configuration and list the contact points and reports")
    retry = sub.add_parser("retry", help="send failed messages again (all, or one by id)")
    retry.add_argument("id", nargs="?", type=int)
    test = sub.add_parser("test", help="send a test message to one contact point now (nothing is stored)")
    test.add_argument("name", help="contact point name")


def run(args: argparse.Namespace) -> int:
    data_dir = settings.data_dir(args.data_dir)
    config = notify_config.load_for_command(data_dir, args.config, "ioc notify")
    if config is None:
        return 2
    if args.action == "check":
        print(f"{config.origin}: {len(config.contact_points)} contact points, {len(config.reports)} reports")
        for point in config.contact_points:
            where = ", ".join(point.districts) or "the whole city"
            rules = ", ".join(point.rules) or "every rule"
            target = point.url if point.type == "webhook" else ", ".join(point.to)
            print(f"  {point.name:<20} {point.type:<8} {point.language}  {rules}; {where} -> {target}")
        for report in config.reports:
            print(f"  report {report.name:<13} {report.page} '{report.schedule}' -> {', '.join(report.to)}")
        return 0
    db = open_db(data_dir)
    now = time.time()
    if args.action == "deliver":
        done = deliver(db, config, now=now, flush=args.flush)
        print(done.describe())
        return 1 if done.failed or done.given_up else 0
    if args.action == "retry":
        print(f"{outbox.retry_failed(db, now, args.id)} failed messages will be sent at the next delivery")
        return 0
    if args.action == "test":
        return _test(config, args.name, now)
    totals = outbox.counts(db)
    recent = outbox.messages(db, limit=20)
    if args.format == "json":
        rows = [
            {
                "id": m.id,
                "contact_point": m.contact_point,
                "group_key": m.group_key,
                "status": m.status,
                "attempts": m.attempts,
                "subject": m.message["subject"],
                "last_error": m.last_error,
            }
            for m in recent
        ]
        print(json.dumps({"counts": totals, "messages": rows}, ensure_ascii=False, indent=2))
        return 0
    print(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in totals.items()))
    for m in recent:
        why = f"  ({m.last_error})" if m.last_error else ""
        print(
            f"  #{m.id:<5} {m.status:<8} {m.attempts} tries  {m.contact_point:<16} {m.message['subject']}{why}"
        )
    return 1 if totals["failed"] else 0


def _test(config: notify_config.NotifyConfig, name: str, now: float) -> int:
    point = config.contact_point(name)
    if point is None:
        print(f"ioc notify test: no contact point named {name!r} in {config.origin}", file=sys.stderr)
        return 2
    zone = ZoneInfo(str(settings.get("timezone")))
    moment = datetime.fromtimestamp(now, zone)
    texts = {
        "vi": "Thư thử của IOC: điểm liên hệ hoạt động.",
        "en": "IOC test message: the contact point works.",
    }
    event = AlertEvent(
        alert_id=0,
        transition="firing",
        rule="test",
        kind="threshold",
        kpi=None,
        level="city",
        unit="all",
        unit_name="TP. Hồ Chí Minh",
        district=None,
        start=date.fromtimestamp(now),
        end=None,
        severity="info",
        value=None,
        expected=None,
        at=moment,
        messages=texts,
    )
    message = compose(
        [event], contact_point=name, lang=point.language, group_key="test", base_url=base_url(), now=moment
    )
    message["subject"] = message["payload"]["title"] = f"[IOC] {texts[point.language]}"
    try:
        send(point, 0, message, now)
    except DeliveryError as error:
        print(f"ioc notify test: {error}", file=sys.stderr)
        return 1
    print(f"test message sent to {name}")
    return 0
