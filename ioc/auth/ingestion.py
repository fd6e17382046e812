"""The audit record of ingestion runs: the callback the product passes to ingestion
(ioc/scheduling.py for ``ioc ingest`` and ``ioc scheduler``, and ``ioc demo``), which writes one
row per loaded file or record batch into the audit log of the data directory's accounts database.

It lives apart from ioc/auth/audit.py because it opens the accounts database (ioc.auth.db), which
itself builds on the audit log (its throttle of unauthenticated requests).
"""

from __future__ import annotations

import getpass
from pathlib import Path

from ioc.auth.audit import record
from ioc.auth.db import open_db


def ingest_actor(source: str) -> str:
    """Who ran a load: ``cli:<os user>`` for ``ioc ingest``, ``demo`` for ``ioc demo``, else the
    scheduler job named by the source (``scheduler:<job id>``)."""
    if source == "cli":
        try:
            return f"cli:{getpass.getuser()}"
        except (KeyError, OSError):
            return "cli"
    if source == "demo":
        return "demo"
    return f"scheduler:{source}"


def record_ingest(
    data_dir: Path | str,
    *,
    source: str,
    file: str,
    dataset: str | None,
    status: str,
    rows_loaded: int,
    rows_replaced: int,
    rows_rejected: int,
    run_id: str,
) -> None:
    """One audit row per ingestion run (called by ingest.load for every file or record batch)."""
    outcome = {"loaded": "ok", "unchanged": "ok", "rejected": "denied"}.get(status, "failed")
    record(
        open_db(data_dir),
        "ingest",
        outcome,
        actor=ingest_actor(source),
        target=file,
        detail=(
            f"{dataset or '?'} {status}: {rows_loaded} rows loaded, {rows_replaced} replaced, "
            f"{rows_rejected} rejected (run {run_id}, source {source})"
        ),
    )
