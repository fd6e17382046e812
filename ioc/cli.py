"""The ``ioc`` command.

Each subcommand lives in its own module with ``add_arguments(parser)`` and ``run(args) -> int``;
only the chosen one is imported, so ``ioc --help`` and ``ioc ingest`` stay quick.
Exit codes: 0 success, 1 the command ran but something was rejected or failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": (
        "ioc.demo.command",
        "Build a realistic demo store for Ho Chi Minh City through the ingestion path.",
    ),
    "ingest": (
        "ioc.scheduling",
        "Load files or folders of schools, attendance, digital or connectivity data.",
    ),
    "kpi": (
        "ioc.metrics.cli",
        "Print a KPI for the city or by district, ward, school, level, ownership or date.",
    ),
    "serve": ("ioc.server", "Run the web app (control room, drill-down, explore, data health, API)."),
    "scheduler": (
        "ioc.scheduling",
        "Run the scheduled ingestion and maintenance jobs (embedded store: one process per data "
        "directory; PostgreSQL catalog: one on every node, one active, the others standbys).",
    ),
    "migrate": ("ioc.admin", "Upgrade the store's schema in place to this program's version."),
    "maintain": ("ioc.admin", "Compact data files, expire old snapshots and remove unused files."),
    "settings": ("ioc.admin", "List every setting with its environment variable and current value."),
    "store": (
        "ioc.storemove",
        "Where the store lives (`ioc store info`); record where its data files are now (`ioc store repoint`); "
        "copy it onto a PostgreSQL catalog (`ioc store migrate --to URL`).",
    ),
    "backup": (
        "ioc.backup",
        "Copy the store (catalog, data files, accounts, archive) to DEST, consistently, while loads go on.",
    ),
    "restore": ("ioc.backup", "Put a backup made by `ioc backup` back as the store of the data directory."),
    "alerts": (
        "ioc.alerts.cli",
        "Early warning: evaluate the alert rules, list alerts, acknowledge, assign, comment, resolve, silence.",
    ),
    "health": (
        "ioc.metrics.health_cli",
        "Show the data-health record: freshness, sources, problem runs, schools not reporting.",
    ),
    "users": (
        "ioc.auth.cli",
        "Manage accounts: add, list, disable, enable, set-role, set-password; show the audit log.",
    ),
    "tokens": ("ioc.auth.cli", "Manage API bearer tokens and kiosk device tokens: add, list, revoke."),
    "notify": (
        "ioc.notify.cli",
        "Alert notifications: deliver the outbox once, its status, check contact points, send a test.",
    ),
    "report": (
        "ioc.reports.cli",
        "Scheduled reports: list them, print one to PDF, email one now, send the due ones.",
    ),
}


class UsageError(Exception):
    """Bad arguments detected after parsing; reported like argparse's errors (exit 2)."""


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help="data directory of the store (default: $IOC_DATA_DIR or ./data)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log more")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common)
    return common


def _share_common(parser: argparse.ArgumentParser) -> None:
    """Give every nested action (``ioc alerts list``, ``ioc store info``, ...) the common options,
    so ``--data-dir`` works wherever it is written, as it does after a single-level command."""
    for action in parser._actions:  # argparse has no public walk of its subparsers
        if isinstance(action, argparse._SubParsersAction):
            for nested in action.choices.values():
                if "--data-dir" not in nested._option_string_actions:
                    _add_common(nested)
                _share_common(nested)


def build_parser(chosen: str | None) -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="ioc",
        description="Education Intelligent Operations Center: ingestion, KPIs and the control-room app.",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        if name == chosen:
            module = importlib.import_module(module_name)
            adder = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
            adder(command)
            _share_common(command)
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    for token in argv:
        if token in COMMANDS:
            return token
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen(argv)
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    if not hasattr(args, "data_dir"):
        args.data_dir = None
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(COMMANDS[args.command][0])
    runner = getattr(module, f"run_{args.command}", None) or module.run
    try:
        return int(runner(args) or 0)
    except UsageError as error:
        parser.exit(2, f"ioc {args.command}: error: {error}\n")
    except RuntimeError as error:
        # a store that cannot be opened as configured (ioc.store.StoreError): its message names the
        # setting and the reason; ioc.store is only imported here when a command already loaded it
        store = sys.modules.get("ioc.store")
        if store is not None and isinstance(error, store.StoreError):
            parser.exit(1, f"ioc {args.command}: error: {error}\n")
        raise
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    # Run the imported module's main, so that `python -m ioc.cli` and the installed `ioc` share one
    # UsageError class (modules raise ioc.cli.UsageError, not __main__.UsageError).
    from ioc.cli import main as _main

    sys.exit(_main())
