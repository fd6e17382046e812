"""Faults, with real processes and real files: kill -9 in the middle of a load, a full disk,
readers during loads, a second scheduler, missed runs."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.jobs import parse_config
from ingest.scheduler import JobRunner
from ioc.metrics import health
from ioc.store import Store

FAST_INBOX = """
[[jobs]]
id = "inbox"
kind = "drop_folder"
schedule = { every = "1s" }
settle = "0s"
stable_wait = "0.1s"
"""


def parquet_files(store: Store, table: str) -> set[str]:
    folder = store.layout.files / "main" / table
    return {p.name for p in folder.glob("*.parquet")} if folder.exists() else set()


def test_kill_9_in_the_middle_of_a_load_loses_nothing(
    seeded: Store, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = helpers
    inbox = seeded.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    before_files = parquet_files(seeded, "connectivity")
    # the previous data: one day of attendance
    h.age(h.write_attendance(inbox / "attendance_2026-11-23.csv", date(2026, 11, 23), 40))
    config = h.write_config(seeded.layout.root.parent / "jobs.toml", FAST_INBOX)
    assert (
        h.run_ioc("scheduler", "--once", "--config", str(config), data_dir=seeded.layout.root).returncode == 0
    )
    runs = seeded.execute("SELECT * FROM ingest_runs ORDER BY run_id").rows

    staging = seeded.layout.root.parent / "connectivity_big.parquet"
    rows = h.big_connectivity(staging, 40, 7_500)  # 300,000 probes
    os.replace(staging, inbox / staging.name)  # appears whole, as a drop should
    with h.Process("scheduler", "--config", str(config), data_dir=seeded.layout.root) as scheduler:
        scheduler.wait_for("inbox: loading connectivity_big.parquet")
        # the load is in its transaction once its Parquet files appear: stop it right there
        # (run in 2 ms slices, so it cannot commit between two looks) and kill it
        h.freeze_when(scheduler.popen.pid, lambda: bool(parquet_files(seeded, "connectivity") - before_files))
        scheduler.popen.send_signal(signal.SIGKILL)
        assert scheduler.popen.wait(30) == -signal.SIGKILL

    # the store opens in another process, with the previous data exactly as it was
    with Store(seeded.layout.root, read_only=True) as reader:
        # nothing of the load committed; the scheduler itself may have recorded a run it skipped
        # meanwhile (job_runs), which is its bookkeeping, not data
        assert reader.execute("SELECT * FROM ingest_runs ORDER BY run_id").rows == runs
        assert reader.execute("SELECT count(*) FROM connectivity").scalar() == 0
        assert reader.execute("SELECT count(*), sum(present) FROM attendance").rows == [(40, 3600)]
    orphans = parquet_files(seeded, "connectivity") - before_files
    assert orphans  # the killed load left orphans behind...
    assert (inbox / "connectivity_big.parquet").exists()  # ...and its file in the inbox
    assert len(list((seeded.layout.root / "runs").glob("*.json"))) == 1  # and its marker, unlocked

    # the next run completes it: every row once
    again = h.run_ioc(
        "scheduler", "--once", "--config", str(config), data_dir=seeded.layout.root, timeout=300
    )
    assert again.returncode == 0, again.stdout + again.stderr
    with Store(seeded.layout.root, read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM connectivity").scalar() == rows
        assert (
            reader.execute(
                "SELECT count(*) FROM (SELECT DISTINCT measured_at, school_id FROM connectivity)"
            ).scalar()
            == rows
        )
        assert reader.execute("SELECT count(*) FROM attendance").scalar() == 40
    assert (inbox / "done" / "connectivity_big.parquet").exists()
    # the restart found the killed run: interrupted, in the run log and the audit log
    with Store(seeded.layout.root, read_only=True) as reader:
        interrupted = reader.execute(
            "SELECT run_id, file_name, rows_loaded, message FROM ingest_runs WHERE status = 'interrupted'"
        ).rows
    assert [(name, loaded) for _, name, loaded, _ in interrupted] == [("connectivity_big.parquet", 0)]
    assert interrupted[0][3].startswith("interrupted: the process loading this file stopped")
    from ioc.auth.audit import entries
    from ioc.auth.db import open_db

    audited = [
        e for e in entries(open_db(seeded.layout.root), event="ingest") if interrupted[0][0] in e.detail
    ]
    assert [(e.outcome, e.target) for e in audited] == [("failed", "connectivity_big.parquet")]
    assert "interrupted" in audited[0].detail
    # and data health names it as the dataset's last failure, with its reason
    from ioc.metrics import health

    with Store(seeded.layout.root, read_only=True) as reader:
        connectivity = {f.dataset: f for f in health.freshness(reader)}["connectivity"]
    assert connectivity.last_failure is not None
    assert connectivity.reason and "interrupted: the process loading this file stopped" in connectivity.reason

    # the next maintenance removes the killed run's orphans at once, not after a day, and says so
    from ingest import runs

    monkeypatch.setattr(runs, "GUARD", timedelta(0))  # no other writer here to wait for
    store = Store(seeded.layout.root)
    config = parse_config(
        {"jobs": [{"id": "maintenance", "kind": "maintenance", "schedule": "0 3 * * *", "compact": False}]},
        seeded.layout.root,
    )
    outcome = JobRunner(store, config, echo=lambda line: None).run_job("maintenance")
    assert outcome.status == "success", outcome.message
    found = re.search(r"(\d+) orphan file\(s\) of 1 interrupted run\(s\) removed", outcome.message)
    assert found and int(found[1]) >= len(orphans), outcome.message  # the rollups' files count too
    assert not orphans & parquet_files(store, "connectivity")
    assert not list((seeded.layout.root / "runs").rglob("*.json"))
    assert store.execute("SELECT count(*) FROM connectivity").scalar() == rows
    store.close()


def _mount_tmpfs(folder: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return result.returncode == 0


def test_full_disk_fails_cleanly_and_the_next_run_completes(
    data_dir: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With root: the data files live on a 4 MB tmpfs that the load overflows (ENOSPC). Without
    root (CI as a user): the data files' folder is made read-only (EACCES). Both are real OS errors
    in the middle of writing the load's Parquet files."""
    h = helpers
    files = data_dir / "lake" / "files"
    files.mkdir(parents=True)
    mounted = _mount_tmpfs(files, "4m")
    try:
        store = Store(data_dir)
        assert h.ingest_schools(store, 40)
        inbox = store.layout.inbox
        inbox.mkdir(parents=True, exist_ok=True)
        h.age(h.write_attendance(inbox / "attendance_2026-11-23.csv", date(2026, 11, 23), 40))
        config = parse_config(
            {
                "jobs": [
                    {"id": "inbox", "kind": "drop_folder", "schedule": "1m", "settle": 0, "stable_wait": 0}
                ]
            },
            data_dir,
        )
        runner = JobRunner(store, config, echo=lambda line: None)
        assert runner.run_job("inbox").status == "success"
        version = store.data_version()

        rows = h.big_connectivity(inbox / "connectivity_big.parquet", 40, 7_500)
        h.age(inbox / "connectivity_big.parquet")
        locked = files / "main" / "connectivity"
        if not mounted:
            locked.mkdir(parents=True, exist_ok=True)
            locked.chmod(0o555)
        outcome = runner.run_job("inbox")
        assert outcome.status == "failed"
        expected = "No space left on device" if mounted else "Permission denied"
        assert expected.lower() in outcome.message.lower()
        assert (inbox / "connectivity_big.parquet").exists()  # kept for the next run

        # the store still opens, in another process, with the data as it was
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from ioc.store import Store; s = Store(sys.argv[1], read_only=True); "
                "print(s.data_version(), s.execute('SELECT count(*) FROM connectivity').scalar(), "
                "s.execute('SELECT count(*) FROM attendance').scalar())",
                str(data_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert probe.returncode == 0, probe.stderr
        seen_version, probes, attendance = map(int, probe.stdout.split())
        assert (probes, attendance) == (0, 40) and seen_version >= version
        state = {s["source"]: s for s in health.sources(store)}["inbox"]
        assert state["failing"] and expected.lower() in state["reason"].lower()

        # space comes back: the next run completes the load, once
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=200m", str(files)], check=True)
        else:
            locked.chmod(0o755)
        assert runner.run_job("inbox").status == "success"
        assert store.execute("SELECT count(*) FROM connectivity").scalar() == rows
        assert not {s["source"]: s for s in health.sources(store)}["inbox"]["failing"]
        if mounted:
            # the run that hit the full disk handed what it half wrote to the next maintenance,
            # which removes it at once, whatever its age
            from ingest import runs
            from ingest.jobs import run_maintenance

            monkeypatch.setattr(runs, "GUARD", timedelta(0))
            spec = (
                parse_config(
                    {"jobs": [{"id": "m", "kind": "maintenance", "schedule": "1h", "compact": False}]},
                    data_dir,
                )
                .jobs[0]
                .options
            )
            done = run_maintenance(store, spec)
            assert "of 1 interrupted run(s) removed" in done.message, done.message
            left = store.execute(
                "SELECT count(*) FROM ducklake_delete_orphaned_files('lake', dry_run => true, older_than => now())"
            ).scalar()
            assert left == 0
        store.maintain()
        store.close()
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(files)], capture_output=True)


READER = r"""
import json, sys, time
from datetime import date
from ioc.metrics.front import Metrics
from ioc.metrics.query import KpiQuery
from ioc.store import Store
store = Store(sys.argv[1], read_only=True)
first, last = date(2026, 11, 2), date(2026, 11, 21)
expected_days, schools = int(sys.argv[2]), int(sys.argv[3])
seen, problems, versions = set(), [], []
deadline = time.monotonic() + 240
while time.monotonic() < deadline:
    version = store.data_version()
    rows = store.execute(
        "SELECT date, count(*), sum(present), sum(enrolled) FROM attendance GROUP BY date ORDER BY date").rows
    for day, n, present, enrolled in rows:
        k = day.day
        if n != schools or present != (60 + k) * schools or enrolled != 100 * schools:
            problems.append([str(day), n, present, enrolled])
    # the metrics layer (what the app shows) answers with whole days too
    kpi = Metrics(store, cached=False).answer(KpiQuery("attendance_rate", by="date", date_from=first, date_to=last))
    for row in kpi.rows:
        if row.value is not None and (row.schools_reporting != schools
                                      or abs(row.value - (60 + int(row.key[-2:])) / 100) > 1e-9):
            problems.append(["kpi", row.key, row.value, row.schools_reporting])
    if versions and version < versions[-1]:
        problems.append(["version went back", versions[-1], version])
    versions.append(version)
    seen.add(len(rows))
    if len(rows) == expected_days:
        break
print(json.dumps({"seen": sorted(seen), "problems": problems[:10], "reads": len(versions)}))
"""


def test_readers_see_only_whole_commits_while_loads_run(seeded: Store, helpers: Any) -> None:
    h = helpers
    inbox = seeded.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    config = h.write_config(seeded.layout.root.parent / "jobs.toml", FAST_INBOX)
    days = [date(2026, 11, d) for d in range(2, 22)]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(seeded.layout.root), str(len(days)), "40"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with h.Process("scheduler", "--config", str(config), data_dir=seeded.layout.root) as scheduler:
        scheduler.wait_for("ioc scheduler: started")
        for day in days:  # files keep arriving while the scheduler loads them
            staging = seeded.layout.root.parent / f"attendance_{day.isoformat()}.csv"
            h.write_attendance(staging, day, 40, present=60 + day.day)
            os.replace(staging, inbox / staging.name)
            time.sleep(0.2)
        out, err = reader.communicate(timeout=300)
        assert scheduler.stop(signal.SIGTERM) == 0
    assert reader.returncode == 0, err
    report = json.loads(out)
    assert report["problems"] == []
    assert report["seen"][-1] == len(days)
    assert len(report["seen"]) > 2  # the reader really read between commits
    assert seeded.execute("SELECT count(*) FROM attendance").scalar() == 40 * len(days)


def test_a_second_scheduler_cannot_start(seeded: Store, helpers: Any) -> None:
    h = helpers
    config = h.write_config(seeded.layout.root.parent / "jobs.toml", FAST_INBOX)
    with h.Process("scheduler", "--config", str(config), data_dir=seeded.layout.root) as first:
        first.wait_for("ioc scheduler: started")
        assert health.scheduler_status(seeded)["running"] is True
        second = h.run_ioc("scheduler", "--once", "--config", str(config), data_dir=seeded.layout.root)
        assert second.returncode == 1
        lock = seeded.layout.root / "scheduler.lock"
        assert f"another scheduler (pid {first.popen.pid}) is running" in second.stderr
        assert str(lock) in second.stderr
        assert first.stop(signal.SIGTERM) == 0
        assert "ioc scheduler: stopped" in first.lines[-1]
    assert health.scheduler_status(seeded)["running"] is False
    assert (
        h.run_ioc("scheduler", "--once", "--config", str(config), data_dir=seeded.layout.root).returncode == 0
    )


def test_missed_and_skipped_runs_are_recorded(seeded: Store) -> None:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.schedulers.background import BackgroundScheduler

    config = parse_config(
        {"jobs": [{"id": "inbox", "kind": "drop_folder", "schedule": "30s"}]}, seeded.layout.root
    )
    # the scheduler was down for an hour: the runs it should have made are recorded as missed
    (seeded.layout.root / "scheduler.state.json").write_text(
        json.dumps(
            {"jobs": {"inbox": {"last_run": (datetime.now().astimezone() - timedelta(hours=1)).isoformat()}}}
        )
    )
    runner = JobRunner(seeded, config, echo=lambda line: None)
    assert 115 <= runner.record_missed_while_down(config.jobs[0], datetime.now().astimezone()) <= 120

    # APScheduler's own events: a run due long ago (missed) and a run while the last still goes (skipped)
    release = threading.Event()
    scheduler = BackgroundScheduler(timezone="Asia/Ho_Chi_Minh")
    scheduler.add_listener(runner.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    scheduler.start()
    try:
        scheduler.add_job(
            lambda: None,
            "interval",
            hours=1,
            id="inbox",
            next_run_time=datetime.now().astimezone() - timedelta(minutes=10),
            misfire_grace_time=1,
        )
        h_wait = time.monotonic() + 30
        while (
            time.monotonic() < h_wait
            and not health.job_runs(seeded, status="skipped")
            and len(health.job_runs(seeded, status="missed")) < 2
        ):
            time.sleep(0.1)
        scheduler.remove_job("inbox")
        scheduler.add_job(
            release.wait,
            "interval",
            seconds=1,
            id="inbox",
            max_instances=1,
            args=[30],
            next_run_time=datetime.now().astimezone(),
        )
        h_wait = time.monotonic() + 30
        while time.monotonic() < h_wait and not health.job_runs(seeded, status="skipped"):
            time.sleep(0.1)
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    missed = health.job_runs(seeded, status="missed")
    assert any("missed while no scheduler was running" in r["message"] for r in missed)
    assert any("started too late and was skipped" in r["message"] for r in missed)
    skipped = health.job_runs(seeded, status="skipped")
    assert skipped and "the previous run is still going" in skipped[0]["message"]


@pytest.fixture
def demo_source(seeded: Store) -> Any:
    """The local demo HTTP source (ingest/demo_source.py) as a real process on a free port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ingest.demo_source",
            "--data-dir",
            str(seeded.layout.root),
            "--port",
            str(port),
            "--page-size",
            "100",
            "--backfill-minutes",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "IOC_SECTOR_API_TOKEN": "s3cr3t"},
        cwd=Path(__file__).resolve().parents[3],
    )
    assert process.stdout is not None
    assert "demo source:" in process.stdout.readline()
    yield process, port
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_live_scheduler_keeps_the_store_current(seeded: Store, helpers: Any, demo_source: Any) -> None:
    """Done-when: the scheduler keeps a store live from a drop folder and a local HTTP source,
    with nothing lost or duplicated, and the data-health record shows what happened."""
    h = helpers
    process, port = demo_source
    config = h.write_config(
        seeded.layout.root.parent / "jobs.toml",
        FAST_INBOX
        + f"""
[[jobs]]
id = "sector-api"
kind = "http_json"
url = "http://127.0.0.1:{port}/api/connectivity"
dataset = "connectivity"
token_env = "IOC_SECTOR_API_TOKEN"
schedule = {{ every = "2s" }}
timeout = "2s"
retries = 0
""",
    )
    inbox = seeded.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    env = {"IOC_SECTOR_API_TOKEN": "s3cr3t"}
    with h.Process("scheduler", "--config", str(config), data_dir=seeded.layout.root, env=env) as scheduler:
        scheduler.wait_for("ioc scheduler: started")
        # a slow writer: the file is written in pieces under a .part name, then renamed
        part = inbox / "attendance_2026-11-24.csv.part"
        h.write_attendance(part, date(2026, 11, 24), 40)
        text = part.read_text(encoding="utf-8")
        part.write_text(text[: len(text) // 2], encoding="utf-8")
        time.sleep(1.5)
        part.write_text(text, encoding="utf-8")
        os.replace(part, inbox / "attendance_2026-11-24.csv")
        h.write_attendance(inbox / "attendance_2026-11-25.csv", date(2026, 11, 25), 40)
        h.wait_until(
            lambda: len(list((inbox / "done").glob("*.csv"))) == 2 if (inbox / "done").exists() else False,
            90,
            "both files loaded",
        )
        h.wait_until(
            lambda: seeded.execute("SELECT count(*) FROM connectivity").scalar() > 0, 90, "probes pulled"
        )
        process.terminate()  # the HTTP source goes away
        process.wait(10)
        # a pull in flight when the source stops fails with "connection reset by peer"; the pulls
        # after it cannot connect at all, and that is what the record must end up saying
        h.wait_until(
            lambda: any(
                s["failing"] and "cannot connect" in (s["reason"] or "")
                for s in health.sources(seeded)
                if s["source"] == "sector-api"
            ),
            90,
            "the source marked failing: cannot connect",
        )
        assert scheduler.stop(signal.SIGTERM) == 0

    assert seeded.execute(
        "SELECT date, count(*), sum(present) FROM attendance GROUP BY 1 ORDER BY 1"
    ).rows == [
        (date(2026, 11, 24), 40, 3600),
        (date(2026, 11, 25), 40, 3600),
    ]
    probes, distinct, slots = seeded.execute(
        "SELECT count(*), count(DISTINCT (measured_at, school_id)), count(DISTINCT measured_at) FROM connectivity"
    ).rows[0]
    assert probes == distinct == slots * 40 and slots >= 6  # 30 minutes of backfill, every school, once
    sources = {s["source"]: s for s in health.sources(seeded)}
    assert sources["inbox"]["runs_loaded"] == 2 and not sources["inbox"]["failing"]
    assert sources["sector-api"]["failing"] and "cannot connect" in sources["sector-api"]["reason"]
    assert sources["sector-api"]["cursor"] is not None
    fresh = {f.dataset: f for f in health.freshness(seeded)}
    assert fresh["connectivity"].status == "fresh" and fresh["connectivity"].failing_sources == (
        "sector-api",
    )
    statuses = {(r["job_id"], r["status"]) for r in health.job_runs(seeded)}
    assert {("inbox", "success"), ("sector-api", "success"), ("sector-api", "failed")} <= statuses
    assert not (inbox / "attendance_2026-11-24.csv.part").exists()


def test_the_app_keeps_answering_consistently_while_loads_commit(seeded: Store, helpers: Any) -> None:
    """A real `ioc serve` process answers the KPI API during scheduled loads: always 200, every
    day whole (40 schools, its exact rate), data versions never going back."""
    import socket
    import urllib.request

    h = helpers
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = seeded.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    config = h.write_config(seeded.layout.root.parent / "jobs.toml", FAST_INBOX)
    days = [date(2026, 11, d) for d in range(2, 14)]
    url = f"http://127.0.0.1:{port}/api/v1/kpis/attendance_rate?by=date&from=2026-11-02&to=2026-11-13"

    def ask() -> dict[str, Any]:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - local test server
            assert response.status == 200
            return json.loads(response.read())

    with h.Process("serve", "--port", str(port), data_dir=seeded.layout.root) as app:

        def ready() -> bool:
            try:
                ask()
                return True
            except OSError:
                assert app.popen.poll() is None, "\n".join(app.lines)
                return False

        h.wait_until(ready, 120, "the app answering")
        with h.Process("scheduler", "--config", str(config), data_dir=seeded.layout.root) as scheduler:
            scheduler.wait_for("ioc scheduler: started")
            for day in days:
                staging = seeded.layout.root.parent / f"attendance_{day.isoformat()}.csv"
                h.write_attendance(staging, day, 40, present=60 + day.day)
                os.replace(staging, inbox / staging.name)
            answers = []
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                answer = ask()
                answers.append(answer)
                if len(answer["rows"]) == len(days):
                    break
            assert scheduler.stop(signal.SIGTERM) == 0
    versions = [a["data_version"] for a in answers]
    assert versions == sorted(versions)
    assert len({len(a["rows"]) for a in answers}) > 2  # answers came between commits
    assert len(answers[-1]["rows"]) == len(days)
    for answer in answers:
        for row in answer["rows"]:
            assert row["schools_reporting"] == 40, row
            assert abs(row["value"] - (60 + int(row["key"][-2:])) / 100) < 1e-9, row


def test_maintenance_while_another_process_loads_keeps_its_files(seeded: Store, helpers: Any) -> None:
    """The nightly maintenance job must not delete the Parquet files of a load still running in
    another process (`ioc ingest`): they are not in the catalog until that load commits."""
    h = helpers
    big = seeded.layout.root.parent / "connectivity_backfill.parquet"
    rows = h.big_connectivity(big, 40, 7_500)
    before = parquet_files(seeded, "connectivity")
    config = parse_config(
        {"jobs": [{"id": "maintenance", "kind": "maintenance", "schedule": "0 3 * * *"}]}, seeded.layout.root
    )
    runner = JobRunner(seeded, config, echo=lambda line: None)
    with h.Process("ingest", str(big), data_dir=seeded.layout.root) as loader:
        h.wait_until(
            lambda: parquet_files(seeded, "connectivity") - before, 120, "the load writing", poll=0.005
        )
        assert runner.run_job("maintenance").status == "success"
        assert loader.popen.wait(300) == 0, "\n".join(loader.lines)
    with Store(seeded.layout.root, read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM connectivity").scalar() == rows
        assert reader.execute("SELECT count(*) FROM connectivity WHERE download_mbps >= 0").scalar() == rows
