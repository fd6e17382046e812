"""``ioc alerts``: evaluate the rules, list the alerts, act on one, silence, check the rules.

ioc alerts evaluate [--from D] [--to D] [--no-notify]
ioc alerts list [--from D] [--to D] [--status open|resolved|all] [--format json|csv] [--lang vi|en]
ioc alerts ack|assign|comment|resolve ID [TEXT] [--as NAME]
ioc alerts silence [--rule R] [--unit U] [--district D] --from D --to D --reason TEXT
ioc alerts rules
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys

from ioc import settings
from ioc.cli import UsageError
from ioc.metrics.errors import QueryError

ACTION_TEXT = {
    "ack": "acknowledge the alert (an optional note)",
    "assign": "assign the alert to a person (TEXT: who)",
    "comment": "add a comment (TEXT: what was done or found)",
    "resolve": "resolve the alert by hand (TEXT: the reason)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    ev = sub.add_parser(
        "evaluate", help="evaluate every rule for each school day in the range, in date order"
    )
    ev.add_argument(
        "--from", dest="date_from", metavar="D", help="first day (default: the latest school day)"
    )
    ev.add_argument("--to", dest="date_to", metavar="D", help="last day (default: the latest school day)")
    ev.add_argument(
        "--no-notify", action="store_true", help="record the alerts without handing them to delivery"
    )
    ls = sub.add_parser("list", help="print the alerts as JSON or CSV")
    ls.add_argument("--from", dest="date_from", metavar="D", help="alerts still open on or after this day")
    ls.add_argument("--to", dest="date_to", metavar="D", help="alerts started on or before this day")
    ls.add_argument("--status", default="all", help="open, resolved or all (default)")
    ls.add_argument("--format", default="json", help="json (default) or csv")
    ls.add_argument("--lang", default="vi", help="language of the messages: vi (default) or en")
    for action, text in ACTION_TEXT.items():
        p = sub.add_parser(action, help=text)
        p.add_argument("id", metavar="ID", type=int, help="the alert's id (see `ioc alerts list`)")
        p.add_argument("text", metavar="TEXT", nargs="?", default="", help=text.split("(")[-1].rstrip(")"))
        p.add_argument("--as", dest="actor", metavar="NAME", help="who acts (default: the system user)")
    si = sub.add_parser(
        "silence", help="record a known closure or planned outage: its alerts are not announced"
    )
    si.add_argument("--rule", help="only this rule (default: every rule)")
    si.add_argument("--unit", help="only this unit: district or ward code or school_id")
    si.add_argument("--district", help="only units in this district")
    si.add_argument("--from", dest="date_from", metavar="D", required=True, help="first day")
    si.add_argument("--to", dest="date_to", metavar="D", required=True, help="last day")
    si.add_argument("--reason", required=True, help="why (shown with the alerts)")
    si.add_argument("--as", dest="actor", metavar="NAME", help="who (default: the system user)")
    sub.add_parser("rules", help="validate and print the alert rules")


def _store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    # heavy: DuckDB (~70 modules, 0.2 s) only for `ioc alerts evaluate`
    from ioc.store import StoreError, open_store, store_exists

    try:
        found = store_exists(args.data_dir)
    except StoreError as error:
        raise UsageError(str(error)) from None
    if not found:
        raise UsageError(
            f"--data-dir: no store in {settings.data_dir(args.data_dir)} (run `ioc demo` or `ioc ingest` first)"
        )
    return open_store(args.data_dir)


def _db(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    # heavy: pandas (the alert records, ~1,100 modules, 1 s) only for the commands that read alerts
    from ioc.alerts import records
    from ioc.auth.db import open_db

    return records.ensure(open_db(settings.data_dir(args.data_dir)))


def _date(flag: str, text: str | None):  # type: ignore[no-untyped-def]
    # the KPI registry (read and checked, ~20 ms, by the date parser) only when a date is given,
    # so `ioc alerts --help` stays as quick as before
    from ioc.metrics.params import parse_date

    try:
        return parse_date(flag, text)
    except QueryError as error:
        raise UsageError(f"--{flag}: {error.message}") from None


def _actor(args: argparse.Namespace) -> str:
    return args.actor or f"cli:{getpass.getuser()}"


def run(args: argparse.Namespace) -> int:
    command = args.alerts_command
    if command == "rules":
        return _rules()
    if command == "evaluate":
        return _evaluate(args)
    if command == "list":
        # heavy: pandas (the alert records, ~1,100 modules, 1 s) only for the commands that read alerts
        from ioc.alerts import output

        params = {
            "from": args.date_from,
            "to": args.date_to,
            "status": args.status,
            "format": args.format,
            "lang": args.lang,
        }
        try:
            query = output.parse(params)
        except QueryError as error:
            raise UsageError(f"--{error.param}: {error.message}") from None
        payload = output.answer(_db(args), query, None)
        if query.format == "csv":
            sys.stdout.write(output.to_csv(payload))
        else:
            print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if command == "silence":
        # heavy: pandas (the alert records, ~1,100 modules, 1 s) only for the commands that read alerts
        from ioc.alerts import records

        first, last = _date("from", args.date_from), _date("to", args.date_to)
        if first > last:
            raise UsageError(f"--from: {first} is after --to {last}")
        if not args.reason.strip():
            raise UsageError("--reason: say why (it is shown with the alerts)")
        sid = records.add_silence(
            _db(args),
            rule=args.rule,
            unit=args.unit,
            district=args.district,
            first=first,
            last=last,
            reason=args.reason.strip(),
            actor=_actor(args),
        )
        print(
            f"silence {sid}: {args.rule or 'every rule'} on {args.unit or args.district or 'the whole city'} "
            f"from {first} to {last}"
        )
        return 0
    # heavy: pandas (the alert records, ~1,100 modules, 1 s) only for the commands that read alerts
    from ioc.alerts.actions import ActionError, perform

    try:
        perform(_db(args), args.id, command, _actor(args), args.text)
    except ActionError as error:
        print(f"ioc alerts {command}: {error}", file=sys.stderr)
        return 1
    print(f"alert {args.id}: {command} recorded")
    return 0


def _rules() -> int:
    # the rules and the KPI registry (two TOML files read and checked) only for this command
    from ioc.alerts import rules

    for rule in rules.current():
        print(json.dumps(rule.to_json(), ensure_ascii=False))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    # heavy: pandas (the alert records, ~1,100 modules, 1 s) only for the commands that read alerts
    from ioc.alerts.evaluate import default_notify, evaluate

    first, last = _date("from", args.date_from), _date("to", args.date_to)
    if first and last and first > last:
        raise UsageError(f"--from: {first} is after --to {last}")
    store = _store(args)
    db = _db(args)
    notify = None if args.no_notify else default_notify(db)
    summary = evaluate(store, db, first, last, notify=notify)
    if not summary.days:
        print("no school day to evaluate in that range (a day nobody reported on is a day off)")
        return 0
    found = ", ".join(f"{rule} {n}" for rule, n in summary.findings.items())
    told = "not handed to delivery (--no-notify)" if args.no_notify else "handed to delivery"
    print(
        f"evaluated {len(summary.days)} school day(s) {summary.days[0]} .. {summary.days[-1]} "
        f"in {summary.seconds:.1f}s; findings: {found}; {len(summary.events)} change(s) {told}"
    )
    return 0
