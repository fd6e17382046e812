"""`ioc ingest`: one line per file, rejections listed beneath, a summary, exit codes 0/1/2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ioc.cli import main

from .conftest import BAD, GOOD


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["ingest", *argv])
    except SystemExit as exit_:
        code = int(exit_.code)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_all_loaded_exits_0_with_one_line_per_file_and_a_summary(data_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "--data-dir", str(data_dir), str(GOOD))
    assert code == 0
    lines = out.splitlines()
    assert lines[:5] == [
        "schools_2025-07-01.csv: loaded 3 rows (3 new or changed, 0 replaced)",
        "attendance_2026-11-23.csv: loaded 3 rows (0 replaced)",
        "attendance_2026-11-24_bom.csv: loaded 1 rows (0 replaced)",
        "digital_2026-11-01.csv: loaded 2 rows (0 replaced)",
        "connectivity_2026-11-23.csv: loaded 4 rows (0 replaced)",
    ]
    assert (
        "  WARNING attendance_2026-11-24_bom.csv: 1 column(s) not part of the attendance contract were left out: 'note'"
        in lines
    )
    assert lines[-1] == "5 file(s): 5 loaded, 0 unchanged, 0 rejected, 0 failed; 13 rows loaded (0 replaced)"
    code, out, _ = run(capsys, "--data-dir", str(data_dir), str(GOOD))
    assert code == 0
    assert (
        out.splitlines()[-1]
        == "5 file(s): 0 loaded, 5 unchanged, 0 rejected, 0 failed; 0 rows loaded (0 replaced)"
    )


def test_any_rejection_exits_1_and_lists_the_reasons(data_dir: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(GOOD / "schools_2025-07-01.csv", folder)
    shutil.copy(BAD / "attendance_present_over_enrolled.csv", folder)
    code, out, _ = run(capsys, "--data-dir", str(data_dir), str(folder))
    assert code == 1
    assert out.splitlines() == [
        "schools_2025-07-01.csv: loaded 3 rows (3 new or changed, 0 replaced)",
        "attendance_present_over_enrolled.csv: rejected, nothing loaded (1 problem(s) in 1 row(s))",
        "",
        "attendance_present_over_enrolled.csv:",
        "  attendance_present_over_enrolled.csv: row 3, column present: value '120' breaks rule present <= enrolled (enrolled is 110)",
        "",
        "2 file(s): 1 loaded, 0 unchanged, 1 rejected, 0 failed; 3 rows loaded (0 replaced)",
    ]


def test_json_output(data_dir: Path, capsys) -> None:
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "--format",
        "json",
        str(GOOD / "schools_2025-07-01.csv"),
        str(BAD / "attendance_unknown_school.csv"),
    )
    assert code == 1
    report = json.loads(out)
    assert [(f["file"], f["status"]) for f in report["files"]] == [
        ("schools_2025-07-01.csv", "loaded"),
        ("attendance_unknown_school.csv", "rejected"),
    ]
    assert report["files"][1]["rejections"][0]["rule"] == "school_id exists in schools"
    assert report["summary"]["rejected"] == 1


def test_dataset_option_reads_any_file_name(data_dir: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "truong_hoc.csv"
    shutil.copy(GOOD / "schools_2025-07-01.csv", path)
    code, out, _ = run(
        capsys,
        "--data-dir",
        str(data_dir),
        "--dataset",
        "schools",
        "--effective-date",
        "2025-09-05",
        str(path),
    )
    assert code == 0, out
    from ioc.store import open_store

    assert (
        open_store(data_dir).execute("SELECT DISTINCT valid_from FROM schools").rows[0][0].isoformat()
        == "2025-09-05"
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["/no/such/file.csv"], "no such file or folder: /no/such/file.csv"),
        (
            ["--effective-date", "05/09/2025", "FIXTURE"],
            "--effective-date '05/09/2025' is not a date YYYY-MM-DD",
        ),
    ],
)
def test_usage_errors_exit_2(data_dir: Path, capsys, argv: list[str], error: str) -> None:
    argv = [str(GOOD / "schools_2025-07-01.csv") if a == "FIXTURE" else a for a in argv]
    code, _, err = run(capsys, "--data-dir", str(data_dir), *argv)
    assert code == 2
    assert f"ioc ingest: error: {error}" in err


def test_folder_without_data_files_exits_2(data_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing")
    code, _, err = run(capsys, "--data-dir", str(data_dir), str(tmp_path / "empty"))
    assert code == 2
    assert "no data file found" in err
