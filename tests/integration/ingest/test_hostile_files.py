"""The hostile-file corpus: each file is rejected (or loaded) as the contract says, within 10 s and
500 MB, and a rejection leaves the store's data and its catalog as they were.

Each file is loaded by a fresh process (so its peak memory is its own, read from getrusage) into
one store holding the fixture schools and a day of attendance.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
GOOD = ROOT / "tests" / "fixtures" / "ingest" / "good"
HOSTILE = ROOT / "tests" / "fixtures" / "ingest" / "hostile"

_spec = importlib.util.spec_from_file_location("hostile_build", HOSTILE / "build.py")
assert _spec and _spec.loader
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

SECONDS = 10.0
PEAK_MB = 500.0

CHILD = """
import json, sys, time

def peak_mb():
    # VmHWM is this process's own peak (getrusage's maxrss survives exec: it would be pytest's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from ingest.load import ingest_file
from ioc.store import Store
store = Store(sys.argv[1])
clock = time.perf_counter()
result = ingest_file(store, sys.argv[2])
seconds = time.perf_counter() - clock
store.close()
print(json.dumps({
    "status": result.status, "rows": result.rows_loaded, "seconds": seconds,
    "peak_mb": peak_mb(),
    "messages": [r.message for r in result.rejections], "warnings": list(result.warnings),
}))
"""

DATA_TABLES = ("schools", "attendance", "digital", "connectivity")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ingest.load import ingest_file
    from ioc.store import Store

    path = tmp_path_factory.mktemp("hostile") / "data"
    store = Store(path)
    for name in ("schools_2025-07-01.csv", "attendance_2026-11-23.csv"):
        assert ingest_file(store, GOOD / name).status == "loaded"
    store.close()
    return path


def _all_rows(table: str) -> str:
    return f"SELECT * EXCLUDE (run_id) FROM lake.{table}"  # noqa: S608


def answers(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every data table and the attendance rate per school, as the KPIs read them."""
    from ioc.store import Store

    store = Store(data_dir, read_only=True)
    try:
        found = {t: sorted(map(tuple, store.execute(_all_rows(t)))) for t in DATA_TABLES}
        found["rate"] = list(
            store.execute(
                "SELECT school_id, sum(present) / sum(enrolled) FROM lake.attendance GROUP BY ALL ORDER BY 1"
            )
        )
        return found
    finally:
        store.close()


def data_bytes(data_dir: Path) -> tuple[int, int]:
    """(catalog bytes, bytes of the data tables' files)."""
    from ioc.store import Layout

    layout = Layout(data_dir)
    files = sum(
        f.stat().st_size
        for t in DATA_TABLES
        for f in layout.files.rglob("*")
        if f.is_file() and f"/{t}/" in str(f)
    )
    return layout.catalog.stat().st_size, files


def load(data_dir: Path, path: Path, **env: str) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "IOC_DATA_DIR": str(data_dir), **env},
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"{path.name}: {outcome['status']} in {outcome['seconds']:.2f} s, peak {outcome['peak_mb']:.0f} MB")
    return outcome


REJECTED: list[tuple[str, Callable[[Path], Path], dict[str, str], list[str]]] = [
    (
        "string bomb: one shared string of 300 MB, refused from the zip directory",
        lambda d: build.string_bomb(d / "schools_bomb.xlsx", 300_000_000),
        {},
        [
            "schools_bomb.xlsx: the workbook inflates to 286.1 MB (the biggest part, xl/sharedStrings.xml, "
            "to 286.1 MB), over the limit of 100.0 MB (IOC_MAX_XLSX_INFLATED_MB); refused before reading it: "
            "send big data as CSV or Parquet"
        ],
    ),
    (
        "string bomb under the inflated limit: a 5,000,000-character school name",
        lambda d: build.string_bomb(d / "schools_long_name.xlsx", 5_000_000),
        {},
        [
            "schools_long_name.xlsx: row 2, column school_name: value '"
            + "A" * 59
            + "…' breaks rule at most 1,000 characters (IOC_MAX_CELL_CHARS) (the cell holds 5,000,000 characters)"
        ],
    ),
    (
        "zip bomb: a sheet declaring 1 GB",
        lambda d: build.zip_bomb(d / "schools_zipbomb.xlsx", 1024),
        {},
        ["schools_zipbomb.xlsx: the workbook inflates to 1,024.0 MB"],
    ),
    (
        "zip bomb: 5,000 entries",
        lambda d: build.many_entries(d / "schools_entries.xlsx", 5000),
        {},
        [
            "schools_entries.xlsx: the workbook holds 5,006 files, over the limit of 1,000 (IOC_MAX_XLSX_ENTRIES); "
            "refused before reading it"
        ],
    ),
    (
        "zip lying about its sizes",
        lambda d: build.lying_sizes(d / "schools_liar.xlsx"),
        {},
        [
            "schools_liar.xlsx: cannot be read as an XLSX workbook: its zip archive is damaged or lies about its sizes"
        ],
    ),
    (
        "NUL inside a school name is shown, never cut",
        lambda d: HOSTILE / "schools_nul.csv",
        {},
        [
            "schools_nul.csv: row 2, column school_name: value 'Trường Bình\\x00Thường' breaks rule "
            "no control characters (tab is allowed) (contains \\x00)"
        ],
    ),
    (
        "control characters in a number and an id",
        lambda d: HOSTILE / "attendance_controls.csv",
        {},
        [
            "attendance_controls.csv: row 2, column present: value '7\\x0080' breaks rule no control characters "
            "(tab is allowed) (contains \\x00)",
            "attendance_controls.csv: row 4, column school_id: value 'S003\\x1b[2J' breaks rule no control "
            "characters (tab is allowed) (contains \\x1b)",
        ],
    ),
    (
        "a header line with no end (64 MB)",
        lambda d: build.endless_header(d / "schools_endless.csv", 64),
        {},
        [
            "schools_endless.csv: row 1: the header line is longer than 1,004,024 characters (IOC_MAX_COLUMNS "
            "columns of IOC_MAX_CELL_CHARS characters each)"
        ],
    ),
    (
        "a header name of 5,000 characters",
        lambda d: build.long_header_name(d / "attendance_long_header.csv", 5000),
        {},
        [
            "attendance_long_header.csv: row 1, column 5: the header name '"
            + "n" * 60
            + "…' (5,000 characters) breaks rule at most 1,000 characters (IOC_MAX_CELL_CHARS)"
        ],
    ),
    (
        "10,000 columns",
        lambda d: build.wide(d / "attendance_wide.csv", 9996),
        {},
        [
            "attendance_wide.csv: row 1: the header has 10,000 columns, over the limit of 1,000 columns per file "
            "(IOC_MAX_COLUMNS)"
        ],
    ),
    (
        "a 50 MB cell in a CSV line, refused as it is read",
        lambda d: build.long_cell_csv(d / "schools_long_line.csv", 50_000_000),
        {},
        [
            "schools_long_line.csv: row 2: the line holds 50,000,056 bytes, more than a row of 9 cells of at "
            "most 1,000 characters can (36,029 bytes)"
        ],
    ),
    (
        "a 5,000-character cell in a CSV",
        lambda d: build.long_cell_csv(d / "schools_long_cell.csv", 5000),
        {},
        [
            "schools_long_cell.csv: row 2, column school_name: value '"
            + "x" * 59
            + "…' breaks rule at most 1,000 characters (IOC_MAX_CELL_CHARS) (the cell holds 5,000 characters)"
        ],
    ),
    (
        "JSON nested 100,000 deep",
        lambda d: build.nested_json(d / "attendance_deep.json", 100_000),
        {},
        [
            "attendance_deep.json: cannot be read as JSON: its values are nested too deeply (records are flat objects)"
        ],
    ),
    (
        "a JSON record whose value is an object",
        lambda d: HOSTILE / "attendance_nested_record.json",
        {},
        [
            "attendance_nested_record.json: row 2, column school_id: the value is a JSON object, not a single value"
        ],
    ),
    (
        "more rows than IOC_MAX_ROWS",
        lambda d: build.wide(d / "attendance_2026-11-27.csv", 0, rows=3),
        {"IOC_MAX_ROWS": "2"},
        [
            "attendance_2026-11-27.csv: row 4: the file has 3 data rows, over the limit of 2 rows per file "
            "(IOC_MAX_ROWS)"
        ],
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "make", "env", "expected"), REJECTED, ids=[c[0] for c in REJECTED])
def test_hostile_file_is_rejected_quickly_and_leaves_the_store_as_it_was(
    data_dir: Path,
    tmp_path: Path,
    name: str,
    make: Callable[[Path], Path],
    env: dict[str, str],
    expected: list[str],
) -> None:
    path = make(tmp_path)
    before, (catalog_before, files_before) = answers(data_dir), data_bytes(data_dir)
    outcome = load(data_dir, path, **env)
    assert outcome["status"] == "rejected", outcome
    assert len(outcome["messages"]) == len(expected), outcome["messages"]
    for message, start in zip(outcome["messages"], expected, strict=True):
        assert message.startswith(start), message
        assert len(message) < 1000  # a message never carries the hostile value whole
    assert outcome["seconds"] < SECONDS, outcome
    assert outcome["peak_mb"] < PEAK_MB, outcome
    catalog_after, files_after = data_bytes(data_dir)
    assert answers(data_dir) == before
    assert files_after == files_before
    # the run-log row and its rejections are all a rejection writes
    assert catalog_after - catalog_before < 256 * 1024


@pytest.mark.slow
def test_a_million_empty_rows_under_a_header_load_nothing_quickly(data_dir: Path, tmp_path: Path) -> None:
    path = build.empty_rows(tmp_path / "attendance_empty_rows.xlsx", 1_000_000)
    before = answers(data_dir)
    outcome = load(data_dir, path)
    assert (outcome["status"], outcome["rows"]) == ("loaded", 0), outcome
    assert outcome["seconds"] < SECONDS and outcome["peak_mb"] < PEAK_MB, outcome
    assert answers(data_dir) == before


@pytest.mark.slow
def test_unknown_columns_are_summarised_in_one_short_warning(data_dir: Path, tmp_path: Path) -> None:
    outcome = load(data_dir, build.wide(tmp_path / "attendance_2026-11-26.csv", 600))
    assert outcome["status"] == "loaded", outcome
    assert outcome["warnings"] == [
        "attendance_2026-11-26.csv: 600 column(s) not part of the attendance contract were left out: "
        "'col_1', 'col_2', 'col_3', 'col_4', 'col_5' and 595 more"
    ]
