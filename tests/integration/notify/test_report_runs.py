"""The record of scheduled reports on both database backends: a fire time is tried once per
attempt, a failure says why and waits its backoff, a report is never sent for a fire time long
past (the printing itself is tested with Chromium in tests/browser/test_reports.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ioc.notify.config import parse
from ioc.reports.weekly import last_fire_time, run_due, zone

DUE = datetime(2026, 12, 7, 7, 0, tzinfo=zone())  # a Monday, 07:00 in Ho Chi Minh City


def test_a_failed_report_says_why_and_waits_its_backoff(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOC_AUTH_REQUIRED", "true")
    config = parse(
        {
            "reports": [
                {
                    "name": "tuan",
                    "to": ["ld@sgddt.example.vn"],
                    "render_as": "nobody",
                    "schedule": "0 7 * * mon",
                }
            ]
        },
        "notify.toml",
    )
    assert run_due(db, config, tmp_path, now=DUE.timestamp() - 1).failed == []  # not yet due
    first = run_due(db, config, tmp_path, now=DUE.timestamp() + 5)
    assert first.failed == [
        "tuan: report 'tuan': the account 'nobody' it is rendered as does not exist (ioc users list)"
    ]
    assert run_due(db, config, tmp_path, now=DUE.timestamp() + 20).failed == []  # waits 30 s
    assert len(run_due(db, config, tmp_path, now=DUE.timestamp() + 40).failed) == 1
    [row] = db.query("SELECT status, attempts, last_error FROM report_runs")
    assert (row["status"], row["attempts"]) == ("pending", 2) and "does not exist" in row["last_error"]


def test_the_last_fire_time_within_the_catch_up_window() -> None:
    config = parse({"reports": [{"name": "tuan", "to": ["a@b.vn"], "schedule": "0 7 * * mon"}]}, "f")
    report = config.reports[0]
    assert last_fire_time(report, DUE.replace(hour=12, minute=59)) == DUE
    assert last_fire_time(report, DUE.replace(hour=13, minute=1)) is None  # more than 6 h late: skipped
    assert last_fire_time(report, DUE.replace(hour=6, minute=59)) is None
