"""Probes are written sorted by day, then school, then time (ioc/datasets.py ``sorted_by``,
migrations 5 and 6), so the row groups of a probe file each hold a few schools and a school's query
skips the others, and a merge by maintenance keeps each day's probes together."""

from __future__ import annotations

from pathlib import Path

from ingest.load import ingest_file
from ioc.datasets import CONNECTIVITY

SCHOOLS = ("S003", "S001", "S002")


def probes_in_time_order(folder: Path, day: str = "2026-11-23", slots: int = 120) -> Path:
    """A file as a collector writes it: one probe per school per 5-minute slot, slot after slot,
    from 08:00 local time (01:00 UTC: the same day in both)."""
    lines = ["measured_at,school_id,download_mbps,upload_mbps,latency_ms,online"]
    for slot in range(slots):
        hour, minute = divmod(8 * 60 + slot * 5, 60)
        for school in SCHOOLS:
            lines.append(f"{day} {hour:02d}:{minute:02d},{school},{30 + slot % 7},10,20,true")
    path = folder / f"connectivity_{day}.csv"
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
    assert CONNECTIVITY.sorted_by == ("date_trunc('day', measured_at)", "school_id", "measured_at")
    assert CONNECTIVITY.sort_table("lake") == (
        "ALTER TABLE lake.connectivity SET SORTED BY "
        "(date_trunc('day', measured_at) ASC, school_id ASC, measured_at ASC)"
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


def test_maintenance_merges_files_keeping_each_day_together(schools_store, tmp_path: Path) -> None:
    for day in ("2026-11-24", "2026-11-23"):  # loaded out of order: two files
        assert ingest_file(schools_store, probes_in_time_order(tmp_path, day)).status == "loaded"
    schools_store.maintain()  # merges the two files into one
    rows = file_rows(schools_store)
    assert len(rows) == 720
    # the 23rd's probes first, school by school, then the 24th's
    assert rows == sorted(rows, key=lambda r: (r[1].date(), r[0], r[1]))
    assert {r[1].day for r in rows[:360]} == {23} and [r[0] for r in rows[:120]] == ["S001"] * 120
