"""The archive of originals: written to a temporary name, fsynced, verified, renamed; a full disk
fails the run in one line and leaves nothing behind; a copy with a wrong checksum is replaced."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import logging
from pathlib import Path

import pytest

from ingest import durable, runs
from ingest.load import ingest_file

from .conftest import GOOD

SOURCE = GOOD / "attendance_2026-11-23.csv"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def archived(store) -> list[Path]:
    return sorted(p for p in (store.layout.archive / "attendance").rglob("*") if p.is_file())


def test_a_full_disk_while_archiving_fails_in_one_line_leaves_nothing_and_the_next_run_loads(
    schools_store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(durable.os, "fsync", full)
    with caplog.at_level(logging.ERROR):
        result = ingest_file(schools_store, SOURCE)
    assert result.status == "failed"
    (message,) = [r.message for r in result.rejections]
    target = schools_store.layout.archive / "attendance" / f"{sha(SOURCE)[:16]}_{SOURCE.name}"
    assert message == (
        f"{SOURCE.name}: No space left on device writing {target}: nothing of this run was kept; "
        "free some space and it runs again"
    )
    assert not any(r.exc_info for r in caplog.records)  # one line, no traceback
    assert archived(schools_store) == []  # no temporary file, no half copy
    # whatever the run may have half written is the next maintenance's, whatever its age
    (pending,) = (schools_store.layout.root / "runs" / "interrupted").glob("*.json")
    assert pending.stem == result.run_id
    assert not list((schools_store.layout.root / "runs").glob("*.json"))
    assert schools_store.execute("SELECT count(*) FROM attendance").scalar() == 0

    monkeypatch.undo()
    again = ingest_file(schools_store, SOURCE)
    assert (again.status, again.rows_loaded) == ("loaded", 3)
    assert archived(schools_store) == [target] and sha(target) == sha(SOURCE)
    monkeypatch.setattr(runs, "GUARD", dt.timedelta(0))
    assert runs.remove_orphans(schools_store) == (0, 1)  # it left no data file; its marker goes
    assert not list((schools_store.layout.root / "runs").rglob("*.json"))


def test_an_archived_copy_with_a_wrong_checksum_is_replaced_on_the_next_send(schools_store) -> None:
    first = ingest_file(schools_store, SOURCE)
    assert first.status == "loaded" and first.archive_path
    target = Path(first.archive_path)
    target.write_bytes(SOURCE.read_bytes()[:20])  # cut short, as a full disk left it before
    again = ingest_file(schools_store, SOURCE)
    assert again.status == "unchanged"
    assert sha(target) == sha(SOURCE)
    assert archived(schools_store) == [target]


def test_a_copy_that_does_not_read_back_as_written_is_not_kept(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(b"x" * 1000)
    with pytest.raises(OSError, match="has SHA-256"):
        durable.copy_verified(source, tmp_path / "archive" / "a.csv", "0" * 64)
    assert [p.name for p in (tmp_path / "archive").iterdir()] == []
