"""The embedded (SQLite) catalog under a committing writer and several multi-threaded readers.

One writer process commits small loads in a loop for a bounded time; four reader processes, three
threads each, call ``data_version()`` (what every cached answer asks), ``ping()`` (readiness) and
KPI-like queries all the while. The load test found that this broke the catalog: readers got
"disk I/O error" after commits and once every reader died of SIGBUS. No reader nor the writer may
fail, crash, or see the data version or a count go back; every reader must end at the writer's
last version.

Run as a script it is one of those processes (``writer`` or ``reader``); pytest runs the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 25.0
READERS = 4
THREADS = 3
ROWS_PER_LOAD = 50


def writer(data_dir: str, out: str, start_flag: str, seconds: float) -> None:
    from ioc.store import Store

    store = Store(data_dir)
    while not Path(start_flag).exists():
        time.sleep(0.02)
    loads, errors, versions = 0, [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        n = loads

        def load(cur: object, n: int = n) -> None:
            cur.execute(  # type: ignore[attr-defined]
                "INSERT INTO stress_probe SELECT ?, i, random() FROM range(?) t(i)", [n, ROWS_PER_LOAD]
            )

        try:
            store.write(load)
            loads += 1
            versions.append(store.data_version())  # as `ioc ingest` does after each load
        except Exception as error:  # every error is a test failure, reported by the test
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.05)
    Path(out).write_text(json.dumps({"loads": loads, "errors": errors, "version": store.data_version()}))
    store.close()


def reader(data_dir: str, out: str, start_flag: str, stop_flag: str, name: str) -> None:
    from ioc.store import Store

    store = Store(data_dir, read_only=True)
    errors: list[str] = []
    versions: list[int] = []
    backwards: list[str] = []
    queries = [0]
    stop = threading.Event()

    def work(thread: int) -> None:
        last_version, last_rows = -1, -1
        calls = 0
        while not stop.is_set():
            calls += 1
            try:
                version = store.data_version()
                if version < last_version:
                    backwards.append(f"thread {thread}: version {last_version} -> {version}")
                last_version = version
                versions.append(version)
                if calls % 20 == 0:
                    store.ping()
                rows, _, _ = store.execute(
                    "SELECT count(*), count(DISTINCT load), avg(v) FROM stress_probe"
                ).rows[0]
                store.arrow(
                    "SELECT load, count(*), avg(v) FROM stress_probe GROUP BY load ORDER BY load DESC LIMIT 5"
                )
                if rows < last_rows:
                    backwards.append(f"thread {thread}: rows {last_rows} -> {rows}")
                last_rows = rows
                queries[0] += 1
            except Exception as error:  # every error is a test failure, reported by the test
                errors.append(f"{type(error).__name__}: {error}")
                time.sleep(0.05)

    Path(start_flag).parent.joinpath(f"ready-{name}").write_text("ready")
    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    while not Path(stop_flag).exists():
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    final = store.data_version()
    Path(out).write_text(
        json.dumps(
            {
                "errors": errors[:20],
                "error_count": len(errors),
                "backwards": backwards[:20],
                "distinct_versions": len(set(versions)),
                "calls": len(versions),
                "queries": queries[0],
                "final": final,
                "forced": store._sqlite_version(),
            }
        )
    )
    store.close()


def test_writer_and_threaded_readers_on_the_embedded_catalog(tmp_path: Path) -> None:
    from ioc.store import Store

    data_dir = tmp_path / "data"
    work = tmp_path / "work"
    work.mkdir()
    with Store(data_dir) as store:
        store.write(lambda cur: cur.execute("CREATE TABLE stress_probe (load INTEGER, i BIGINT, v DOUBLE)"))
    assert not store.location.is_postgres

    env = {**os.environ, "PYTHONPATH": str(ROOT), "IOC_CATALOG_URL": "", "IOC_DATA_PATH": ""}
    start, stop = work / "start", work / "stop"
    script = str(Path(__file__))

    def spawn(*args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, script, *args], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True
        )

    readers = [
        spawn("reader", str(data_dir), str(work / f"reader{i}.json"), str(start), str(stop), str(i))
        for i in range(READERS)
    ]
    writer_process = spawn("writer", str(data_dir), str(work / "writer.json"), str(start), str(SECONDS))
    try:
        deadline = time.monotonic() + 60
        while len(list(work.glob("ready-*"))) < READERS:
            assert time.monotonic() < deadline, "the readers did not start"
            assert all(p.poll() is None for p in readers), [p.stderr.read() for p in readers if p.stderr]
            time.sleep(0.05)
        start.write_text("go")
        writer_code = writer_process.wait(timeout=SECONDS + 120)
        stop.write_text("stop")
        reader_codes = [p.wait(timeout=120) for p in readers]
    finally:
        stop.write_text("stop")
        for p in [writer_process, *readers]:
            if p.poll() is None:
                p.kill()
                p.wait()

    def died(code: int) -> str:
        return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"

    problems = []
    if writer_code != 0:
        problems.append(f"writer {died(writer_code)}: {writer_process.stderr.read()[-2000:]}")  # type: ignore[union-attr]
    else:
        written = json.loads((work / "writer.json").read_text())
        if written["errors"]:
            problems.append(f"writer errors: {written['errors'][:5]}")
        assert written["loads"] >= 20, written  # enough commits happened while the readers read
    for i, code in enumerate(reader_codes):
        if code != 0:
            problems.append(f"reader {i} {died(code)}")
            continue
        report = json.loads((work / f"reader{i}.json").read_text())
        if report["error_count"] or report["backwards"]:
            problems.append(
                f"reader {i}: {report['error_count']} errors, e.g. {report['errors'][:3]}, "
                f"went back: {report['backwards'][:3]}"
            )
        elif writer_code == 0:
            assert report["final"] == written["version"], f"reader {i} ends at {report}"
            assert report["distinct_versions"] >= 10, report  # it saw the versions change under it
            assert report["queries"] >= 20, report
    assert not problems, "\n".join(problems)


def test_data_version_reads_through_duckdb_and_trusts_only_settled_stamps(
    tmp_path: Path, monkeypatch
) -> None:
    import pytest

    from ioc import store as store_module
    from ioc.store import Store, StoreError

    with Store(tmp_path / "data") as writer, Store(tmp_path / "data", read_only=True) as reader:
        writer.write(lambda cur: cur.execute("CREATE TABLE t (x INTEGER)"))
        before = reader.data_version()
        assert before == writer.data_version() == reader.ping()
        # a commit right after a read (same clock tick, maybe the same WAL size) is still seen
        writer.write(lambda cur: cur.execute("INSERT INTO t VALUES (1)"))
        assert reader.data_version() == before + 1 == reader.ping()

        # once the files have settled, an unchanged stamp answers without reading the catalog
        monkeypatch.setattr(store_module, "_RACY_STAMP_NS", 0)
        assert reader.data_version() == before + 1

        def no_read() -> int:
            raise AssertionError("read the catalog although nothing changed")

        monkeypatch.setattr(reader, "_sqlite_version", no_read)
        assert reader.data_version() == before + 1
        monkeypatch.undo()

        # the catalog gone: readiness names the setting
        catalog = reader.layout.catalog
        moved = catalog.with_name("moved.sqlite")
        catalog.rename(moved)
        try:
            with pytest.raises(StoreError, match="IOC_DATA_DIR: the catalog .* is gone"):
                reader.ping()
        finally:
            moved.rename(catalog)


def test_the_embedded_catalog_keeps_its_data_path(tmp_path: Path) -> None:
    import pytest

    from ioc.store import Store, StoreError

    Store(tmp_path / "data").close()
    with pytest.raises(StoreError, match="IOC_DATA_PATH: the catalog .* keeps its data files in"):
        Store(tmp_path / "data", data_path=str(tmp_path / "elsewhere"))
    Store(tmp_path / "data", read_only=True).close()  # the stored path: opens


if __name__ == "__main__":
    role, data_dir, out, *rest = sys.argv[1:]
    if role == "writer":
        writer(data_dir, out, rest[0], float(rest[1]))
    else:
        reader(data_dir, out, rest[0], rest[1], rest[2])
