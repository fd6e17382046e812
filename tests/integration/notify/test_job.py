"""The scheduler's notify job delivers the outbox of the store's data directory; the product's job
kinds (ioc/jobs.py) are in the built-in configuration once registered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.jobs import default_config
from ioc.auth.db import SqliteAuthDb
from ioc.jobs import run_notify, run_reports
from ioc.notify import enqueue
from tests.alert_events import flood
from tests.receivers import Mailbox


def test_the_notify_job_sends_and_reports_what_it_did(
    data_dir: Path, smtp: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "notify" in [j.kind for j in default_config(data_dir).jobs]
    assert run_notify(data_dir).status == "idle"  # nothing configured, nothing waiting

    (data_dir / "notify.toml").write_text(
        '[[contact_points]]\nname = "so"\ntype = "email"\nto = ["so@sgddt.example.vn"]\ngroup_wait = "0s"\n',
        encoding="utf-8",
    )
    enqueue(SqliteAuthDb(data_dir), flood(at=time.time()))
    outcome = run_notify(data_dir)
    assert (outcome.status, outcome.items_seen, outcome.items_loaded) == ("success", 10, 1)
    assert len(smtp.mails) == 1

    enqueue(SqliteAuthDb(data_dir), flood(at=time.time() + 1, transition="resolved"))
    smtp.stop()
    outcome = run_notify(data_dir)
    assert outcome.status == "failed" and "SMTP server 127.0.0.1" in outcome.details[0]

    (data_dir / "notify.toml").write_text('[[contact_points]]\nname = "so"\ntype = "sms"\n', encoding="utf-8")
    outcome = run_notify(data_dir)
    assert outcome.status == "failed" and "contact_points[0] ('so'): 'type'" in outcome.message


def test_the_reports_job_is_idle_without_reports_and_fails_on_a_bad_file(data_dir: Path) -> None:
    assert "reports" in [j.kind for j in default_config(data_dir).jobs]
    assert run_reports(data_dir).status == "idle"
    (data_dir / "notify.toml").write_text(
        '[[reports]]\nname = "w"\nto = ["a@b.vn"]\nschedule = "x"\n', encoding="utf-8"
    )
    outcome = run_reports(data_dir)
    assert (
        outcome.status == "failed"
        and "reports[0] ('w'): 'schedule': not a crontab expression" in outcome.message
    )
