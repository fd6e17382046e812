"""``ioc store``: where the store lives, and moving an embedded store onto PostgreSQL.

``ioc store info`` prints the catalog (password masked), the data path, the data version and
the schema version.

``ioc store repoint [--data-path PATH]`` records where the data files are now, after checking that
every file the catalog names is there (a store whose files were moved; ioc/backup.py).

``ioc store migrate --to postgresql://... [--data-path PATH] [--force]`` copies every table of the
configured lake (normally the embedded SQLite one), all rows as of its current snapshot, into a
new DuckLake whose catalog is the PostgreSQL database and whose data files are written to
``--data-path`` (a folder or s3://bucket/prefix/; default ``DATA_DIR/lake/files-postgres/``). The
copy is one transaction on the target; every table's row count is then checked on a fresh
connection to the target. History (older snapshots, time travel) is not copied: the new lake
starts with one snapshot holding today's data. A target database that already holds a lake is
refused unless ``--force`` (which drops that lake's catalog tables first).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ioc import backup, migrations, settings
from ioc.cli import _common
from ioc.datasets import DATASETS
from ioc.store import (
    CATALOG_NAME,
    Layout,
    Location,
    Store,
    StoreError,
    mask_url,
    quote_ident,
)

TARGET = "lake_target"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    sub.add_parser(
        "info",
        help="show where the store lives (catalog, data path) and its data and schema versions",
        parents=[_common()],
    )
    repoint = sub.add_parser(
        "repoint",
        help="record in the catalog where the store's data files are now (after moving them)",
        description=(
            "Record PATH as the data path in the catalog, after checking that every data file the "
            "catalog names is there. An embedded store copied or restored elsewhere opens without it "
            "(its files are read from DATA_DIR/lake/files/); this records the new place for good, and "
            "is needed when IOC_DATA_PATH names a folder, or for a PostgreSQL catalog whose files moved."
        ),
        parents=[_common()],
    )
    repoint.add_argument(
        "--data-path",
        metavar="PATH",
        help="the folder now holding the data files (default: IOC_DATA_PATH, else DATA_DIR/lake/files/)",
    )
    move = sub.add_parser(
        "migrate",
        help="copy the embedded store into a DuckLake on a PostgreSQL catalog",
        description=(
            "Copy every table of the configured store (all rows at its current data version; history "
            "and time travel are not copied) into a new DuckLake on the PostgreSQL catalog --to, "
            "writing its data files to --data-path; then check each table's row count and print "
            "the settings to use next. Stop `ioc scheduler` and ingestion first: writes made during "
            "the copy are not copied."
        ),
        parents=[_common()],
    )
    move.add_argument(
        "--to",
        required=True,
        metavar="URL",
        help="postgresql://user:password@host:port/database (the database must exist)",
    )
    move.add_argument(
        "--data-path",
        metavar="PATH",
        help="where the new lake's Parquet files go: a (shared) folder or s3://bucket/prefix/ "
        "(default DATA_DIR/lake/files-postgres/)",
    )
    move.add_argument(
        "--force",
        action="store_true",
        help="replace a lake the target database already holds (its catalog tables are dropped)",
    )


@dataclass(frozen=True)
class MoveReport:
    source: str
    target: str
    data_path: str
    source_version: int
    target_version: int
    counts: dict[str, int]
    seconds: float


def migrate_store(
    source: Store, target_url: str, data_path: str | None = None, *, force: bool = False
) -> MoveReport:
    """Copy ``source``'s tables (at its current snapshot) into a new lake on ``target_url``."""
    started = time.perf_counter()
    default_path = str(source.layout.root / "lake" / "files-postgres")
    with _target_flags():
        target = Location.from_settings(source.layout, target_url, data_path or default_path)
        if not target.is_postgres:
            raise StoreError(
                "IOC_CATALOG_URL: give the PostgreSQL catalog as postgresql://user:password@host:port/database"
            )
        if target.catalog_url == source.location.catalog_url:
            raise StoreError("IOC_CATALOG_URL: that is the catalog the store already uses")
        if target.data_path.rstrip("/") == source.data_path.rstrip("/"):
            raise StoreError(
                f"IOC_DATA_PATH: {target.data_path} holds the source store's files; give the new lake a "
                "folder of its own (each lake deletes files it does not know during `ioc maintain`)"
            )
        _prepare_target(target, force)
        con = source.cursor()
        target.prepare(con)
        target.check_data_path(con, target.data_path, create=True)
        target.attach(con, TARGET, data_path=target.data_path)
    try:
        tables = [
            (str(schema), str(name), str(sql))
            for schema, name, sql in con.execute(
                "SELECT schema_name, table_name, sql FROM duckdb_tables() WHERE database_name = ? "
                "ORDER BY schema_name, table_name",
                [CATALOG_NAME],
            ).fetchall()
        ]
        if not tables:
            raise StoreError(f"the store ({source.describe()}) holds no table: nothing to migrate")
        counts: dict[str, int] = {}
        con.execute("BEGIN TRANSACTION")
        try:
            row = con.execute(f"SELECT id FROM {CATALOG_NAME}.current_snapshot()").fetchone()  # noqa: S608
            source_version = int(row[0]) if row else 0
            for schema, name, sql in tables:
                if schema != "main":
                    con.execute(f"CREATE SCHEMA IF NOT EXISTS {TARGET}.{quote_ident(schema)}")
                # the same definition (types, NOT NULL) in the target catalog
                create = re.sub(
                    r"^\s*CREATE\s+TABLE\s+",
                    f"CREATE TABLE {TARGET}.{quote_ident(schema)}.",
                    sql,
                    count=1,
                    flags=re.IGNORECASE,
                )
                con.execute(create)
                dataset = DATASETS.get(name) if schema == "main" else None
                order = dataset.sort_table(f"{TARGET}.main") if dataset else None
                if order:  # the file order is a table setting, not part of its definition
                    con.execute(order)
                qualified = f"{quote_ident(schema)}.{quote_ident(name)}"
                con.execute(
                    f"INSERT INTO {TARGET}.{qualified} SELECT * FROM {CATALOG_NAME}.{qualified}"  # noqa: S608
                )
                n = con.execute(f"SELECT count(*) FROM {CATALOG_NAME}.{qualified}").fetchone()  # noqa: S608
                counts[qualified if schema != "main" else name] = int(n[0]) if n else 0
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DETACH {TARGET}")

    # check on a fresh DuckDB instance, the way every node will open it
    check = Store(
        source.layout.root, catalog_url=target.catalog_url, data_path=target.data_path, read_only=True
    )
    try:
        wrong = []
        for key, expected in counts.items():
            qualified = ".".join(quote_ident(p) for p in key.split(".")) if "." in key else quote_ident(key)
            got = int(check.execute(f"SELECT count(*) FROM {qualified}").scalar())  # noqa: S608
            if got != expected:
                wrong.append(f"{key}: {got} rows, expected {expected}")
        if wrong:
            raise StoreError("the copy does not match the source: " + "; ".join(wrong))
        target_version = check.data_version()
    finally:
        check.close()
    return MoveReport(
        source.describe(),
        target.catalog_text,
        target.data_path,
        source_version,
        target_version,
        counts,
        time.perf_counter() - started,
    )


@contextmanager
def _target_flags() -> Iterator[None]:
    """Errors about the target name the command's flags, not the settings of the running store."""
    try:
        yield
    except StoreError as error:
        text = str(error).replace("IOC_CATALOG_URL", "--to").replace("IOC_DATA_PATH", "--data-path")
        raise StoreError(text) from None


def _prepare_target(target: Location, force: bool) -> None:
    """Refuse a target that already holds a lake, or drop it with --force."""
    with target.pg_connect() as conn:
        tables = [
            str(r[0])
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "AND tablename LIKE 'ducklake%'"
            ).fetchall()
        ]
        if not tables:
            return
        if not force:
            raise StoreError(
                f"--to: the database {target.catalog_text} already holds a DuckLake catalog "
                f"({len(tables)} ducklake_* tables); give an empty database, or --force to replace it"
            )
        from psycopg import sql  # PostgreSQL only: the embedded store never loads psycopg (~190 modules)

        with conn.transaction():
            for table in tables:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier(table)))


def repoint(data_dir: str | Path | None, data_path: str | None = None) -> tuple[str, str, int]:
    """Record ``data_path`` (default: where the settings put the files) in the catalog after
    checking every file it names is there; returns (previous path, new path, files checked)."""
    layout = Layout(settings.data_dir(data_dir))
    with _target_flags():
        location = Location.from_settings(layout, data_path=data_path)
    if location.is_s3:
        raise StoreError("--data-path: re-pointing to object storage is not supported; give a folder")
    if not location.exists():
        raise StoreError(f"no store in {location.catalog_text}")
    new = location.data_path if (data_path or location.data_path_setting or not location.is_postgres) else ""
    if not new:
        raise StoreError("--data-path: say where the data files are now (the catalog is on PostgreSQL)")
    if location.is_postgres:
        with location.pg_connect() as conn:
            named = backup.pg_named_files(conn)
    else:
        named = backup.catalog_facts(layout.catalog).files
    missing = [name for name in named if not (Path(new) / name).is_file()]
    if missing:
        raise StoreError(
            f"--data-path: {len(missing)} of the {len(named)} data files the catalog names are not in "
            f"{new} (e.g. {missing[0]}): nothing changed"
        )
    if location.is_postgres:
        with location.pg_connect() as conn:
            previous = backup.pg_repoint(conn, new)
    else:
        previous = backup.repoint_sqlite(layout.catalog, new)
    return previous, new, len(named)


def run(args: argparse.Namespace) -> int:
    if args.store_command == "info":
        return _info(args)
    if args.store_command == "repoint":
        previous, new, count = repoint(args.data_dir, args.data_path)
        print(f"data path: {previous} -> {new} ({count} data files checked); the catalog now names {new}")
        return 0
    source = Store(args.data_dir)
    try:
        report = migrate_store(source, args.to, args.data_path, force=args.force)
    finally:
        source.close()
    print(f"source: {report.source} (data version {report.source_version})")
    print(f"target: catalog {report.target}, data {report.data_path} (data version {report.target_version})")
    width = max(len(k) for k in report.counts)
    for name, n in report.counts.items():
        print(f"  {name:{width}}  {n:>10} rows  ok")
    print(
        f"copied {len(report.counts)} tables, {sum(report.counts.values())} rows, in {report.seconds:.1f} s; "
        "row counts verified. History (older snapshots) was not copied."
    )
    print("Next:")
    print("  1. stop every ioc process (app, scheduler) of this store;")
    print(
        f"  2. move the accounts (users, tokens, sessions, audit log, secret key) into the same database:\n"
        f"       ioc users copy-to-postgres --to {mask_url(args.to)}   (with the real password)"
    )
    print("  3. set on every node, then start them:")
    print(f"       IOC_CATALOG_URL={mask_url(args.to)}   (with the real password)")
    print(f"       IOC_DATA_PATH={report.data_path}")
    if report.data_path.startswith("s3://"):
        print("       and the IOC_S3_* settings used for this copy")
    print("The embedded catalog and its files stay where they were (a backup); remove them once satisfied.")
    return 0


def _info(args: argparse.Namespace) -> int:
    layout = Layout(settings.data_dir(args.data_dir))
    location = Location.from_settings(layout)
    if not location.exists():
        print(f"no store yet: {location.describe()}")
        return 1
    store = Store(args.data_dir, read_only=True, migrate=False)
    try:
        print(f"catalog:        {store.location.catalog_text}")
        print(f"data path:      {store.data_path}")
        if store.moved_from:
            print(
                f"                (the catalog names {store.moved_from}: the store was moved; "
                "`ioc store repoint` records the new path)"
            )
        print(f"data version:   {store.data_version()}")
        print(f"schema version: {migrations.current_version(store)} (this program: {migrations.LATEST})")
    finally:
        store.close()
    return 0


__all__ = ["MoveReport", "migrate_store", "add_arguments", "run"]
