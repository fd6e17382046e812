"""Probes are written sorted by school, then time (ioc/datasets.py ``sorted_by``, migration 5), so
the row groups of a probe file each hold a few schools and a school's query skips the others."""

from __future__ import annotations

from pathlib import Path

from ingest.load import ingest_file
from ioc.datasets import CONNECTIVITY

SCHOOLS = ("S003", "S001", "S002")


def probes_in_time_order(folder: Path, slots: int = 120) -> Path:
    """A file as a collector writes it: one probe per school per 5-minute slot, slot after slot."""
    lines = ["measured_at,school_id,download_mbps,upload_mbps,latency_ms,online"]
    for slot in range(slots):
        hour, minute = divmod(slot * 5, 60)
        for school in SCHOOLS:
            lines.append(f"2026-11-23 {hour:02d}:{minute:02d},{school},{30 + slot % 7},10,20,true")
    path = folder / "connectivity_2026-11-23.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def file_rows(store) -> list[tuple]:
    """The probes as they lie in the table's data files, file by file, in file order."""
    files = [
        row[0]
        for row in store.execute(
            "SELECT data_file FROM ducklake_list_files('lake', 'connectivity') ORDER BY data_file"
        ).rows
    ]
    assert files, "the probes were written to a data file"
    rows: list[tuple] = []
    for name in files:
        rows += store.execute(
            "SELECT school_id, measured_at FROM read_parquet($f, file_row_number = true) ORDER BY file_row_number",
            {"f": name},
        ).rows
    return rows


def test_the_connectivity_table_declares_its_file_order(schools_store) -> None:
    assert CONNECTIVITY.sorted_by == ("school_id", "measured_at")
    assert CONNECTIVITY.sort_table("lake") == (
        "ALTER TABLE lake.connectivity SET SORTED BY (school_id ASC, measured_at ASC)"
    )


def test_a_load_writes_its_probes_sorted_by_school_then_time(schools_store, tmp_path: Path) -> None:
    result = ingest_file(schools_store, probes_in_time_order(tmp_path))
    assert result.status == "loaded" and result.rows_loaded == 360, result
    rows = file_rows(schools_store)
    assert len(rows) == 360
    assert rows == sorted(rows)  # school by school, each school's probes in time order
    assert [r[0] for r in rows[:120]] == ["S001"] * 120
    # the table still answers as before: the order is the files', not the data's
    assert schools_store.execute("SELECT count(DISTINCT school_id) FROM connectivity").scalar() == 3
