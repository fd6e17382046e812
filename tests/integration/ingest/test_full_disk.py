"""A store on a small disk (a 30 MB tmpfs, mounted by the test: CI runs as root): it can be
created, a full disk fails a load in one line and leaves no file behind, and once space is freed
the next run loads the file and archives an exact copy. Without root, tests/unit/ingest/
test_archive.py injects the same ENOSPC."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import subprocess
from pathlib import Path

import pytest

from ingest.load import ingest_file
from ioc.store import Store

GOOD = Path(__file__).resolve().parents[2] / "fixtures" / "ingest" / "good"


def _used(path: Path) -> int:
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize


def _fill(folder: Path, leave: int) -> Path:
    """Fill the disk of ``folder`` up, then free ``leave`` bytes of it."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * (1 << 20))
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC
    with filler.open("r+b") as handle:
        handle.truncate(max(0, filler.stat().st_size - leave))
    return filler


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(data_dir)], capture_output=True, text=True
    )
    assert mounted.returncode == 0, f"this test mounts a tmpfs and needs root: {mounted.stderr}"
    monkeypatch.setenv("IOC_DATA_DIR", str(data_dir))
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(data_dir)], capture_output=True)


def test_a_store_on_a_30_mb_disk_survives_a_full_disk_while_archiving(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(small_disk)
    # created, with no copy of the DuckDB extensions (68 MB before, more than the disk)
    assert not (small_disk / "extensions").exists()
    assert _used(small_disk) < 5 << 20
    assert ingest_file(store, GOOD / "schools_2025-07-01.csv").status == "loaded"

    # a 3 MB file: the disk has room for half of it
    source = tmp_path / "connectivity_2026-11-23.csv"
    rows = ["measured_at,school_id,download_mbps,upload_mbps,latency_ms,online"]
    rows += [
        f"2026-11-23T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+07:00,S00{1 + i // 86400},"
        f"{20 + i % 50}.5,{5 + i % 7}.25,{10 + i % 30}.125,true"
        for i in range(3 * 86400 // 4)
    ]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    size = source.stat().st_size
    assert size > 2 << 20
    before = _files(small_disk)
    filler = _fill(small_disk, size // 2)

    with caplog.at_level(logging.WARNING):
        failed = ingest_file(store, source)
    assert failed.status == "failed"
    (message,) = [r.message for r in failed.rejections]
    assert "No space left on device writing" in message and "\n" not in message, message
    assert not [r for r in caplog.records if r.exc_info], "a full disk is one line, not a traceback"
    # nothing of the run stayed on the disk: no temporary file, no half copy
    new = _files(small_disk) - before - {"filler", "logs/ingest.log"}
    # the failed run's own record (run log, rejections) is all it may add, and its marker, which
    # hands whatever it half wrote to the next maintenance
    marker = f"runs/interrupted/{failed.run_id}.json"
    assert marker in new
    new.discard(marker)
    assert all(f.startswith(("lake/files/main/ingest_runs/", "lake/files/main/rejections/")) for f in new), (
        new
    )
    assert not [p for p in (small_disk / "archive" / "connectivity").rglob("*") if p.is_file()]

    filler.unlink()  # space comes back: the next run completes
    loaded = ingest_file(store, source)
    assert (loaded.status, loaded.rows_loaded) == ("loaded", len(rows) - 1), loaded
    assert loaded.archive_path is not None
    archived = Path(loaded.archive_path)
    assert (
        hashlib.sha256(archived.read_bytes()).hexdigest() == hashlib.sha256(source.read_bytes()).hexdigest()
    )
    assert store.execute("SELECT count(*) FROM connectivity").scalar() == len(rows) - 1
    store.close()
