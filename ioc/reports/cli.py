"""``ioc report``: list the reports, print one to PDF, email one now, send the due ones."""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import date, datetime, time
from pathlib import Path

from ioc import clock, settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="notification configuration (default: $IOC_NOTIFY_CONFIG, else DATA_DIR/notify.toml)"
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="the configured reports and their last runs")
    for name, text in (
        ("render", "print a report's page to PDF now (no email)"),
        ("send", "print a report and email it now (outside its schedule)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("name")
        p.add_argument(
            "--day",
            type=date.fromisoformat,
            help="the day the report is for, YYYY-MM-DD: its period ends the day before (default: today)",
        )
        if name == "render":
            p.add_argument(
                "-o", "--output", type=Path, help="PDF file to write (default: DATA_DIR/reports/NAME/...)"
            )
        else:
            p.add_argument("--to", action="append", help="send to this address instead of the subscribers")
    sub.add_parser(
        "run", help="send the reports whose schedule fired and that are not sent yet (the scheduler's job)"
    )


def run(args: argparse.Namespace) -> int:
    # heavy: the report renderer imports the app (Dash, Plotly, the metrics engine, DuckDB: about a
    # thousand modules) only once a report is run, not for `ioc report --help` or a wrong argument
    from ioc.auth.db import open_db
    from ioc.notify import config as notify_config
    from ioc.notify.channels import DeliveryError
    from ioc.reports.render import RenderError
    from ioc.reports.weekly import render, run_due, send, zone

    data_dir = settings.data_dir(args.data_dir)
    config = notify_config.load_for_command(data_dir, args.config, "ioc report")
    if config is None:
        return 2
    db = open_db(data_dir)
    if args.action == "list":
        for report in config.reports:
            rows = db.query(
                "SELECT due, status, attempts, last_error FROM report_runs WHERE report = ? ORDER BY due DESC LIMIT 1",
                (report.name,),
            )
            last = f"last {rows[0]['due']}: {rows[0]['status']}" if rows else "not sent yet"
            print(
                f"{report.name:<24} {report.page:<20} '{report.schedule}' -> {', '.join(report.to)}  ({last})"
            )
        return 0
    if args.action == "run":
        done = run_due(db, config, data_dir)
        for name in done.sent:
            print(f"{name}: sent")
        for line in done.failed:
            print(f"{line} (tried again later)", file=sys.stderr)
        return 1 if done.failed else 0
    try:
        report = config.report(args.name)
    except notify_config.ConfigError as error:
        print(f"ioc report: {error}", file=sys.stderr)
        return 2
    due = datetime.combine(args.day or clock.today(), time(0), zone())
    try:
        file, period, as_of = render(db, report, due, data_dir)
        if args.action == "render":
            if args.output:
                shutil.copyfile(file, args.output)
                file = args.output
            print(f"{file}: {report.name}, {period.start} – {period.end}")
            return 0
        send(report, file, period, as_of, args.to)
    except (RenderError, DeliveryError) as error:
        print(f"ioc report {args.action}: {error}", file=sys.stderr)
        return 1
    print(f"{report.name}: sent to {', '.join(args.to or report.to)} ({file})")
    return 0
