"""The scheduler evaluates the alert rules after every load that loaded rows, only the rules whose
data changed, and never when a run loaded nothing; ingestion itself never imports ioc.alerts."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCHOOLS = """school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,students,teachers,classrooms
H1,Trường Một,primary,public,26734,Phường Sài Gòn,760,Quận 1,400,20,12
H2,Trường Hai,primary,public,26734,Phường Sài Gòn,760,Quận 1,300,15,10
H3,Trường Ba,primary,public,27487,Phường Tân Mỹ,778,Quận 7,500,25,14
"""


def drop(path: Path, text: str) -> None:
    """A file in the drop folder, written a minute ago (settled: the scheduler takes it)."""
    path.write_text(text, encoding="utf-8")
    past = time.time() - 60
    os.utime(path, (past, past))


def attendance(day: str, present: int = 380) -> str:
    return f"date,school_id,enrolled,present\n{day},H1,400,{present}\n{day},H2,300,290\n{day},H3,500,480\n"


def test_after_each_load_the_changed_rules_are_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from ingest.jobs import default_config
    from ingest.scheduler import JobRunner
    from ioc.alerts.evaluate import after_load
    from ioc.store import Store

    monkeypatch.setenv("IOC_AUTH_DATABASE_URL", "sqlite")
    store = Store(tmp_path / "data")
    calls = []

    def hook(s: Store) -> None:
        calls.append(after_load(s))

    runner = JobRunner(store, default_config(store.layout.root), echo=lambda line: None, after_load=hook)
    inbox = store.layout.inbox
    inbox.mkdir(parents=True, exist_ok=True)
    drop(inbox / "schools_2026-11-01.csv", SCHOOLS)
    drop(inbox / "attendance_2026-11-23.csv", attendance("2026-11-23"))
    assert runner.run_job("inbox").rows_loaded > 0
    assert runner.wait_after_load(60)  # the hook runs on its own thread: the job did not wait for it
    assert len(calls) == 1 and calls[0] is not None
    assert calls[0].days[-1].isoformat() == "2026-11-23"
    assert set(calls[0].findings) >= {"attendance_drop", "attendance_missing"}
    assert runner.run_job("inbox").status == "idle"
    assert runner.wait_after_load(60)
    assert len(calls) == 1  # nothing loaded: nothing evaluated
    drop(inbox / "attendance_2026-11-24.csv", attendance("2026-11-24"))
    runner.run_job("inbox")
    assert runner.wait_after_load(60)
    assert len(calls) == 2 and calls[1].days[-1].isoformat() == "2026-11-24"
    assert calls[1].skipped == []  # a new school day: every rule
    drop(inbox / "attendance_2026-11-24_resent.csv", attendance("2026-11-24", present=300))
    runner.run_job("inbox")
    assert runner.wait_after_load(60)
    assert len(calls) == 3
    assert calls[2].skipped == ["school_offline"]  # no probe changed: the outage rule did not run
    assert "attendance_drop" in calls[2].findings
    store.close()


def test_ioc_scheduler_passes_the_evaluation_and_ingest_does_not_import_alerts(
    monkeypatch: pytest.MonkeyPatch,
):
    from ingest import scheduler
    from ioc import scheduling
    from ioc.alerts.evaluate import after_load
    from ioc.auth.ingestion import record_ingest

    seen = {}

    def run(args: argparse.Namespace, after_load=None, audit=None) -> int:
        seen.update(hook=after_load, audit=audit)
        return 0

    monkeypatch.setattr(scheduler, "run", run)
    scheduling.run(argparse.Namespace())
    assert seen["hook"] is after_load and seen["audit"] is record_ingest
    code = "import sys, ingest.scheduler, ingest.load, ingest.cli; print(any(m.startswith('ioc.alerts') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
