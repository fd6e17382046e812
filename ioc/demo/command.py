"""The ``ioc demo`` subcommand."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date

from ioc import settings
from ioc.cli import UsageError

MAX_LISTED = 20


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date as YYYY-MM-DD") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--schools", type=int, default=None, help="number of schools (default: $IOC_DEMO_SCHOOLS or 3500)"
    )
    parser.add_argument(
        "--attendance-days",
        type=int,
        default=None,
        help="the last N school days of attendance (default: every school day of the year ending today)",
    )
    parser.add_argument(
        "--probe-days",
        type=int,
        default=None,
        help="days of 5-minute connectivity probes ending now (default: $IOC_DEMO_PROBE_DAYS or 14)",
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed (default: $IOC_DEMO_SEED or 2026)"
    )
    parser.add_argument(
        "--today", type=_day, default=None, help="the demo's today as YYYY-MM-DD (default: today)"
    )


def run(args: argparse.Namespace) -> int:
    # heavy: the builder (pandas, pyarrow) only once a demo is built, not for `ioc demo --help`
    from ioc.demo.build import DemoError, build_demo

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        summary = build_demo(
            args.data_dir,
            schools=int(settings.get("demo_schools", args.schools)),
            attendance_days=args.attendance_days,
            probe_days=int(settings.get("demo_probe_days", args.probe_days)),
            seed=int(settings.get("demo_seed", args.seed)),
            today=args.today,
            progress=say,
        )
    except DemoError as error:
        raise UsageError(str(error)) from None
    say(
        f"demo ready in {summary.data_dir}: {summary.rows_loaded:,} rows loaded from "
        f"{len(summary.files)} files in {summary.source_dir} ({summary.seconds:.1f}s)"
    )
    if summary.failed:
        for result in summary.failed:
            print(f"NOT LOADED {result.file}: {result.status}", file=sys.stderr)
        for rejection in summary.rejections[:MAX_LISTED]:
            print(
                f"  {rejection.file} row {rejection.row} column {rejection.column} value {rejection.value!r}: "
                f"{rejection.message}",
                file=sys.stderr,
            )
        return 1
    _evaluate_alerts(args.data_dir, summary.attendance_days, say)
    return 0


def _evaluate_alerts(data_dir: str | None, days: tuple[date, ...], say: Callable[[str], None]) -> None:
    """Evaluate every alert rule over the demo's school days, so the wall, /alerts and the charts'
    alert marks show the demo's floods and flu dip from the first start (nobody is notified: no
    contact point is configured by the demo, and a demo's past is not news)."""
    # heavy: the alert rules, the engine and DuckDB (~800 modules, 1 s) only once the demo is
    # loaded, not for `ioc demo --help`
    from ioc.alerts import records
    from ioc.alerts.evaluate import evaluate
    from ioc.auth.db import open_db
    from ioc.store import open_store

    if not days:
        return
    store = open_store(data_dir)  # the process's shared store of the directory: not closed here
    db = records.ensure(open_db(settings.data_dir(data_dir)))
    result = evaluate(store, db, min(days), max(days), notify=None)
    say(
        f"alerts evaluated over {len(result.days)} school days in {result.seconds:.1f}s: "
        f"{len(result.events)} change(s) recorded (`ioc alerts list --status all`)"
    )
