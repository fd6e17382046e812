"""``ioc scheduler`` and ``ioc ingest``: ingestion with what the product does around every load.

Ingestion knows nothing of alerts or accounts (it never imports ``ioc.alerts`` nor ``ioc.auth``);
the product passes its hooks in here, where the loaders are built: every run is written into the
audit log (ioc.auth.audit.record_ingest), and after each scheduled run that loaded rows the rules
whose data changed are evaluated on the latest school day (ioc.alerts.evaluate.after_load).
"""

from __future__ import annotations

import argparse

from ingest.cli import add_arguments as add_ingest_arguments
from ingest.scheduler import add_arguments

__all__ = ["add_arguments", "add_ingest_arguments", "run", "run_ingest"]


def run(args: argparse.Namespace) -> int:
    # imported when the command runs, not when `ioc --help` lists it (DuckDB, APScheduler, alerts)
    from ingest import scheduler
    from ioc.alerts.evaluate import after_load
    from ioc.auth.audit import record_ingest

    return scheduler.run(args, after_load=after_load, audit=record_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from ingest import cli
    from ioc.auth.audit import record_ingest

    return cli.run(args, audit=record_ingest)
