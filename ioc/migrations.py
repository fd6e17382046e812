"""Versioned schema migrations: an existing store upgrades in place, never silently recreated.

Each migration is a numbered list of statements applied in one transaction; the applied versions
are recorded in ``schema_version``. Add a migration by appending to :data:`MIGRATIONS`; never edit
one that has shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ioc.datasets import DATASETS

if TYPE_CHECKING:
    import duckdb

    from ioc.store import Store


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "the four datasets, the ingestion-run log, rejections and replacements",
        (
            # the datasets' tables, from their one declaration (ioc/datasets.py); the same
            # statements as shipped, now written from it (tests/unit/test_datasets.py compares)
            *(dataset.create_table() for dataset in DATASETS.values()),
            """CREATE TABLE ingest_runs (
                run_id VARCHAR NOT NULL,
                source VARCHAR NOT NULL,
                dataset VARCHAR,
                file_name VARCHAR NOT NULL,
                file_path VARCHAR,
                archive_path VARCHAR,
                checksum VARCHAR,
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                rows_total BIGINT,
                rows_loaded BIGINT,
                rows_rejected BIGINT,
                rows_replaced BIGINT,
                status VARCHAR NOT NULL,
                message VARCHAR,
                warnings VARCHAR[]
            )""",
            """CREATE TABLE rejections (
                run_id VARCHAR NOT NULL,
                file_name VARCHAR NOT NULL,
                row_number BIGINT,
                column_name VARCHAR,
                value VARCHAR,
                rule VARCHAR NOT NULL,
                message VARCHAR NOT NULL
            )""",
            """CREATE TABLE replacements (
                run_id VARCHAR NOT NULL,
                dataset VARCHAR NOT NULL,
                key VARCHAR NOT NULL,
                previous_run_id VARCHAR
            )""",
        ),
    ),
    Migration(
        3,
        "scheduler: state of each source and the log of scheduled job runs (data health)",
        (
            """CREATE TABLE source_state (
                source_id VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                dataset VARCHAR,
                location VARCHAR,
                cursor VARCHAR,
                last_attempt TIMESTAMPTZ,
                last_success TIMESTAMPTZ,
                last_failure TIMESTAMPTZ,
                reason VARCHAR,
                failing BOOLEAN NOT NULL,
                consecutive_failures INTEGER NOT NULL,
                rows_last_run BIGINT,
                updated_at TIMESTAMPTZ NOT NULL
            )""",
            """CREATE TABLE job_runs (
                job_run_id VARCHAR NOT NULL,
                job_id VARCHAR NOT NULL,
                kind VARCHAR NOT NULL,
                scheduled_at TIMESTAMPTZ,
                started_at TIMESTAMPTZ,
                finished_at TIMESTAMPTZ,
                status VARCHAR NOT NULL,
                items_seen INTEGER,
                items_loaded INTEGER,
                items_rejected INTEGER,
                rows_loaded BIGINT,
                rows_rejected BIGINT,
                message VARCHAR
            )""",
        ),
    ),
    Migration(
        2,
        "metrics rollups: connectivity_daily (probe counts per local day and school) and rollup_state",
        (
            """CREATE TABLE connectivity_daily (
                day DATE NOT NULL,
                school_id VARCHAR NOT NULL,
                probes BIGINT NOT NULL,
                online BIGINT NOT NULL,
                fast BIGINT NOT NULL,
                measured BIGINT NOT NULL,
                sum_download DOUBLE NOT NULL,
                first_at TIMESTAMPTZ,
                last_at TIMESTAMPTZ
            )""",
            """CREATE TABLE rollup_state (
                rollup VARCHAR NOT NULL,
                threshold DOUBLE NOT NULL,
                built_at TIMESTAMPTZ NOT NULL
            )""",
            # existing probes are rolled up with the default threshold (20 Mbps); ioc.rollups
            # rebuilds the rollup at the next load if the bandwidth_threshold_mbps setting differs
            """INSERT INTO connectivity_daily
            SELECT measured_at::DATE, school_id, count(*), count(*) FILTER (WHERE online),
                   count(*) FILTER (WHERE online AND download_mbps >= 20.0),
                   count(download_mbps) FILTER (WHERE online),
                   coalesce(sum(download_mbps) FILTER (WHERE online), 0), min(measured_at), max(measured_at)
            FROM connectivity GROUP BY ALL""",
            "INSERT INTO rollup_state VALUES ('connectivity_daily', 20.0, now())",
        ),
    ),
    Migration(
        4,
        "messages as templates: the message id and parameters of runs, rejections, job runs and "
        "source failures, so data health says them in its reader's language (ioc/messages.py)",
        (
            *(
                f"ALTER TABLE {table} ADD COLUMN {column} VARCHAR"
                for table in ("ingest_runs", "rejections", "job_runs")
                for column in ("message_id", "message_params")
            ),
            "ALTER TABLE source_state ADD COLUMN reason_id VARCHAR",
            "ALTER TABLE source_state ADD COLUMN reason_params VARCHAR",
        ),
    ),
    Migration(
        5,
        "probes written sorted by school, then time (a school's queries skip the other schools' row groups)",
        (
            # DuckLake sorts each file it writes (every load's insert, merge_adjacent_files) by
            # this order; the Parquet row groups' min/max on school_id then let DuckDB read one
            # row group a day for one school instead of all 3,500 schools' probes. Files written
            # before keep their order until maintenance merges them.
            *(statement for d in DATASETS.values() if (statement := d.sort_table()) is not None),
        ),
    ),
    Migration(
        6,
        "probes sorted by day first, then school and time (a merge keeps each day's probes together)",
        (
            # sorted by school alone, maintenance merged every day into one file whose row groups
            # each held all days: a day's city-wide query read them all
            *(statement for d in DATASETS.values() if (statement := d.sort_table()) is not None),
        ),
    ),
)

# applied in version order whatever order the areas appended them in
MIGRATIONS = tuple(sorted(MIGRATIONS, key=lambda m: m.version))

LATEST = MIGRATIONS[-1].version


class MigrationError(RuntimeError):
    pass


def current_version(store: Store) -> int:
    if not store.has_table("schema_version"):
        return 0
    return int(store.execute("SELECT coalesce(max(version), 0) FROM schema_version").scalar())


def check(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Refuse a store that is newer than this code; say so when it needs upgrading."""
    version = current_version(store)
    latest = migrations[-1].version
    if version > latest:
        raise MigrationError(
            f"the store ({store.describe()}) has schema version {version}, newer than this "
            f"program's {latest}: upgrade the program"
        )
    if version < latest and store.read_only:
        raise MigrationError(
            f"the store ({store.describe()}) has schema version {version} < {latest}: "
            "run any writing command (e.g. `ioc migrate`) to upgrade it in place"
        )
    return version


def migrate(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the pending migrations in order, each in its own transaction."""
    check(store, migrations)
    if not store.has_table("schema_version"):
        store.write(
            lambda cur: cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, description VARCHAR, applied_at TIMESTAMPTZ NOT NULL)"
            )
        )
    applied: list[int] = []
    for migration in migrations:

        def apply(cur: duckdb.DuckDBPyConnection, m: Migration = migration) -> bool:
            done = cur.execute(
                "SELECT count(*) FROM schema_version WHERE version = ?", [m.version]
            ).fetchall()
            if done[0][0]:
                return False  # another process applied it meanwhile
            for statement in m.statements:
                cur.execute(statement)
            cur.execute("INSERT INTO schema_version VALUES (?, ?, now())", [m.version, m.description])
            return True

        if store.write(apply):
            applied.append(migration.version)
    return applied
