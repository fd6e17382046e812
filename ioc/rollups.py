"""Rollups kept beside the raw tables, maintained inside each ingestion transaction.

The ingestion loader calls :func:`after_load` in the same transaction that writes a file's rows,
so a rollup is never older or newer than the data it summarises. The metrics layer owns what is
rolled up (see docs/metrics.md); ingestion only calls this hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def after_load(cur: duckdb.DuckDBPyConnection, dataset: str, staged_table: str) -> None:
    """Bring the rollups of ``dataset`` up to date for the rows just written.

    ``staged_table`` names a temporary table holding the typed rows of the file (same columns as
    the dataset's table, without run_id), already merged into the dataset's table in this
    transaction.
    """
    return None
