"""``ioc users`` (accounts, roles, the audit log) and ``ioc tokens`` (API and kiosk device tokens)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
import time

from ioc import settings
from ioc.auth import accounts, audit, tokens
from ioc.auth.access import ROLES, split_codes
from ioc.auth.db import PG_SCHEMES, AuthDb, SqliteAuthDb, database_url, open_db
from ioc.auth.passwords import WeakPassword
from ioc.cli import UsageError


def _db(args: argparse.Namespace) -> AuthDb:
    return open_db(settings.data_dir(args.data_dir))


def _actor() -> str:
    """Who ran the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _codes(values: list[str] | None) -> tuple[str, ...]:
    return split_codes(",".join(values or []))


def add_users_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create an account (prints a generated password unless one is given)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", default="", help="display name")
    add.add_argument(
        "--district", action="append", help="district code (district officers; repeat or comma-separate)"
    )
    add.add_argument(
        "--ward", action="append", help="ward code (district officers; repeat or comma-separate)"
    )
    add.add_argument("--school", action="append", help="school_id (principals: their one school)")
    how = add.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    how.add_argument("--no-password", action="store_true", help="OpenID Connect sign-in only")
    sub.add_parser("list", help="list accounts")
    for name, text in (
        ("disable", "disable an account (ends its sessions)"),
        ("enable", "enable an account"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("username")
    unlink = sub.add_parser(
        "unlink",
        help="forget the OpenID Connect identity (issuer + sub) linked to an account: its next "
        "OIDC sign-in links again through the user name claim",
    )
    unlink.add_argument("username")
    role = sub.add_parser(
        "set-role", help="change the role and assigned districts/wards or school (ends sessions)"
    )
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    role.add_argument("--district", action="append")
    role.add_argument("--ward", action="append")
    role.add_argument("--school", action="append")
    pw = sub.add_parser("set-password", help="set a new password (asks, or --password-stdin)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    move = sub.add_parser(
        "copy-to-postgres",
        help="copy accounts, tokens, live sessions and the audit log from DATA_DIR/auth/auth.sqlite "
        "into an empty PostgreSQL accounts database (when a deployment grows to several nodes)",
    )
    move.add_argument(
        "--to",
        default=None,
        metavar="URL",
        help="postgresql:// URL (default: $IOC_AUTH_DATABASE_URL, else the catalog's $IOC_CATALOG_URL)",
    )
    log = sub.add_parser("audit", help="show the newest audit log entries")
    log.add_argument("--limit", type=int, default=50)
    log.add_argument("--event", choices=audit.EVENTS)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the passwords differ")
    return first


def _copy_to_postgres(args: argparse.Namespace) -> int:
    # heavy: the alert records with pandas (~1,000 modules, 1 s) only for this rare command, not
    # for every `ioc users` command
    from ioc.auth.dbcopy import copy_to_postgres

    try:
        url = args.to or database_url()
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not url or not url.lower().startswith(PG_SCHEMES):
        raise UsageError(
            "copy-to-postgres: give --to postgresql://... or set IOC_AUTH_DATABASE_URL (or IOC_CATALOG_URL)"
        )
    folder = settings.data_dir(args.data_dir)
    if not (folder / "auth" / "auth.sqlite").exists():
        raise UsageError(f"copy-to-postgres: there is no {folder / 'auth' / 'auth.sqlite'} to copy")
    try:
        target = open_db(folder, url)
        counts = copy_to_postgres(SqliteAuthDb(folder), target, time.time())
    except (ValueError, RuntimeError) as error:
        raise UsageError(f"copy-to-postgres: {error}") from None
    audit.record(
        target,
        "account",
        actor=_actor(),
        target="copy-to-postgres",
        detail=f"copied from {folder / 'auth' / 'auth.sqlite'}: "
        + ", ".join(f"{n} {t}" for t, n in counts.items()),
    )
    print(f"copied into {target.describe()}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    return 0


def _check_schools(args: argparse.Namespace, schools: tuple[str, ...]) -> None:
    """UsageError naming a school the store's school list of today does not have. A store that
    cannot be read now (none yet, or locked by a load) is said and not held against the account."""
    if not schools:
        return
    # heavy: DuckDB and the engine (~170 modules, 0.3 s) only when a principal's school is checked,
    # not for every `ioc users` command
    from ioc.metrics.front import Metrics
    from ioc.store import Store

    try:
        store = Store(args.data_dir, read_only=True, migrate=False)
    except Exception as error:  # noqa: BLE001 - any reason the store cannot be opened is only a note
        print(f"note: school {', '.join(schools)} not checked: the store could not be read ({error})")
        return
    try:
        for school in schools:
            if Metrics(store, cached=False).locate("school", school) is None:
                raise UsageError(f"no school {school!r} in the school list of {store.layout.root}")
    finally:
        store.close()


def run_users(args: argparse.Namespace) -> int:
    if args.action == "copy-to-postgres":
        return _copy_to_postgres(args)
    db = _db(args)
    try:
        if args.action == "add":
            generated = None
            if args.no_password:
                password = None
            elif args.password_stdin:
                password = _read_password(True)
            else:
                password = generated = secrets.token_urlsafe(12)
            _check_schools(args, _codes(args.school))
            account = accounts.add(
                db,
                args.username,
                args.role,
                password,
                display_name=args.name,
                districts=_codes(args.district),
                wards=_codes(args.ward),
                schools=_codes(args.school),
                actor=_actor(),
            )
            print(f"added {account.username} ({account.role}{' ' + account.units if account.units else ''})")
            if generated:
                print(f"password (shown once): {generated}")
            if account.role == "district_officer" and not (account.districts or account.wards):
                print(
                    "note: no district or ward assigned yet: this account sees nothing until set-role gives it some"
                )
        elif args.action == "list":
            print(f"{'username':<24} {'role':<17} {'state':<9} districts / wards, or school")
            for a in accounts.all_accounts(db):
                print(f"{a.username:<24} {a.role:<17} {'disabled' if a.disabled else 'active':<9} {a.units}")
        elif args.action in ("disable", "enable"):
            accounts.set_disabled(db, args.username, args.action == "disable", actor=_actor())
            print(f"{args.username} {args.action}d")
        elif args.action == "unlink":
            gone = accounts.unlink(db, args.username, actor=_actor())
            print(
                f"{args.username}: "
                + ("provider identity unlinked" if gone else "no provider identity linked")
            )
        elif args.action == "set-role":
            _check_schools(args, _codes(args.school))
            a = accounts.set_role(
                db,
                args.username,
                args.role,
                districts=_codes(args.district),
                wards=_codes(args.ward),
                schools=_codes(args.school),
                actor=_actor(),
            )
            units = a.units if a.role == "principal" else f"{','.join(a.districts)} {','.join(a.wards)}"
            print(f"{a.username}: {a.role} {units}".rstrip())
        elif args.action == "set-password":
            accounts.set_password(db, args.username, _read_password(args.password_stdin), actor=_actor())
            print(f"password of {args.username} changed")
        elif args.action == "audit":
            for e in audit.entries(db, limit=args.limit, event=args.event):
                when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
                print(f"{when} {e.event:<10} {e.outcome:<7} {e.actor:<24} {e.target} {e.detail}".rstrip())
    except (accounts.AccountError, WeakPassword) as error:
        raise UsageError(str(error)) from None
    return 0


def add_tokens_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create a token (printed once)")
    add.add_argument("name")
    add.add_argument("--kind", choices=tokens.KINDS, default="api")
    add.add_argument("--scope", action="append", help="api: read, export (repeat or comma-separate)")
    add.add_argument("--screen", action="append", help="kiosk: screen names it may show, e.g. control_room")
    add.add_argument("--district", action="append")
    add.add_argument("--ward", action="append")
    add.add_argument(
        "--days", type=float, default=None, help="lifetime (default: api none, kiosk $IOC_KIOSK_DAYS)"
    )
    sub.add_parser("list", help="list tokens (never their secrets)")
    revoke = sub.add_parser("revoke", help="revoke a token (and end its kiosk sessions)")
    revoke.add_argument("name")


def run_tokens(args: argparse.Namespace) -> int:
    db = _db(args)
    try:
        if args.action == "add":
            scopes = _codes(args.screen) if args.kind == "kiosk" else _codes(args.scope or ["read"])
            days = (
                args.days
                if args.days is not None
                else (float(settings.get("kiosk_days")) if args.kind == "kiosk" else None)
            )
            secret, token = tokens.create(
                db,
                args.name,
                args.kind,
                scopes,
                districts=_codes(args.district),
                wards=_codes(args.ward),
                days=days,
                actor=_actor(),
            )
            print(f"token {token.name} ({token.kind}: {','.join(token.scopes)}) — shown once:")
            print(secret)
            if token.kind == "kiosk":
                print(f"open on the wall: http://<server>/?kiosk=1&device={secret}")
            else:
                print(f"use: curl -H 'Authorization: Bearer {secret}' http://<server>/api/v1/kpis")
        elif args.action == "list":
            for t in tokens.all_tokens(db):
                expires = time.strftime("%Y-%m-%d", time.localtime(t.expires_at)) if t.expires_at else "never"
                used = (
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(t.last_used_at))
                    if t.last_used_at
                    else "never"
                )
                state = "revoked" if t.revoked else "active"
                print(
                    f"{t.name:<24} {t.kind:<6} {state:<8} scopes={','.join(t.scopes)} expires={expires} used={used}"
                )
        elif args.action == "revoke":
            tokens.revoke(db, args.name, actor=_actor())
            print(f"token {args.name} revoked")
    except tokens.TokenError as error:
        raise UsageError(str(error)) from None
    return 0
