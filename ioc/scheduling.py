"""``ioc scheduler``: ingestion's scheduler with what the product runs after every load.

Ingestion knows nothing of alerts (it never imports ``ioc.alerts``); the product passes the alert
evaluation in as the scheduler's after-load hook here, where the scheduler is built: after each
run that loaded rows, the rules whose data changed are evaluated on the latest school day
(ioc.alerts.evaluate.after_load).
"""

from __future__ import annotations

import argparse

from ingest.scheduler import add_arguments

__all__ = ["add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    from ingest import scheduler
    from ioc.alerts.evaluate import after_load

    return scheduler.run(args, after_load=after_load)
