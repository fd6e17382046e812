"""``ioc scheduler`` and ``ioc ingest``: ingestion with what the product does around every load.

Ingestion knows nothing of alerts or accounts (it never imports ``ioc.alerts`` nor ``ioc.auth``);
the product passes its hooks in here, where the loaders are built: every run is written into the
audit log (ioc.auth.ingestion.record_ingest), after each scheduled run that loaded rows the rules
whose data changed are evaluated on the latest school day (ioc.alerts.evaluate.after_load), and
the product's own job kinds (notifications, reports: ioc/jobs.py) are registered.
"""

from __future__ import annotations

import argparse

from ingest import cli, scheduler
from ingest.cli import add_arguments as add_ingest_arguments
from ingest.scheduler import add_arguments
from ioc.auth.ingestion import record_ingest

__all__ = ["add_arguments", "add_ingest_arguments", "run", "run_ingest"]


def run(args: argparse.Namespace) -> int:
    # heavy: the alert rules with pandas (~900 modules, 2 s) and the notification modules only
    # when the scheduler runs, not for `ioc ingest` nor `ioc scheduler --help`
    from ioc import jobs  # noqa: F401  (registers the notify and reports job kinds)
    from ioc.alerts.evaluate import after_load

    return scheduler.run(args, after_load=after_load, audit=record_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    return cli.run(args, audit=record_ingest)
