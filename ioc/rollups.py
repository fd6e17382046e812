"""Rollups kept beside the raw tables, maintained inside each ingestion transaction.

The ingestion loader calls :func:`after_load` in the same transaction that writes a file's rows,
so a rollup is never older or newer than the data it summarises. The metrics layer owns what is
rolled up (see docs/metrics.md); ingestion only calls this hook.

``connectivity_daily`` holds, per local day and school, the number of probes, of online probes,
of fast probes (online and download >= the bandwidth threshold), of online probes with a download
value and their sum. Coverage, uptime and Mbps per student only need these counts, so answers from
the rollup are exact. Each touched (day, school) is recomputed from the raw table, which makes
re-sent probes (replaced rows) exact by construction. The threshold the counts were made with is
kept in ``rollup_state``; when the setting changes, the next load rebuilds the rollup and until
then the metrics layer reads the raw probes.
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
from typing import TYPE_CHECKING

from ioc import settings

if TYPE_CHECKING:
    import duckdb

CONNECTIVITY_DAILY = "connectivity_daily"

# the columns of a (day, school) from the raw probes; $threshold is bound
DAILY_SELECT = """
SELECT measured_at::DATE AS day, school_id,
       count(*) AS probes,
       count(*) FILTER (WHERE online) AS online,
       count(*) FILTER (WHERE online AND download_mbps >= $threshold) AS fast,
       count(download_mbps) FILTER (WHERE online) AS measured,
       coalesce(sum(download_mbps) FILTER (WHERE online), 0) AS sum_download,
       min(measured_at) AS first_at, max(measured_at) AS last_at
FROM connectivity
"""


def threshold() -> float:
    return float(settings.get("bandwidth_threshold_mbps"))


def stored_threshold(cur: duckdb.DuckDBPyConnection) -> float | None:
    row = cur.execute("SELECT threshold FROM rollup_state WHERE rollup = ?", [CONNECTIVITY_DAILY]).fetchall()
    return float(row[0][0]) if row else None


def rebuild(cur: duckdb.DuckDBPyConnection) -> None:
    """Recompute the whole connectivity rollup with the current threshold (inside the caller's transaction)."""
    cur.execute(f"DELETE FROM {CONNECTIVITY_DAILY}")
    cur.execute(f"INSERT INTO {CONNECTIVITY_DAILY} {DAILY_SELECT} GROUP BY ALL", {"threshold": threshold()})
    cur.execute("DELETE FROM rollup_state WHERE rollup = ?", [CONNECTIVITY_DAILY])
    cur.execute("INSERT INTO rollup_state VALUES (?, ?, now())", [CONNECTIVITY_DAILY, threshold()])


def after_load(cur: duckdb.DuckDBPyConnection, dataset: str, staged_table: str) -> None:
    """Bring the rollups of ``dataset`` up to date for the rows just written.

    ``staged_table`` names a temporary table holding the typed rows of the file (same columns as
    the dataset's table, without run_id), already merged into the dataset's table in this
    transaction.
    """
    if dataset != "connectivity":
        return
    if stored_threshold(cur) != threshold():
        rebuild(cur)
        return
    staged = '"' + staged_table.replace('"', '""') + '"'
    cur.execute(
        f"CREATE OR REPLACE TEMP TABLE rollup_touched AS SELECT DISTINCT measured_at::DATE AS day, school_id FROM {staged}"
    )
    cur.execute(
        f"DELETE FROM {CONNECTIVITY_DAILY} r USING temp.main.rollup_touched t "
        "WHERE r.day = t.day AND r.school_id = t.school_id"
    )
    # only the touched days are read back (the day filter prunes files by their min/max statistics)
    cur.execute(
        f"""INSERT INTO {CONNECTIVITY_DAILY}
        SELECT d.* FROM ({DAILY_SELECT}
            WHERE measured_at >= (SELECT min(day) FROM temp.main.rollup_touched)::TIMESTAMPTZ
              AND measured_at < ((SELECT max(day) FROM temp.main.rollup_touched) + 1)::TIMESTAMPTZ
            GROUP BY ALL) d
        SEMI JOIN temp.main.rollup_touched t ON t.day = d.day AND t.school_id = d.school_id""",
        {"threshold": threshold()},
    )
    cur.execute("DROP TABLE temp.main.rollup_touched")
