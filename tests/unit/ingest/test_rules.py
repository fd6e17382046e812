"""Every rule of the input contract: one small bad file per failure, with the exact message.

All bad files are checked against one store holding the three fixture schools; a rejected file
writes nothing but its run-log row, so they can share it.
"""

from __future__ import annotations

import pytest

from ingest.load import ingest_file
from ioc.messages import Message

from .conftest import BAD, GOOD

CASES = [
    (
        "attendance_bad_date_format.csv",
        "date as YYYY-MM-DD or DD/MM/YYYY",
        "attendance_bad_date_format.csv: row 2, column date: value '2026/11/24' breaks rule date as YYYY-MM-DD or DD/MM/YYYY",
    ),
    (
        "attendance_empty_present.csv",
        "required (not empty)",
        "attendance_empty_present.csv: row 2, column present: value '' breaks rule required (not empty)",
    ),
    (
        "attendance_impossible_date.csv",
        "date as YYYY-MM-DD or DD/MM/YYYY",
        "attendance_impossible_date.csv: row 2, column date: value '31/02/2026' breaks rule date as YYYY-MM-DD or DD/MM/YYYY",
    ),
    (
        "attendance_negative_absent.csv",
        "absent_excused >= 0",
        "attendance_negative_absent.csv: row 2, column absent_excused: value '-1' breaks rule absent_excused >= 0",
    ),
    (
        "attendance_present_over_enrolled.csv",
        "present <= enrolled",
        "attendance_present_over_enrolled.csv: row 3, column present: value '120' breaks rule present <= enrolled (enrolled is 110)",
    ),
    (
        "attendance_sum_mismatch.csv",
        "present + absent_excused + absent_unexcused = enrolled",
        "attendance_sum_mismatch.csv: row 2, column absent_unexcused: value '5' breaks rule present + absent_excused + absent_unexcused = enrolled (present 780 + excused 10 + unexcused 5 = 795, enrolled is 800)",
    ),
    (
        "attendance_unknown_school.csv",
        "school_id exists in schools",
        "attendance_unknown_school.csv: row 2, column school_id: value 'S999' breaks rule school_id exists in schools (no school S999 has been loaded)",
    ),
    (
        "attendance_wrong_column_count.csv",
        "readable file",
        "attendance_wrong_column_count.csv: cannot be read as CSV: CSV Error on Line: 2 Original Line: 2026-11-24,S001,800,780,12 Expected Number of Columns: 4 Found: 5",
    ),
    (
        "connectivity_bad_number.csv",
        "number",
        "connectivity_bad_number.csv: row 2, column latency_ms: value 'fast' breaks rule number",
    ),
    (
        "connectivity_bad_timestamp.csv",
        "ISO 8601 timestamp (YYYY-MM-DDTHH:MM[:SS][+07:00])",
        "connectivity_bad_timestamp.csv: row 2, column measured_at: value '23/11/2026 08:00' breaks rule ISO 8601 timestamp (YYYY-MM-DDTHH:MM[:SS][+07:00])",
    ),
    (
        "connectivity_duplicate_instant.csv",
        "unique measured_at + school_id",
        "connectivity_duplicate_instant.csv: row 3, column measured_at+school_id: value '2026-11-23T01:00:00Z, S001' breaks rule unique measured_at + school_id (row 2 has the same measured_at and school_id with different values)",
    ),
    (
        "connectivity_negative_download.csv",
        "download_mbps >= 0",
        "connectivity_negative_download.csv: row 2, column download_mbps: value '-3' breaks rule download_mbps >= 0",
    ),
    (
        "digital_bad_boolean.csv",
        "boolean (true/false, 1/0, yes/no, có/không)",
        "digital_bad_boolean.csv: row 2, column e_transcript: value 'đúng' breaks rule boolean (true/false, 1/0, yes/no, có/không)",
    ),
    (
        "digital_cashless_over_one.csv",
        "0 <= cashless_share <= 1",
        "digital_cashless_over_one.csv: row 2, column cashless_share: value '75' breaks rule 0 <= cashless_share <= 1",
    ),
    (
        "digital_lms_over_students.csv",
        "lms_active_students <= students of the school",
        "digital_lms_over_students.csv: row 2, column lms_active_students: value '801' breaks rule lms_active_students <= students of the school (school S001 has 800 students)",
    ),
    (
        "digital_smart_over_classrooms.csv",
        "smart_classrooms <= classrooms of the school",
        "digital_smart_over_classrooms.csv: row 2, column smart_classrooms: value '26' breaks rule smart_classrooms <= classrooms of the school (school S001 has 25 classrooms)",
    ),
    (
        "digital_trained_over_teachers.csv",
        "teachers_trained <= teachers of the school",
        "digital_trained_over_teachers.csv: row 2, column teachers_trained: value '41' breaks rule teachers_trained <= teachers of the school (school S001 has 40 teachers)",
    ),
    (
        "schools_bad_boolean.csv",
        "boolean (true/false, 1/0, yes/no, có/không)",
        "schools_bad_boolean.csv: row 2, column active: value 'maybe' breaks rule boolean (true/false, 1/0, yes/no, có/không)",
    ),
    (
        "schools_bad_level.csv",
        "one of preschool, primary, lower_secondary, upper_secondary, continuing, multi_level",
        "schools_bad_level.csv: row 2, column level: value 'Đại học' breaks rule one of preschool, primary, lower_secondary, upper_secondary, continuing, multi_level",
    ),
    (
        "schools_bad_ownership.csv",
        "one of public, private",
        "schools_bad_ownership.csv: row 2, column ownership: value 'Nhà nước' breaks rule one of public, private",
    ),
    (
        "schools_duplicate_header.csv",
        "column appears once",
        "schools_duplicate_header.csv: column students appears more than once in the header (columns 11 and 14)",
    ),
    (
        "schools_duplicate_key.csv",
        "unique school_id",
        "schools_duplicate_key.csv: row 4, column school_id: value 'S010' breaks rule unique school_id (row 2 has the same school_id with different values)",
    ),
    (
        "schools_empty_school_id.csv",
        "required (not empty)",
        "schools_empty_school_id.csv: row 2, column school_id: value '' breaks rule required (not empty)",
    ),
    (
        "schools_fraction_teachers.csv",
        "whole number",
        "schools_fraction_teachers.csv: row 2, column teachers: value '12.5' breaks rule whole number",
    ),
    (
        "schools_latitude_outside.csv",
        "latitude between 8 and 24 (inside Vietnam)",
        "schools_latitude_outside.csv: row 2, column latitude: value '48.85' breaks rule latitude between 8 and 24 (inside Vietnam)",
    ),
    (
        "schools_longitude_outside.csv",
        "longitude between 102 and 110 (inside Vietnam)",
        "schools_longitude_outside.csv: row 2, column longitude: value '2.35' breaks rule longitude between 102 and 110 (inside Vietnam)",
    ),
    (
        "schools_missing_column.csv",
        "required column",
        "schools_missing_column.csv: column ward_name is missing (required; the header has: school_id, school_name, level, ownership, ward_code, district_code, district_name, latitude, longitude, students, teachers, classrooms, active)",
    ),
    (
        "schools_negative_students.csv",
        "students >= 0",
        "schools_negative_students.csv: row 2, column students: value '-10' breaks rule students >= 0",
    ),
    (
        "schools_tcvn3.csv",
        "Vietnamese text in Unicode",
        "schools_tcvn3.csv: row 2, column school_name: value 'Tr\xadêng TiÓu häc' breaks rule Vietnamese text in Unicode (contains '\\xad' 'ä', which are not Vietnamese letters: the text looks typed in the legacy TCVN3 (ABC) encoding; convert it to Unicode and send it again)",
    ),
    (
        "schools_vni.csv",
        "Vietnamese text in Unicode",
        "schools_vni.csv: row 2, column school_name: value 'Tröôøng Tieåu hoïc' breaks rule Vietnamese text in Unicode (contains 'å' 'ï' 'ö' 'ø', which are not Vietnamese letters: the text looks typed in the legacy VNI encoding; convert it to Unicode and send it again)",
    ),
    (
        "schools_windows1258.csv",
        "UTF-8 encoding",
        "schools_windows1258.csv: the file is not UTF-8 (byte 0xFD at offset 148): it looks like Windows-1258 or another legacy Vietnamese encoding (read as Windows-1258 the line says 'S010,Trương Tiểu học,primary,public,26743,Phương Sài Gòn,760,Quận 1,,,10,1,1,true'); open it and save it as UTF-8 (in Excel: 'CSV UTF-8'), then send it again",
    ),
    (
        "students_2026-11-23.csv",
        "dataset from file name",
        "students_2026-11-23.csv: cannot tell the dataset from the file name: it must start with one of schools, attendance, digital, connectivity (e.g. attendance_2026-11-23.csv), or give --dataset",
    ),
]


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    from ioc.store import Store

    store = Store(tmp_path_factory.mktemp("rules") / "data")
    assert ingest_file(store, GOOD / "schools_2025-07-01.csv").status == "loaded"
    yield store
    store.close()


def test_every_bad_fixture_has_a_case() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(name for name, _, _ in CASES)


@pytest.mark.parametrize(("name", "rule", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_file_is_rejected_with_exact_message(shared_store, name: str, rule: str, expected: str) -> None:
    before = {
        t: shared_store.execute(f"SELECT count(*) FROM {t}").scalar()  # noqa: S608
        for t in ("schools", "attendance", "digital", "connectivity")
    }
    result = ingest_file(shared_store, BAD / name)
    assert result.status == "rejected"
    assert [r.message for r in result.rejections] == [expected]
    assert result.rejections[0].rule == rule
    assert result.rows_loaded == 0
    after = {t: shared_store.execute(f"SELECT count(*) FROM {t}").scalar() for t in before}  # noqa: S608
    assert after == before
    stored = shared_store.execute(
        "SELECT file_name, message, rule FROM rejections WHERE run_id = ?", [result.run_id]
    ).rows
    assert stored == [(name, expected, rule)]
    # the template and its parameters are stored beside the English text, and say it again
    # word for word; in Vietnamese the same rejection names the same file, row and value
    message_id, params = shared_store.execute(
        "SELECT message_id, message_params FROM rejections WHERE run_id = ?", [result.run_id]
    ).rows[0]
    words = Message.stored(message_id, params)
    assert words is not None and words.text("en") == expected
    vietnamese = words.text("vi")
    assert vietnamese != expected and "breaks rule" not in vietnamese and vietnamese.startswith(name)
    run = shared_store.execute(
        "SELECT status, rows_loaded FROM ingest_runs WHERE run_id = ?", [result.run_id]
    ).first()
    assert run == {"status": "rejected", "rows_loaded": 0}
