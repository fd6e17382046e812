"""``ioc health``: the data-health record in a terminal, or as JSON for monitoring.

Exit status 0 when every dataset is fresh and no source is failing, 1 otherwise, so the command
doubles as a monitoring check (cron, Nagios, a container health probe).
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime
from typing import Any

from ioc.cli import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--not-reporting",
        metavar="DATE",
        nargs="?",
        const="latest",
        help="list the schools without attendance on DATE (YYYY-MM-DD; default: the latest school day)",
    )
    parser.add_argument("--runs", type=int, default=10, metavar="N", help="show the N latest problem runs")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (date, datetime)) else value


def run(args: argparse.Namespace) -> int:
    # heavy: DuckDB and the engine (~170 modules, 0.3 s) only when the record is read, not for
    # `ioc health --help`
    from ioc.access import EVERYTHING
    from ioc.metrics.front import Metrics
    from ioc.store import Store

    day: date | None = None
    if args.not_reporting not in (None, "latest"):
        try:
            day = date.fromisoformat(args.not_reporting)
        except ValueError:
            raise UsageError(
                f"--not-reporting: expected a date YYYY-MM-DD, got {args.not_reporting!r}"
            ) from None
    store = Store(args.data_dir, read_only=True)
    try:
        metrics = Metrics(store, EVERYTHING, cached=False)  # the CLI reads the whole city, uncached
        fresh = metrics.health("freshness")
        sources = metrics.health("sources")
        status = metrics.scheduler_status()
        problems = [
            r
            for r in metrics.health("job_runs", limit=200)
            if r["status"] in ("failed", "missed", "skipped", "partial")
        ][: args.runs]
        absent = metrics.health("not_reporting", day) if args.not_reporting is not None else None
    finally:
        store.close()
    healthy = not any(f.stale for f in fresh) and not any(s["failing"] for s in sources)

    if args.format == "json":
        print(
            json.dumps(
                {
                    "healthy": healthy,
                    "scheduler": {
                        "running": status["running"],
                        "pid": status.get("pid"),
                        "active": status.get("active"),
                        "nodes": status.get("nodes", []),
                    },
                    "freshness": [f.to_json() for f in fresh],
                    "sources": [{k: _json(v) for k, v in s.items()} for s in sources],
                    "problem_runs": [{k: _json(v) for k, v in r.items()} for r in problems],
                    **(
                        {"not_reporting": [{k: _json(v) for k, v in r.items()} for r in absent]}
                        if absent is not None
                        else {}
                    ),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return 0 if healthy else 1

    active = status.get("active") or {}
    running = (
        f"running: {active.get('node')} active since {active.get('since')}"
        if status["running"]
        else "not running" + (f" ({status['error']})" if status.get("error") else "")
    )
    print(f"data health of {store.layout.root}: {'healthy' if healthy else 'ATTENTION'}; scheduler {running}")
    print(
        f"\n{'dataset':<13} {'status':<8} {'latest data':<17} {'expected':<32} {'last success':<17} last failure"
    )
    for f in fresh:
        failure = f"{_text(f.last_failure)} {f.reason}" if f.last_failure else "-"
        print(
            f"{f.dataset:<13} {f.status:<8} {_text(f.latest_data):<17} {f.expected_cadence[:32]:<32} "
            f"{_text(f.last_success):<17} {failure[:120]}"
        )
    print(
        f"\n{'source':<26} {'kind':<12} {'state':<8} {'last success':<17} {'rows':>9} {'waiting':>7}  reason"
    )
    for s in sources:
        state = "FAILING" if s["failing"] else "ok"
        reason = (s["reason"] or "-") if s["failing"] or s["last_failure"] else "-"
        waiting = "-" if s["pending_files"] is None else str(s["pending_files"])
        print(
            f"{s['source']:<26} {s['kind']:<12} {state:<8} {_text(s['last_success']):<17} "
            f"{_text(s['rows_last_run']):>9} {waiting:>7}  {reason[:120]}"
        )
    if problems:
        print("\nrecent problem runs:")
        for r in problems:
            print(
                f"  {_text(r['started_at'])} {r['job_id']:<24} {r['status']:<8} {(r['message'] or '')[:140]}"
            )
    if absent is not None:
        print(
            f"\nschools without attendance on {_text(day or (absent[0]['date'] if absent else None))}: {len(absent)}"
        )
        for r in absent:
            print(
                f"  {r['school_id']:<10} {r['school_name'][:40]:<40} {r['district_name'][:24]:<24} "
                f"last reported {_text(r['last_reported'])}"
            )
    return 0 if healthy else 1
