"""The product's scheduled jobs: alert notifications (``notify``) and the due reports
(``reports``).

They are job kinds of the scheduler (ingest.kinds), registered here the way a source plug-in
registers its kinds; ``ioc scheduler`` imports this module (ioc/scheduling.py), so ingestion
itself never imports the notification or report modules. Each kind adds its job to the built-in
configuration (``default_job``); a configuration file names them by ``kind`` as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.jobs import JobOutcome, JobSpec, _Reader
from ingest.kinds import JobKind, Runner, register
from ioc.auth.db import open_db
from ioc.notify import ConfigError as NotifyConfigError
from ioc.notify import deliver, load

if TYPE_CHECKING:
    from ingest.health_record import SourceState


@dataclass(frozen=True)
class NotifySpec:
    """Deliver the alert notifications waiting in the outbox (ioc.notify; docs/notifications.md)."""


@dataclass(frozen=True)
class ReportsSpec:
    """Send the reports whose own schedule fired (ioc.reports; docs/notifications.md)."""


def run_notify(data_dir: Path) -> JobOutcome:
    """Route, group and send the alert notifications of the outbox once (ioc.notify)."""
    try:
        config = load(data_dir)
    except NotifyConfigError as error:
        return JobOutcome("failed", message=str(error))
    done = deliver(open_db(data_dir), config)
    if not (done.routed or done.made or done.sent or done.failed or done.given_up):
        return JobOutcome("idle")
    status = "success" if not (done.failed or done.given_up) else ("partial" if done.sent else "failed")
    return JobOutcome(
        status,
        items_seen=done.routed,
        items_loaded=done.sent,
        items_rejected=done.failed + done.given_up,
        message=done.describe().split("\n")[0],
        details=tuple(done.errors),
    )


def run_reports(data_dir: Path) -> JobOutcome:
    """Print and email the reports whose schedule fired and that are not sent yet (ioc.reports)."""
    # heavy: Flask, Dash and Plotly (~900 modules, 1.5 s, through the page session the report
    # prints) only when a reports job runs, not when the scheduler starts
    from ioc.reports.weekly import run_due

    try:
        config = load(data_dir)
    except NotifyConfigError as error:
        return JobOutcome("failed", message=str(error))
    done = run_due(open_db(data_dir), config, data_dir)
    if not (done.sent or done.failed):
        return JobOutcome("idle")
    status = "success" if not done.failed else ("partial" if done.sent else "failed")
    return JobOutcome(
        status,
        items_seen=len(done.sent) + len(done.failed),
        items_loaded=len(done.sent),
        items_rejected=len(done.failed),
        message=f"{len(done.sent)} reports sent"
        + (f", {len(done.failed)} failed (tried again later)" if done.failed else ""),
        details=tuple(done.failed),
    )


@register
class Notify(JobKind):
    """Deliver the alert notifications waiting in the outbox (ioc.notify)."""

    name = "notify"
    default_job = {"id": "notify", "schedule": {"every": "30s"}}

    def parse(self, reader: _Reader, data_dir: Path) -> NotifySpec:
        return NotifySpec()

    def run(self, runner: Runner, job: JobSpec, state: SourceState | None) -> tuple[JobOutcome, None]:
        return run_notify(runner.store.layout.root), None


@register
class Reports(JobKind):
    """Send the reports whose own schedule fired (ioc.reports)."""

    name = "reports"
    default_job = {"id": "reports", "schedule": {"every": "1m"}}

    def parse(self, reader: _Reader, data_dir: Path) -> ReportsSpec:
        return ReportsSpec()

    def run(self, runner: Runner, job: JobSpec, state: SourceState | None) -> tuple[JobOutcome, None]:
        return run_reports(runner.store.layout.root), None
