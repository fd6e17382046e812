"""The drop folder through `ioc scheduler --once` (a real process): loads, reason files, partial
files left alone, re-sent files never duplicated, idle runs leave the store's version alone."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ingest.jobs import default_config, parse_config
from ingest.scheduler import JobRunner
from ioc.metrics import health
from ioc.store import Store


def test_once_loads_moves_and_explains(data_dir: Path, helpers: Any) -> None:
    h = helpers
    inbox = data_dir / "inbox"
    inbox.mkdir(parents=True)
    h.age(h.write_schools(inbox / "schools_2025-09-05.csv", 30))
    h.age(h.write_attendance(inbox / "attendance_2026-11-23.csv", date(2026, 11, 23), 30))
    h.age(h.write_attendance(inbox / "attendance_2026-11-24.csv", date(2026, 11, 24), 30, present=101))
    (inbox / "attendance_2026-11-25.csv.part").write_text("date,school_id\n2026-11-25,S0", encoding="utf-8")
    fresh = h.write_attendance(inbox / "attendance_2026-11-26.csv", date(2026, 11, 26), 30)  # just written

    config = data_dir.parent / "jobs.toml"
    config.write_text(
        '[[jobs]]\nid = "inbox"\nkind = "drop_folder"\nschedule = "30s"\nsettle = "30s"\nstable_wait = "0.2s"\n',
        encoding="utf-8",
    )
    done = h.run_ioc("scheduler", "--once", "--config", str(config), data_dir=data_dir)
    assert done.returncode == 1, done.stderr  # something was rejected, like `ioc ingest`
    assert "attendance_2026-11-24.csv: rejected" in done.stdout

    assert sorted(p.name for p in (inbox / "done").iterdir()) == [
        "attendance_2026-11-23.csv",
        "schools_2025-09-05.csv",
    ]
    rejected = inbox / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "attendance_2026-11-24.csv",
        "attendance_2026-11-24.csv.reason.txt",
    ]
    reason = (rejected / "attendance_2026-11-24.csv.reason.txt").read_text(encoding="utf-8")
    assert (
        "attendance_2026-11-24.csv: row 2, column present: value '101' breaks rule present <= enrolled"
        in reason
    )
    assert "30 problem(s) in 30 row(s)" in reason
    # a file still being written is not touched
    assert (inbox / "attendance_2026-11-25.csv.part").exists() and fresh.exists()

    with Store(data_dir, read_only=True) as store:
        assert store.execute("SELECT count(*), sum(present) FROM attendance").rows == [(30, 2700)]
        source = {s["source"]: s for s in health.sources(store)}["inbox"]
        assert source["runs_loaded"] == 2 and source["runs_rejected"] == 1 and not source["failing"]
        assert source["pending_files"] == 2
        runs = health.job_runs(store, job_id="inbox")
        assert [(r["status"], r["items_loaded"], r["items_rejected"], r["rows_loaded"]) for r in runs] == [
            ("partial", 2, 1, 60)
        ]

    # the fresh file settles; the same bytes dropped again are "unchanged", never loaded twice
    h.age(fresh)
    (inbox / "attendance_2026-11-23.csv").write_bytes(
        (inbox / "done" / "attendance_2026-11-23.csv").read_bytes()
    )
    h.age(inbox / "attendance_2026-11-23.csv")
    again = h.run_ioc("scheduler", "--once", "--config", str(config), data_dir=data_dir)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "attendance_2026-11-23.csv: unchanged" in again.stdout
    with Store(data_dir, read_only=True) as store:
        assert store.execute("SELECT date, count(*) FROM attendance GROUP BY 1 ORDER BY 1").rows == [
            (date(2026, 11, 23), 30),
            (date(2026, 11, 26), 30),
        ]
    done_names = sorted(p.name for p in (inbox / "done").iterdir())
    assert len(done_names) == 4 and "attendance_2026-11-26.csv" in done_names


def test_idle_runs_do_not_move_the_data_version(seeded: Store) -> None:
    runner = JobRunner(seeded, default_config(seeded.layout.root), echo=lambda line: None)
    runner.run_job("inbox")
    version = seeded.data_version()
    for _ in range(3):
        assert runner.run_job("inbox").status == "idle"
    assert seeded.data_version() == version
    status = health.scheduler_status(seeded)
    assert status["jobs"]["inbox"]["last_status"] == "idle"
    assert status["running"] is False


def test_maintenance_job_compacts_and_prunes(seeded: Store) -> None:
    import os
    import time

    inbox = seeded.layout.inbox
    (inbox / "done").mkdir(parents=True)
    old = inbox / "done" / "attendance_2020-01-01.csv"
    old.write_text("x")
    long_ago = time.time() - 400 * 86400
    os.utime(old, (long_ago, long_ago))
    runner = JobRunner(seeded, default_config(seeded.layout.root), echo=lambda line: None)
    outcome = runner.run_job("maintenance")
    assert outcome.status == "success", outcome.message
    assert "1 file(s) older than 180 days pruned" in outcome.message
    assert not old.exists()
    assert [r["status"] for r in health.job_runs(seeded, job_id="maintenance")] == ["success"]


def test_a_file_that_keeps_failing_is_moved_aside_but_a_full_disk_never_rejects(
    seeded: Store, helpers: Any, monkeypatch: Any
) -> None:
    import errno

    import ingest.sources  # the drop folder's loader calls ingest_file from here

    inbox = seeded.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    odd = helpers.age(helpers.write_attendance(inbox / "attendance_2026-11-23.csv", date(2026, 11, 23), 40))
    config = parse_config(
        {"jobs": [{"id": "inbox", "kind": "drop_folder", "schedule": "1m", "settle": 0, "stable_wait": 0}]},
        seeded.layout.root,
    )
    runner = JobRunner(seeded, config, echo=lambda line: None)

    def full_disk(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ingest.sources, "ingest_file", full_disk)
    for _ in range(7):
        assert runner.run_job("inbox").status == "failed"
    assert odd.exists()  # the environment is to blame: the file waits as long as it takes

    def bug(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("unexpected state in the reader")

    monkeypatch.setattr(ingest.sources, "ingest_file", bug)
    for _ in range(4):
        runner.run_job("inbox")
        assert odd.exists()
    outcome = runner.run_job("inbox")  # the fifth failure of the same file
    assert outcome.status == "failed" and outcome.items_rejected == 1
    assert not odd.exists()
    reason = (inbox / "rejected" / "attendance_2026-11-23.csv.reason.txt").read_text(encoding="utf-8")
    assert "could not be loaded in 5 attempts" in reason and "unexpected state in the reader" in reason
    state = {s["source"]: s for s in health.sources(seeded)}["inbox"]
    assert state["failing"] and state["consecutive_failures"] == 12
