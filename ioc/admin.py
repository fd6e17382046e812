"""Small store-administration commands: ``ioc migrate``, ``ioc maintain``, ``ioc settings``."""

from __future__ import annotations

import argparse
import json
import os

from ioc import settings


def add_migrate_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def add_maintain_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("text", "json"), default="text")


def run_migrate(args: argparse.Namespace) -> int:
    from ioc import migrations
    from ioc.store import Store

    store = Store(args.data_dir, migrate=False)
    before = migrations.current_version(store)
    applied = migrations.migrate(store)
    after = migrations.current_version(store)
    if applied:
        print(f"store {store.layout.root}: schema {before} -> {after} (applied {', '.join(map(str, applied))})")
    else:
        print(f"store {store.layout.root}: schema {after}, up to date")
    return 0


def run_maintain(args: argparse.Namespace) -> int:
    from ioc.store import Store

    store = Store(args.data_dir)
    result = store.maintain()
    print(f"store {store.layout.root}: maintenance done, data version {result['data_version']}")
    return 0


def run_settings(args: argparse.Namespace) -> int:
    rows = []
    for s in settings.SETTINGS:
        override = args.data_dir if s.name == "data_dir" else None
        rows.append(
            {
                "name": s.name,
                "env": s.env,
                "value": str(settings.get(s.name, override)),
                "from": "argument" if override else ("environment" if os.environ.get(s.env) else "default"),
                "help": s.help,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            print(f"{row['env']:<32} {row['value']:<24} ({row['from']}) {row['help']}")
    return 0
