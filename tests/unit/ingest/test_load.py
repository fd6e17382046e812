"""The loader: typed values, idempotence, replacements, whole-file transactions, school history,
archive and run log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ingest import load
from ingest.load import collect_files, ingest_file, ingest_paths, ingest_records

from .conftest import GOOD

ATT_HEADER = "date,school_id,enrolled,present,absent_excused,absent_unexcused\n"
UTC = dt.UTC


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def table(store, sql: str, *params: object) -> list[tuple]:
    return store.execute(sql, list(params)).rows


def test_good_files_load_with_labels_booleans_dates_and_timestamps_typed(schools_store) -> None:
    for name in ("attendance_2026-11-23.csv", "digital_2026-11-01.csv", "connectivity_2026-11-23.csv"):
        assert ingest_file(schools_store, GOOD / name).status == "loaded", name
    schools = table(
        schools_store,
        "SELECT school_id, level, ownership, active, school_name, valid_from FROM schools ORDER BY 1",
    )
    assert schools == [
        ("S001", "primary", "public", True, "Trường Tiểu học Lê Văn Tám", dt.date(2025, 7, 1)),
        ("S002", "lower_secondary", "public", True, "Trường THCS Nguyễn Du", dt.date(2025, 7, 1)),
        ("S003", "preschool", "private", True, "Trường Mầm non Hoa Sen", dt.date(2025, 7, 1)),
    ]
    assert table(schools_store, "SELECT school_id, date, absent_excused FROM attendance ORDER BY 1") == [
        ("S001", dt.date(2026, 11, 23), 15),
        ("S002", dt.date(2026, 11, 23), None),
        ("S003", dt.date(2026, 11, 23), None),
    ]
    assert table(
        schools_store, "SELECT school_id, as_of, e_transcript, cashless_share FROM digital ORDER BY 1"
    ) == [
        ("S001", dt.date(2026, 11, 1), True, 0.75),
        ("S002", dt.date(2026, 11, 1), False, 0.0),
    ]
    probes = table(
        schools_store,
        "SELECT school_id, timezone('UTC', measured_at), online, download_mbps FROM connectivity ORDER BY 1, 2",
    )
    assert probes == [
        ("S001", dt.datetime(2026, 11, 23, 1, 0), True, 55.5),  # +07:00 converted
        ("S001", dt.datetime(2026, 11, 23, 1, 5), False, None),  # no offset = Ho Chi Minh City time
        ("S002", dt.datetime(2026, 11, 23, 1, 0), True, 25.0),  # Z
        ("S003", dt.datetime(2026, 11, 23, 1, 0), True, 5.0),
    ]


def test_text_is_stored_nfc(schools_store, tmp_path: Path) -> None:
    decomposed = "Trường Tiểu học".replace("ờ", "ơ\u0300")  # combining grave accent
    header = (GOOD / "schools_2025-07-01.csv").read_text(encoding="utf-8").splitlines()[0]
    write(
        tmp_path / "schools_2025-08-01.csv",
        header + f"\nS009,{decomposed},primary,public,,Phường Sài Gòn,,Quận 1,,,1,1,1,true\n",
    )
    assert ingest_file(schools_store, tmp_path / "schools_2025-08-01.csv").status == "loaded"
    name = schools_store.execute("SELECT school_name FROM schools WHERE school_id = 'S009'").scalar()
    assert name == "Trường Tiểu học" and len(name) == len("Trường Tiểu học")


def test_same_file_twice_changes_nothing(schools_store) -> None:
    first = ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv")
    rows = table(schools_store, "SELECT * FROM attendance ORDER BY school_id")
    version = schools_store.data_version()
    second = ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv")
    # the only commit since is the run-log row of the second run
    changes = [row[2] for row in schools_store.snapshots().rows if row[0] > version]
    ids = dict(table(schools_store, "SELECT table_name, table_id FROM ducklake_table_info('lake')"))
    assert len(changes) == 1
    assert {table_id for kind in changes[0].values() for table_id in kind} == {str(ids["ingest_runs"])}
    assert (first.status, second.status) == ("loaded", "unchanged")
    assert second.checksum == first.checksum
    assert second.rows_loaded == 0
    assert table(schools_store, "SELECT * FROM attendance ORDER BY school_id") == rows
    assert schools_store.execute("SELECT count(*) FROM replacements").scalar() == 0
    statuses = table(
        schools_store,
        "SELECT status FROM ingest_runs WHERE file_name = 'attendance_2026-11-23.csv' ORDER BY started_at",
    )
    assert statuses == [("loaded",), ("unchanged",)]


def test_resent_row_replaces_the_earlier_one_and_is_recorded(schools_store, tmp_path: Path) -> None:
    first = ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv")
    resend = write(
        tmp_path / "attendance_2026-11-23_fix.csv",
        ATT_HEADER + "2026-11-23,S001,800,790,5,5\n2026-11-23,S002,900,850,,\n2026-11-24,S002,900,800,,\n",
    )
    result = ingest_file(schools_store, resend)
    assert (result.status, result.rows_loaded, result.rows_replaced) == ("loaded", 3, 1)
    assert table(schools_store, "SELECT present, run_id FROM attendance WHERE school_id = 'S001'") == [
        (790, result.run_id)
    ]
    # the identical S002 row was left as it was
    assert table(
        schools_store, "SELECT run_id FROM attendance WHERE school_id = 'S002' AND date = DATE '2026-11-23'"
    ) == [(first.run_id,)]
    assert table(schools_store, "SELECT run_id, dataset, key, previous_run_id FROM replacements") == [
        (result.run_id, "attendance", "2026-11-23|S001", first.run_id)
    ]
    assert schools_store.execute("SELECT count(*) FROM attendance").scalar() == 4


def test_bad_row_at_the_end_leaves_nothing(schools_store, tmp_path: Path) -> None:
    lines = [f"2026-11-{1 + i % 28:02d},S00{1 + i // 28 % 3},100,90,," for i in range(84)]
    bad = write(
        tmp_path / "attendance_month.csv", ATT_HEADER + "\n".join(lines) + "\n2026-11-30,S001,100,101,,\n"
    )
    result = ingest_file(schools_store, bad)
    assert result.status == "rejected"
    assert [r.row for r in result.rejections] == [86]
    assert schools_store.execute("SELECT count(*) FROM attendance").scalar() == 0


def test_failure_inside_the_transaction_rolls_back_the_whole_file(schools_store, monkeypatch) -> None:
    def broken_hook(cur, dataset, staged):
        raise OSError("disk full while updating rollups")

    monkeypatch.setattr(load.rollups, "after_load", broken_hook)
    result = ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv")
    assert result.status == "failed"
    assert "disk full" in result.rejections[0].message
    assert schools_store.execute("SELECT count(*) FROM attendance").scalar() == 0
    assert table(schools_store, "SELECT status FROM ingest_runs WHERE run_id = ?", result.run_id) == [
        ("failed",)
    ]
    monkeypatch.undo()
    assert ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv").status == "loaded"


def test_schools_keep_history(store, tmp_path: Path) -> None:
    header = (GOOD / "schools_2025-07-01.csv").read_text(encoding="utf-8").splitlines()[0]
    before = "S001,Trường A,primary,public,26743,Phường Bến Thành,760,Quận 1,,,100,10,10,true\nS002,Trường B,primary,public,26743,Phường Bến Thành,760,Quận 1,,,100,10,10,true\n"
    after = before.replace(
        "S001,Trường A,primary,public,26743,Phường Bến Thành",
        "S001,Trường A,primary,public,26743,Phường Sài Gòn",
    )
    write(tmp_path / "a" / "schools_2025-06-01.csv", header + "\n" + before)
    write(tmp_path / "b" / "schools_2025-07-01.csv", header + "\n" + after)
    first = ingest_file(store, tmp_path / "a" / "schools_2025-06-01.csv")
    second = ingest_file(store, tmp_path / "b" / "schools_2025-07-01.csv")
    assert (first.versions_added, second.versions_added) == (2, 1)
    assert table(
        store, "SELECT school_id, ward_name, valid_from FROM schools ORDER BY school_id, valid_from"
    ) == [
        ("S001", "Phường Bến Thành", dt.date(2025, 6, 1)),
        ("S001", "Phường Sài Gòn", dt.date(2025, 7, 1)),
        ("S002", "Phường Bến Thành", dt.date(2025, 6, 1)),
    ]
    # the same rows again (in another order) under another date add nothing
    reordered = "".join(reversed(after.splitlines(keepends=True)))
    again = ingest_file(store, write(tmp_path / "c" / "schools_2025-08-01.csv", header + "\n" + reordered))
    assert (again.status, again.versions_added) == ("loaded", 0)
    assert store.execute("SELECT count(*) FROM schools").scalar() == 3


def test_school_version_resent_for_the_same_date_is_replaced(store, tmp_path: Path) -> None:
    header = (GOOD / "schools_2025-07-01.csv").read_text(encoding="utf-8").splitlines()[0]
    row = "S001,Trường A,primary,public,,Phường Sài Gòn,,Quận 1,,,100,10,10,true\n"
    first = ingest_file(
        store, write(tmp_path / "schools.csv", header + "\n" + row), effective_date=dt.date(2025, 9, 5)
    )
    fixed = ingest_file(
        store,
        write(tmp_path / "schools_fixed.csv", header + "\n" + row.replace(",100,", ",120,")),
        effective_date=dt.date(2025, 9, 5),
    )
    assert fixed.rows_replaced == 1
    assert table(store, "SELECT students, valid_from FROM schools") == [(120, dt.date(2025, 9, 5))]
    assert table(store, "SELECT key, previous_run_id FROM replacements") == [
        ("S001|2025-09-05", first.run_id)
    ]


def test_schools_without_a_date_are_valid_from_today(store, tmp_path: Path) -> None:
    header = (GOOD / "schools_2025-07-01.csv").read_text(encoding="utf-8").splitlines()[0]
    ingest_file(store, write(tmp_path / "schools.csv", header + "\nS001,A,primary,public,,W,,D,,,1,1,1,\n"))
    assert store.execute("SELECT valid_from FROM schools").scalar() == load._today()


def test_identical_repeated_rows_are_loaded_once_with_a_warning(schools_store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "attendance_x.csv", ATT_HEADER + "2026-11-23,S001,800,780,,\n23/11/2026,S001,800,780,,\n"
    )
    result = ingest_file(schools_store, path)
    assert (result.status, result.rows_loaded) == ("loaded", 1)
    assert result.warnings == (
        "attendance_x.csv: 1 row(s) repeat an earlier row exactly and were loaded once",
    )
    assert schools_store.execute("SELECT count(*) FROM attendance").scalar() == 1


def test_original_files_are_archived_with_their_checksum_even_when_rejected(
    schools_store, tmp_path: Path
) -> None:
    good = ingest_file(schools_store, GOOD / "attendance_2026-11-23.csv")
    bad = ingest_file(
        schools_store, write(tmp_path / "attendance_bad.csv", ATT_HEADER + "2026-11-23,S001,1,2,,\n")
    )
    for result, name in ((good, "attendance_2026-11-23.csv"), (bad, "attendance_bad.csv")):
        archived = Path(result.archive_path)
        assert archived == schools_store.layout.archive / "attendance" / f"{result.checksum[:16]}_{name}"
        assert archived.read_bytes() == (GOOD / name if result is good else tmp_path / name).read_bytes()
    runs = table(schools_store, "SELECT archive_path, checksum FROM ingest_runs WHERE run_id = ?", bad.run_id)
    assert runs == [(bad.archive_path, bad.checksum)]


def test_every_run_appends_a_json_line_to_the_ingest_log(schools_store, tmp_path: Path) -> None:
    ingest_file(schools_store, write(tmp_path / "attendance_bad.csv", ATT_HEADER + "2026-11-23,S001,1,2,,\n"))
    lines = (schools_store.layout.logs / "ingest.log").read_text(encoding="utf-8").splitlines()
    entries = [json.loads(line) for line in lines]
    assert [e["status"] for e in entries] == ["loaded", "rejected"]
    assert entries[1]["file"] == "attendance_bad.csv"
    assert entries[1]["first_rejections"] == [
        "attendance_bad.csv: row 2, column present: value '2' breaks rule present <= enrolled (enrolled is 1)"
    ]


def test_rejections_are_bounded_but_counted_exactly(schools_store, tmp_path: Path) -> None:
    rows = "".join(f"2026-11-23,S{i:04d},10,5,,\n" for i in range(1500))
    result = ingest_file(schools_store, write(tmp_path / "attendance_unknown.csv", ATT_HEADER + rows))
    assert result.status == "rejected"
    assert (result.problems, result.rows_rejected, len(result.rejections)) == (1500, 1500, 1000)
    assert (
        schools_store.execute("SELECT count(*) FROM rejections WHERE run_id = ?", [result.run_id]).scalar()
        == 1000
    )
    message = schools_store.execute(
        "SELECT message FROM ingest_runs WHERE run_id = ?", [result.run_id]
    ).scalar()
    assert message == "1,500 problem(s) in 1,500 row(s); the first 1,000 are listed"


def test_schools_are_loaded_first_when_sent_together(store, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for name in ("attendance_2026-11-23.csv", "schools_2025-07-01.csv"):
        (tmp_path / "in" / name).write_bytes((GOOD / name).read_bytes())
    (tmp_path / "in" / "notes.txt").write_text("not data")
    seen: list[str] = []
    results = ingest_paths(store, [tmp_path / "in"], progress=seen.append)
    assert [(r.file, r.status) for r in results] == [
        ("schools_2025-07-01.csv", "loaded"),
        ("attendance_2026-11-23.csv", "loaded"),
    ]
    assert seen == [
        "schools_2025-07-01.csv: loaded 3 rows (3 new or changed, 0 replaced)",
        "attendance_2026-11-23.csv: loaded 3 rows (0 replaced)",
    ]


def test_collect_files_orders_by_dataset_then_name(tmp_path: Path) -> None:
    for name in (
        "connectivity_1.csv",
        "attendance_2.csv",
        "attendance_1.xlsx",
        "schools_9.parquet",
        "digital.json",
        "~$attendance.xlsx",
    ):
        (tmp_path / name).write_text("x")
    assert [p.name for p in collect_files([tmp_path])] == [
        "schools_9.parquet",
        "attendance_1.xlsx",
        "attendance_2.csv",
        "digital.json",
        "connectivity_1.csv",
    ]


def test_json_records_go_through_the_same_checks(schools_store) -> None:
    records = [
        {
            "measured_at": "2026-11-23T08:00:00+07:00",
            "school_id": "S001",
            "download_mbps": 42.5,
            "online": True,
        },
        {
            "Measured_At": "2026-11-23T08:05:00+07:00",
            "school_id": "S002",
            "download_mbps": None,
            "online": False,
        },
    ]
    result = ingest_records(schools_store, "connectivity", records, source="probe-api", name="batch-0800")
    assert (result.status, result.rows_loaded) == ("loaded", 2)
    assert Path(result.archive_path).name == f"{result.checksum[:16]}_batch-0800.json"
    assert json.loads(Path(result.archive_path).read_text(encoding="utf-8"))[0]["school_id"] == "S001"
    assert table(
        schools_store, "SELECT source, file_name FROM ingest_runs WHERE run_id = ?", result.run_id
    ) == [("probe-api", "batch-0800")]
    bad = ingest_records(
        schools_store,
        "connectivity",
        [{"measured_at": "now", "school_id": "S001", "online": "true"}],
        source="probe-api",
        name="b2",
    )
    assert [r.message for r in bad.rejections] == [
        "b2: row 2, column measured_at: value 'now' breaks rule ISO 8601 timestamp (YYYY-MM-DDTHH:MM[:SS][+07:00])"
    ]


def test_missing_file_is_rejected(store, tmp_path: Path) -> None:
    result = ingest_file(store, tmp_path / "attendance_nothing.csv")
    assert result.status == "rejected"
    assert (
        result.rejections[0].message
        == f"attendance_nothing.csv: {tmp_path / 'attendance_nothing.csv'} does not exist or is not a file"
    )


def test_unknown_dataset_argument_is_an_error(store) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'pupils'"):
        load.get_dataset("pupils")


def test_digital_counts_are_checked_against_the_school_as_it_was_on_that_date(store, tmp_path: Path) -> None:
    header = (GOOD / "schools_2025-07-01.csv").read_text(encoding="utf-8").splitlines()[0]
    big = "S001,Trường A,primary,public,,Phường Sài Gòn,,Quận 1,,,100,10,30,true\n"
    ingest_file(store, write(tmp_path / "schools_2025-07-01.csv", header + "\n" + big))
    ingest_file(
        store, write(tmp_path / "schools_2026-01-01.csv", header + "\n" + big.replace(",30,true", ",20,true"))
    )
    digital_header = "as_of,school_id,student_devices,teacher_devices,smart_classrooms,teachers_trained,lms_active_students,e_transcript,cashless_share\n"
    autumn = ingest_file(
        store,
        write(
            tmp_path / "digital_2025-10-01.csv", digital_header + "2025-10-01,S001,10,10,25,5,50,true,0.5\n"
        ),
    )
    spring = ingest_file(
        store,
        write(
            tmp_path / "digital_2026-02-01.csv", digital_header + "2026-02-01,S001,10,10,25,5,50,true,0.5\n"
        ),
    )
    early = ingest_file(
        store,
        write(
            tmp_path / "digital_2025-01-01.csv", digital_header + "2025-01-01,S001,10,10,25,5,50,true,0.5\n"
        ),
    )
    assert (autumn.status, early.status) == (
        "loaded",
        "loaded",
    )  # 30 classrooms then (the first version covers earlier dates)
    assert [r.message for r in spring.rejections] == [
        "digital_2026-02-01.csv: row 2, column smart_classrooms: value '25' breaks rule smart_classrooms <= classrooms of the school (school S001 has 20 classrooms)"
    ]


def test_record_batch_names_cannot_leave_the_archive(schools_store) -> None:
    records = [{"date": "2026-11-23", "school_id": "S001", "enrolled": 10, "present": 9}]
    result = ingest_records(schools_store, "attendance", records, source="api", name="../../etc/passwd?x=1")
    archived = Path(result.archive_path)
    assert archived.parent == schools_store.layout.archive / "attendance"
    assert archived.name == f"{result.checksum[:16]}_etc_passwd_x_1.json"
