"""Notifications, measured (issue 15): what enqueueing costs a load, that a flood in ten wards is one
message per contact point, and that nothing is lost while the SMTP server and the webhook are down
for ten minutes — with the real ``ioc scheduler`` delivering on its own clock.

    python -m benchmarks notify                      # about 12 minutes (a 10-minute outage)
    python -m benchmarks.notify_bench --outage 60    # a shorter outage

Receivers: aiosmtpd and a local HTTP receiver on 127.0.0.1 (tests/receivers.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ioc.auth.db import SqliteAuthDb
from ioc.notify import deliver, enqueue
from ioc.notify import load as load_config
from ioc.notify.outbox import counts
from tests.alert_events import contact_points, flood
from tests.receivers import Mailbox, Receiver


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outage", type=float, default=600.0, help="seconds both receivers are down")
    args = parser.parse_args()
    box, hook = Mailbox().start(), Receiver().start()
    env = {
        "IOC_SMTP_HOST": "127.0.0.1",
        "IOC_SMTP_PORT": str(box.port),
        "IOC_SMTP_SECURITY": "none",
        "IOC_SMTP_FROM": "IOC <ioc@sgddt.example.vn>",
        "IOC_WEBHOOK_SECRET_Q8": "bench-signing-key",
        "IOC_BASE_URL": "https://ioc.example.vn",
    }
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="ioc-notify-bench-") as tmp:
        folder = Path(tmp)
        (folder / "notify.toml").write_text(contact_points(hook.url), encoding="utf-8")
        db = SqliteAuthDb(folder)

        # 1. what a load pays: enqueue is one local write, no network
        took = []
        for run in range(200):
            started = time.perf_counter()
            enqueue(db, flood(time.time(), first=10_000 + run * 1000))
            took.append((time.perf_counter() - started) * 1000)
        print(f"enqueue 10 events: median {statistics.median(took):.2f} ms, p95 {sorted(took)[189]:.2f} ms")
        with db.connect() as con:  # start the measured part from an empty outbox
            con.execute("DELETE FROM notify_events")

        # 2. a flood in ten wards: one message per contact point
        enqueue(db, flood(time.time(), first=1))
        done = deliver(db, load_config(folder), flush=True)
        per_point = {name: 0 for name in ("so-gddt", "analysts-en", "quan-7", "quan-8")}
        for mail in box.mails:
            for name, address in (
                ("so-gddt", "truc-ban@"),
                ("analysts-en", "analysts@"),
                ("quan-7", "phong-gd-q7@"),
            ):
                per_point[name] += address in str(mail["To"])
        per_point["quan-8"] = len(hook.calls)
        print(
            f"flood in 10 wards (8 in 776, 2 in 778): {done.made} messages made, per contact point {per_point}"
        )

        # 3. both receivers down for the outage; the real scheduler keeps trying on its own clock
        box.mails.clear()
        hook.calls.clear()
        (folder / "scheduler.toml").write_text(
            '[[jobs]]\nid = "notify"\nkind = "notify"\nschedule = "30s"\n', encoding="utf-8"
        )
        box.stop()
        hook.down = True
        scheduler = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "ioc.cli", "--data-dir", str(folder), "scheduler"],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            enqueue(db, flood(time.time(), first=100))
            down_at = time.time()
            print(f"receivers down for {args.outage:.0f} s, 10 new ward alerts enqueued ...", flush=True)
            time.sleep(args.outage)
            refused = hook.refused
            box.start()
            hook.down = False
            up_at = time.time()
            while (len(box.mails) < 3 or len(hook.calls) < 1) and time.time() - up_at < 900:
                time.sleep(1)
            time.sleep(65)  # two more runs: nothing is sent twice
        finally:
            scheduler.terminate()
            scheduler.wait(30)
        last = max(box.received_at + hook.received_at) if box.received_at and hook.received_at else None
        tally = counts(db)
        print(f"during the outage: {refused} webhook attempts answered 503 (SMTP connections refused)")
        print(
            f"after it: {len(box.mails)} emails (expected 3), {len(hook.calls)} webhook calls (expected 1), "
            f"each alert once: {sorted(a['alert_id'] for a in hook.json()[0]['alerts']) == list(range(100, 108)) if hook.calls else False}"
        )
        if last:
            print(
                f"delivered {last - up_at:.0f} s after the receivers came back ({last - down_at:.0f} s after the alerts)"
            )
        print(f"outbox: {tally}")
        box.stop()
        hook.stop()
        ok = len(box.mails) == 3 and len(hook.calls) == 1 and tally["pending"] == 0 and tally["failed"] == 0
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
