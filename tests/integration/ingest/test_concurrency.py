"""THE concurrency proof: one writer process loads files while three reader processes query.

No reader may fail, and every count a reader sees must be a whole number of files: a file's rows
appear all at once, when its transaction commits, never in part.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from ingest.load import ingest_file
from ioc.store import Store

ROOT = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("concurrency_worker.py")
SCHOOLS = 40
ROWS_PER_FILE = 4_000  # 100 probes per school per file
FILES = 6
READERS = 3


def make_files(folder: Path) -> list[Path]:
    con = duckdb.connect()
    school_header = (
        "school_id,school_name,level,ownership,ward_name,district_name,students,teachers,classrooms\n"
    )
    rows = "".join(
        f"C{i:03d},Trường {i},primary,public,Phường Sài Gòn,Quận 1,500,30,20\n" for i in range(SCHOOLS)
    )
    (folder / "schools_2025-07-01.csv").write_text(school_header + rows, encoding="utf-8")
    files = []
    for n in range(FILES):
        path = folder / f"connectivity_part{n}.csv"
        con.execute(
            f"""COPY (SELECT strftime(TIMESTAMP '2026-11-01' + INTERVAL 5 MINUTE * ({n} * 1000 + i // {SCHOOLS}),
                               '%Y-%m-%dT%H:%M:%S') AS measured_at,
                      'C' || lpad(CAST(i % {SCHOOLS} AS VARCHAR), 3, '0') AS school_id,
                      round(random() * 100, 1) AS download_mbps, 10 AS upload_mbps, 20 AS latency_ms,
                      'true' AS online
               FROM range({ROWS_PER_FILE}) t(i)) TO '{path}' (HEADER)"""  # noqa: S608
        )
        files.append(path)
    return files


def test_readers_never_see_part_of_a_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    work = tmp_path / "work"
    work.mkdir()
    files = make_files(work)
    with Store(data_dir) as store:
        assert ingest_file(store, work / "schools_2025-07-01.csv").status == "loaded"

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done_flag = work / "writer.json"
    readers = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "reader",
                str(data_dir),
                str(work / f"reader{i}.json"),
                str(done_flag),
                str(i),
            ],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(READERS)
    ]
    writer = subprocess.Popen(
        [
            sys.executable,
            str(WORKER),
            "writer",
            str(data_dir),
            str(done_flag),
            str(READERS),
            *map(str, files),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.wait(timeout=300) == 0, writer.stderr.read()
    for process in readers:
        assert process.wait(timeout=120) == 0, process.stderr.read()

    assert json.loads(done_flag.read_text()) == ["loaded"] * FILES
    for i in range(READERS):
        report = json.loads((work / f"reader{i}.json").read_text())
        assert report["errors"] == []
        seen = report["seen"]
        assert seen[0] == [0, 0]  # before the writer started
        assert seen[-1] == [FILES * ROWS_PER_FILE, FILES]  # after it finished
        for rows, runs in seen:
            assert rows == runs * ROWS_PER_FILE, f"reader {i} saw {rows} rows from {runs} files"
        counts = [rows for rows, _ in seen]
        assert counts == sorted(counts)  # a reader never goes back in time
        # the writer waited for every reader to see each file, so each saw every whole state
        assert sorted(set(counts)) == [n * ROWS_PER_FILE for n in range(FILES + 1)]
