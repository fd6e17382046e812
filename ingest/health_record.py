"""Writing the data-health record: the state of each source and the log of scheduled job runs.

The loads themselves are logged by ingestion (``ingest_runs``, ``rejections``); this module adds
what only the scheduler knows: whether a source is failing and why, its incremental cursor, and
runs that were missed, failed or did something. Idle runs (nothing new) are not written, so the
store's data version (and every cache keyed by it) only moves when something happened.
ioc/metrics/health.py reads all of it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from ioc import clock
from ioc.messages import Message

if TYPE_CHECKING:
    import duckdb

    from ingest.jobs import JobOutcome
    from ioc.store import Store

_STATE_COLUMNS = (
    "source_id",
    "kind",
    "dataset",
    "location",
    "cursor",
    "last_attempt",
    "last_success",
    "last_failure",
    "reason",
    "reason_id",
    "reason_params",
    "failing",
    "consecutive_failures",
    "rows_last_run",
    "updated_at",
)


@dataclass(frozen=True)
class SourceState:
    source_id: str
    kind: str
    dataset: str | None = None
    location: str | None = None  # folder or URL (never with credentials)
    cursor: str | None = None
    last_attempt: datetime | None = None
    last_success: datetime | None = None
    last_failure: datetime | None = None
    reason: str | None = None  # why the last failure happened (kept after recovery), in English
    failing: bool = False
    consecutive_failures: int = 0
    rows_last_run: int | None = None
    reason_words: Message | None = None  # the reason's template: data health says it in its reader's language

    def succeeded(self, at: datetime, rows: int, cursor: str | None = None) -> SourceState:
        return replace(
            self,
            last_attempt=at,
            last_success=at,
            failing=False,
            consecutive_failures=0,
            rows_last_run=rows,
            cursor=cursor if cursor is not None else self.cursor,
        )

    def failed(self, at: datetime, reason: Message) -> SourceState:
        return replace(
            self,
            last_attempt=at,
            last_failure=at,
            reason=str(reason),
            reason_words=reason,
            failing=True,
            consecutive_failures=self.consecutive_failures + 1,
        )

    def failed_files(self, at: datetime, reason: Message) -> SourceState:
        """Files of the source were rejected: the source itself works (not failing), but the
        reason stays visible."""
        return replace(self, last_failure=at, reason=str(reason), reason_words=reason)


def load_source_state(store: Store, source_id: str) -> SourceState | None:
    row = store.execute(
        f"SELECT {', '.join(_STATE_COLUMNS[:-1])} FROM source_state WHERE source_id = ? "  # noqa: S608 - fixed columns
        "ORDER BY updated_at DESC LIMIT 1",
        [source_id],
    ).first()
    if row is None:
        return None
    row["failing"] = bool(row["failing"])
    row["consecutive_failures"] = int(row["consecutive_failures"] or 0)
    row["reason_words"] = Message.stored(row.pop("reason_id"), row.pop("reason_params"))
    return SourceState(**row)


def _write_state(cur: duckdb.DuckDBPyConnection, state: SourceState) -> None:
    cur.execute("DELETE FROM source_state WHERE source_id = ?", [state.source_id])
    cur.execute(
        f"INSERT INTO source_state ({', '.join(_STATE_COLUMNS)}) VALUES ({', '.join('?' * len(_STATE_COLUMNS))})",  # noqa: S608
        [
            state.source_id,
            state.kind,
            state.dataset,
            state.location,
            state.cursor,
            state.last_attempt,
            state.last_success,
            state.last_failure,
            state.reason,
            state.reason_words.id if state.reason_words else None,
            state.reason_words.dumps() if state.reason_words else None,
            state.failing,
            state.consecutive_failures,
            state.rows_last_run,
            clock.now(),
        ],
    )


def save_source_state(store: Store, state: SourceState) -> None:
    """Replace the source's row (DuckLake has no primary keys: delete + insert in one transaction)."""
    store.write(lambda cur: _write_state(cur, state))


def _insert_run(
    cur: duckdb.DuckDBPyConnection,
    job_id: str,
    kind: str,
    scheduled_at: datetime | None,
    started_at: datetime | None,
    finished_at: datetime | None,
    outcome: JobOutcome,
    run_id: str,
) -> None:
    cur.execute(
        "INSERT INTO job_runs (job_run_id, job_id, kind, scheduled_at, started_at, finished_at, status, "
        "items_seen, items_loaded, items_rejected, rows_loaded, rows_rejected, message, message_id, message_params) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            job_id,
            kind,
            scheduled_at,
            started_at,
            finished_at,
            outcome.status,
            outcome.items_seen,
            outcome.items_loaded,
            outcome.items_rejected,
            outcome.rows_loaded,
            outcome.rows_rejected,
            outcome.message[:4000],
            outcome.words.id if outcome.words else None,
            outcome.words.dumps() if outcome.words else None,
        ],
    )


def record_job_run(
    store: Store,
    job_id: str,
    kind: str,
    outcome: JobOutcome,
    *,
    scheduled_at: datetime | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    state: SourceState | None = None,
) -> str:
    """Append one job run (and, in the same transaction, the source's new state); returns its id."""
    run_id = uuid.uuid4().hex

    def write(cur: duckdb.DuckDBPyConnection) -> None:
        _insert_run(cur, job_id, kind, scheduled_at, started_at, finished_at, outcome, run_id)
        if state is not None:
            _write_state(cur, state)

    store.write(write)
    return run_id
