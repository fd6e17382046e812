"""Readers: CSV variants, XLSX (date cells, serials, the 1904 date system), Parquet, JSON files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.contract import CONNECTIVITY, dataset_of, date_in_name, header_key
from ingest.load import ingest_file
from ingest.readers import cell_text, match_header

from .conftest import GOOD

ATT = ["date", "school_id", "enrolled", "present", "absent_excused", "absent_unexcused"]


def workbook(path: Path, rows: list[list[object]], *, date1904: bool = False) -> Path:
    book = openpyxl.Workbook()
    if date1904:
        book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def dates(store) -> list[tuple]:
    return store.execute("SELECT school_id, date, present FROM attendance ORDER BY school_id").rows


def test_header_matching_ignores_case_spaces_and_bom() -> None:
    header = match_header(["\ufeffMeasured At", " SCHOOL_ID ", "Online", "Comment"], CONNECTIVITY)
    assert header.columns == ("measured_at", "school_id", "online")
    assert header.extra == ("Comment",)
    assert header_key("  Download  Mbps ") == "download_mbps"


def test_dataset_and_date_come_from_the_file_name() -> None:
    assert dataset_of("attendance_2026-11-23.csv").name == "attendance"
    assert dataset_of("Connectivity-probes.parquet").name == "connectivity"
    assert dataset_of("schools.xlsx").name == "schools"
    assert dataset_of("attendances.csv") is None
    assert dataset_of("report.csv") is None
    assert date_in_name("schools_2025-07-01.csv") == "2025-07-01"
    assert date_in_name("schools.csv") is None


def test_csv_with_bom_and_spaced_headers_loads_with_a_warning_for_extra_columns(schools_store) -> None:
    result = ingest_file(schools_store, GOOD / "attendance_2026-11-24_bom.csv")
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    assert result.warnings == (
        "attendance_2026-11-24_bom.csv: 1 column(s) not part of the attendance contract were left out: 'note'",
    )
    assert dates(schools_store) == [("S001", dt.date(2026, 11, 24), 790)]


def test_semicolon_separated_csv_loads(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "attendance_semicolon.csv"
    path.write_text("date;school_id;enrolled;present\n23/11/2026;S001;800;700\n", encoding="utf-8")
    assert ingest_file(schools_store, path).status == "loaded"
    assert dates(schools_store) == [("S001", dt.date(2026, 11, 23), 700)]


def test_xlsx_with_date_cells_serials_and_text_dates(schools_store, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "attendance_book.xlsx",
        [
            [" Date", "School_ID", "Enrolled", "Present"],
            [dt.datetime(2026, 11, 23), "S001", 800, 780.0],  # a date cell
            [46349, "S002", 900, 850],  # a serial number: 46349 = 2026-11-23 in the 1900 system
            [None, None, None, None],  # an empty line is layout, skipped
            ["23/11/2026", "S003", 120, 100],  # a date typed as text
        ],
    )
    result = ingest_file(schools_store, path)
    assert (result.status, result.rows_loaded) == ("loaded", 3)
    assert dates(schools_store) == [
        ("S001", dt.date(2026, 11, 23), 780),
        ("S002", dt.date(2026, 11, 23), 850),
        ("S003", dt.date(2026, 11, 23), 100),
    ]


def test_xlsx_1904_date_system_serials(schools_store, tmp_path: Path) -> None:
    # 44887 days after 1904-01-01 is 2026-11-23 (the 1900 system would say 2022-11-22)
    path = workbook(
        tmp_path / "attendance_mac.xlsx",
        [ATT[:4], [44887, "S001", 800, 780], [dt.date(2026, 11, 24), "S001", 800, 770]],
        date1904=True,
    )
    assert ingest_file(schools_store, path).status == "loaded"
    assert schools_store.execute("SELECT date FROM attendance ORDER BY date").rows == [
        (dt.date(2026, 11, 23),),
        (dt.date(2026, 11, 24),),
    ]


def test_xlsx_rejection_names_the_sheet_row(schools_store, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "attendance_rows.xlsx",
        [
            ["Báo cáo chuyên cần"],
            ATT[:4],
            [dt.date(2026, 11, 23), "S001", 800, 780],
            [],
            [dt.date(2026, 11, 23), "S002", 90, 95],
        ],
    )
    result = ingest_file(schools_store, path)
    assert [r.message for r in result.rejections] == [
        "attendance_rows.xlsx: row 5, column present: value '95' breaks rule present <= enrolled (enrolled is 90)"
    ]


def test_xlsx_datetime_cells_for_timestamps_are_local_time(schools_store, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "connectivity_book.xlsx",
        [
            ["measured_at", "school_id", "download_mbps", "online"],
            [dt.datetime(2026, 11, 23, 8, 0), "S001", 30, True],
        ],
    )
    assert ingest_file(schools_store, path).status == "loaded"
    assert schools_store.execute("SELECT timezone('UTC', measured_at), online FROM connectivity").rows == [
        (dt.datetime(2026, 11, 23, 1, 0), True)
    ]


def test_cell_text_formats_cells_like_a_csv() -> None:
    epoch = dt.datetime(1899, 12, 30)
    assert cell_text(True, "boolean", epoch) == "true"
    assert cell_text(12.0, "integer", epoch) == "12"
    assert cell_text(12.5, "integer", epoch) == "12.5"
    assert cell_text(26743.0, "text", epoch) == "26743"  # a ward code typed as a number
    assert cell_text(dt.datetime(2026, 1, 2, 3, 4), "date", epoch) == "2026-01-02T03:04:00"
    assert cell_text(None, "text", epoch) is None


def test_unreadable_workbook_is_rejected(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "attendance_broken.xlsx"
    path.write_bytes(b"not a zip file")
    result = ingest_file(schools_store, path)
    assert result.status == "rejected"
    assert result.rejections[0].message.startswith(
        "attendance_broken.xlsx: cannot be read as an XLSX workbook"
    )


def test_parquet_with_typed_columns(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "connectivity_2026-11-23.parquet"
    pq.write_table(
        pa.table(
            {
                "Measured_At": pa.array(
                    [
                        dt.datetime(2026, 11, 23, 1, 0, tzinfo=dt.UTC),
                        dt.datetime(2026, 11, 23, 1, 5, tzinfo=dt.UTC),
                    ],
                    pa.timestamp("us", tz="UTC"),
                ),
                "school_id": ["S001", "S002"],
                "download_mbps": [25.5, None],
                "latency_ms": pa.array([10, None], pa.int32()),
                "online": [True, False],
                "probe_version": ["v2", "v2"],
            }
        ),
        path,
    )
    result = ingest_file(schools_store, path)
    assert (result.status, result.rows_loaded) == ("loaded", 2)
    assert result.warnings == (
        "connectivity_2026-11-23.parquet: 1 column(s) not part of the connectivity contract were left out: 'probe_version'",
    )
    assert schools_store.execute(
        "SELECT school_id, timezone('UTC', measured_at), download_mbps, latency_ms, online FROM connectivity ORDER BY 1"
    ).rows == [
        ("S001", dt.datetime(2026, 11, 23, 1, 0), 25.5, 10.0, True),
        ("S002", dt.datetime(2026, 11, 23, 1, 5), None, None, False),
    ]


def test_parquet_naive_timestamps_and_dates(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "attendance_2026-11-23.parquet"
    pq.write_table(
        pa.table(
            {"date": [dt.date(2026, 11, 23)], "school_id": ["S001"], "enrolled": [800], "present": [780]}
        ),
        path,
    )
    assert ingest_file(schools_store, path).status == "loaded"
    assert dates(schools_store) == [("S001", dt.date(2026, 11, 23), 780)]


def test_json_file_of_records(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "attendance_api.json"
    path.write_text(
        json.dumps(
            {"records": [{"date": "2026-11-23", "school_id": "S001", "enrolled": 800, "present": 760}]}
        )
    )
    assert ingest_file(schools_store, path).status == "loaded"
    assert dates(schools_store) == [("S001", dt.date(2026, 11, 23), 760)]


def test_parquet_native_values_are_checked_like_text(schools_store, tmp_path: Path) -> None:
    path = tmp_path / "connectivity_native.parquet"
    pq.write_table(
        pa.table(
            {
                "measured_at": pa.array(
                    [dt.datetime(2026, 11, 23, 8, 0), dt.datetime(2026, 11, 23, 8, 5)], pa.timestamp("ns")
                ),
                "school_id": ["S001", "S001"],
                "download_mbps": [float("nan"), -2.5],
                "online": [True, True],
            }
        ),
        path,
    )
    result = ingest_file(schools_store, path)
    assert [r.message for r in result.rejections] == [
        "connectivity_native.parquet: row 2, column download_mbps: value 'nan' breaks rule number",
        "connectivity_native.parquet: row 3, column download_mbps: value '-2.5' breaks rule download_mbps >= 0",
    ]


def test_parquet_naive_timestamps_are_local_and_float_counts_are_whole_numbers(
    schools_store, tmp_path: Path
) -> None:
    probes = tmp_path / "connectivity_naive.parquet"
    pq.write_table(
        pa.table(
            {
                "measured_at": pa.array([dt.datetime(2026, 11, 23, 8, 0)], pa.timestamp("us")),
                "school_id": ["S001"],
                "download_mbps": pa.array([30], pa.int64()),
                "online": [True],
            }
        ),
        probes,
    )
    days = tmp_path / "attendance_floats.parquet"
    pq.write_table(
        pa.table({"date": ["23/11/2026"], "school_id": ["S001"], "enrolled": [800.0], "present": [780.0]}),
        days,
    )
    assert ingest_file(schools_store, probes).status == "loaded"
    assert ingest_file(schools_store, days).status == "loaded"
    assert schools_store.execute(
        "SELECT timezone('UTC', measured_at), download_mbps FROM connectivity"
    ).rows == [(dt.datetime(2026, 11, 23, 1, 0), 30.0)]
    assert dates(schools_store) == [("S001", dt.date(2026, 11, 23), 780)]
