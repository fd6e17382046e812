"""A large CSV streams through DuckDB: it is never turned into Python rows or a DataFrame."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import duckdb
import pytest

from ingest.load import ingest_file

SCHOOLS = 500
ROWS = 300_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    path = folder / "connectivity_backfill.csv"
    duckdb.connect().execute(
        f"""COPY (SELECT strftime(TIMESTAMP '2026-10-01' + INTERVAL 5 MINUTE * (i // {SCHOOLS}), '%Y-%m-%dT%H:%M:%S') AS measured_at,
                         'B' || lpad(CAST(i % {SCHOOLS} AS VARCHAR), 4, '0') AS school_id,
                         round(random() * 100, 1) AS download_mbps, round(random() * 20, 1) AS upload_mbps,
                         round(random() * 60, 1) AS latency_ms, CASE WHEN i % 97 = 0 THEN 'false' ELSE 'true' END AS online
                  FROM range({ROWS}) t(i)) TO '{path}' (HEADER)"""  # noqa: S608
    )
    return path


def load_schools(store, folder: Path) -> None:
    path = folder / "schools_2025-07-01.csv"
    rows = "".join(
        f"B{i:04d},Trường {i},primary,public,Phường Sài Gòn,Quận 1,500,30,20\n" for i in range(SCHOOLS)
    )
    path.write_text(
        "school_id,school_name,level,ownership,ward_name,district_name,students,teachers,classrooms\n" + rows
    )
    assert ingest_file(store, path).status == "loaded"


def test_large_csv_loads_without_python_rows(store, big_csv: Path, tmp_path: Path) -> None:
    load_schools(store, tmp_path)
    tracemalloc.start()
    try:
        result = ingest_file(store, big_csv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.rows_loaded) == ("loaded", ROWS)
    assert store.execute("SELECT count(*), count(*) FILTER (WHERE NOT online) FROM connectivity").rows == [
        (ROWS, len(range(0, ROWS, 97)))
    ]
    # 300,000 rows as Python objects would take well over 100 MB; streaming keeps Python's heap small
    assert peak < 20 * 1024 * 1024, f"Python heap peaked at {peak / 1e6:.1f} MB"


def test_bad_last_row_of_a_large_file_leaves_nothing(store, big_csv: Path, tmp_path: Path) -> None:
    load_schools(store, tmp_path)
    bad = tmp_path / "connectivity_backfill_bad.csv"
    bad.write_bytes(big_csv.read_bytes() + b"2026-10-31T23:55:00,B0001,-1,1,1,true\n")
    result = ingest_file(store, bad)
    assert result.status == "rejected"
    assert [r.message for r in result.rejections] == [
        f"connectivity_backfill_bad.csv: row {ROWS + 2}, column download_mbps: value '-1' breaks rule download_mbps >= 0"
    ]
    assert store.execute("SELECT count(*) FROM connectivity").scalar() == 0
