"""The data-health record, read-only: runs, rejections, sources, freshness and who did not report.

Ingestion writes ``ingest_runs`` and ``rejections``; the scheduler writes ``source_state`` and
``job_runs`` (ingest/health_record.py) and ``DATA_DIR/scheduler.state.json``. This module only
reads them, for the data-health page, the API and the CLI.

Staleness is a first-class state: every dataset has an expected cadence and is flagged stale
when its newest data is older than that cadence allows -- attendance is due on every school day
of the school calendar (ioc/calendar.py) by ``attendance_due_hour``, connectivity every few minutes, digital snapshots
monthly and the school list every term. ``stale_after`` overrides the limits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ioc import calendar as school_calendar
from ioc import clock, settings
from ioc.access import EVERYTHING, AccessScope
from ioc.datasets import DATASETS as DECLARED
from ioc.leader import scheduler_overview
from ioc.messages import Message, msg
from ioc.metrics.dimensions import FAR_FUTURE, VERSIONS_SQL, resolve_scope
from ioc.metrics.errors import QueryError
from ioc.metrics.formulas import allowed_sql
from ioc.store import quote_ident

if TYPE_CHECKING:
    from ioc.metrics.query import Scope
    from ioc.store import Store

DATASETS = tuple(DECLARED)  # ioc/datasets.py
# the column telling how new a row is; schools: the date a version is valid from
TIME_COLUMNS = {name: d.date_column or "valid_from" for name, d in DECLARED.items()}
# the statuses of a load that did not land: refused, failed, or killed and found at the next start
FAILED = ("rejected", "failed", "interrupted")


@dataclass(frozen=True)
class Cadence:
    dataset: str
    label: str  # as shown to people
    max_age: timedelta | None  # None: due by the school-day rule (attendance)


DEFAULT_CADENCES = {
    "attendance": Cadence("attendance", "daily on school days (the school calendar)", None),
    "connectivity": Cadence("connectivity", "every 5 minutes", timedelta(minutes=30)),
    "digital": Cadence("digital", "monthly", timedelta(days=45)),
    "schools": Cadence("schools", "each term", timedelta(days=200)),
}
_AGE = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")


def cadences() -> dict[str, Cadence]:
    """The expected cadence of each dataset, with the ``stale_after`` setting applied."""
    result = dict(DEFAULT_CADENCES)
    text = str(settings.get("stale_after") or "")
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        name = name.strip()
        match = _AGE.match(value)
        if name not in result or not match:
            raise QueryError(
                "stale_after", f"{part!r}: expected DATASET=AGE like 'connectivity=30m' or 'digital=45d'"
            )
        amount, unit = int(match.group(1)), match.group(2)
        age = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount), "d": timedelta(days=amount)}[
            unit
        ]
        result[name] = Cadence(name, f"{result[name].label}, stale after {value.strip()}", age)
    return result


@dataclass(frozen=True)
class DatasetFreshness:
    dataset: str
    latest_data: date | datetime | None  # newest date (attendance, digital, schools) or measurement
    last_success: datetime | None  # last load of new data
    last_failure: datetime | None  # last rejected/failed load or failing source
    reason: str | None  # why it failed (English, as the run log and the CLI say it)
    expected_cadence: str
    stale: bool
    status: str = "fresh"  # 'fresh' | 'stale' | 'no_data'
    expected_by: date | datetime | None = None  # data at least this new is expected now
    rows_last_success: int | None = None
    failing_sources: tuple[str, ...] = ()
    # the reason as a message (None for a run recorded before messages had ids): the page says
    # it in its reader's language
    reason_words: Message | None = None

    def to_json(self) -> dict[str, Any]:
        def text(value: Any) -> Any:
            if isinstance(value, Message):
                return value.to_json()
            return value.isoformat() if isinstance(value, (date, datetime)) else value

        return {k: text(v) if not isinstance(v, tuple) else list(v) for k, v in self.__dict__.items()}


def _now(now: datetime | None) -> datetime:
    return (now or clock.now()).astimezone(clock.zone())


def due_school_day(now: datetime | None = None) -> date:
    """The newest school day of the school calendar (ioc/calendar.py: weekends, holidays, Tết, days
    off and summer excluded) whose attendance is due by now (after attendance_due_hour)."""
    local = _now(now)
    day = local.date()
    if local.time() < time(int(settings.get("attendance_due_hour"))):
        day -= timedelta(days=1)
    calendar = school_calendar.current()
    for _ in range(366):  # a year without a school day: the calendar is wrong, the weekday rule stands
        if calendar.is_school_day(day):
            return day
        day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def expected_by(dataset: str, now: datetime | None = None) -> date | datetime:
    """How new the newest data of ``dataset`` must be at ``now`` not to be stale."""
    cadence = cadences()[dataset]
    if cadence.max_age is None:
        return due_school_day(now)
    limit = _now(now) - cadence.max_age
    return limit if dataset == "connectivity" else limit.date()


def _is_stale(latest: date | datetime | None, limit: date | datetime) -> bool:
    if latest is None:
        return True
    if isinstance(limit, datetime):
        moment = latest if isinstance(latest, datetime) else datetime.combine(latest, time(), clock.zone())
        return moment < limit
    day = latest.astimezone(clock.zone()).date() if isinstance(latest, datetime) else latest
    return day < limit


def _as_local(value: Any) -> Any:
    return value.astimezone(clock.zone()) if isinstance(value, datetime) and value.tzinfo else value


# -- the caller's access scope (ioc.access) -------------------------------------------------------------
def _access_filter(access: AccessScope, alias: str) -> tuple[str, dict[str, Any]]:
    """(SQL condition on the school rows ``alias``, bound values) limiting them to the schools
    ``access`` allows in today's hierarchy, as the metrics engine does; ('TRUE', {}) when unrestricted."""
    if not access.restricted:
        return "TRUE", {}
    return f"{alias}.school_id IN ({allowed_sql('lake.schools')})", dict(access.sql_params())


# -- runs and rejections -----------------------------------------------------------------------------
def runs(
    store: Store,
    limit: int = 100,
    *,
    source: str | None = None,
    dataset: str | None = None,
    access: AccessScope = EVERYTHING,
) -> list[dict]:
    """The newest ingestion runs (one per file or HTTP batch), newest first. None for a caller
    restricted to some districts: a file covers the whole city (its messages name other schools)."""
    if access.restricted:
        return []
    return [
        {k: _as_local(v) for k, v in row.items()}
        for row in store.execute(
            """SELECT run_id, source, dataset, file_name, status, message, started_at, finished_at,
                      rows_total, rows_loaded, rows_replaced, rows_rejected, checksum, archive_path, warnings,
                      message_id, message_params
               FROM ingest_runs
               WHERE ($source IS NULL OR source = $source) AND ($dataset IS NULL OR dataset = $dataset)
               ORDER BY started_at DESC, run_id DESC LIMIT $limit""",
            {"source": source, "dataset": dataset, "limit": int(limit)},
        ).dicts()
    ]


def run_counts(store: Store, *, access: AccessScope = EVERYTHING) -> list[tuple[str, str, int]]:
    """(dataset, status, runs) over the whole ingestion run log (the metrics scrape); none for a
    caller restricted to some districts (files cover the whole city)."""
    if access.restricted:
        return []
    sql = "SELECT dataset, status, count(*) FROM ingest_runs GROUP BY 1, 2 ORDER BY 1, 2"
    return [(str(d or ""), str(s), int(n)) for d, s, n in store.execute(sql).rows]


def rejections(
    store: Store, run_id: str | None = None, limit: int = 500, *, access: AccessScope = EVERYTHING
) -> list[dict]:
    """Rejected values (file, spreadsheet row, column, value, rule, message), newest runs first.
    None for a caller restricted to some districts (the values may be other schools')."""
    if access.restricted:
        return []
    return store.execute(
        """SELECT r.run_id, r.file_name, r.row_number, r.column_name, r.value, r.rule, r.message,
                  i.source, i.dataset, i.started_at, r.message_id, r.message_params
           FROM rejections r LEFT JOIN ingest_runs i USING (run_id)
           WHERE $run_id IS NULL OR r.run_id = $run_id
           ORDER BY i.started_at DESC NULLS LAST, r.run_id, r.row_number NULLS FIRST LIMIT $limit""",
        {"run_id": run_id, "limit": int(limit)},
    ).dicts()


def job_runs(
    store: Store,
    limit: int = 100,
    *,
    job_id: str | None = None,
    status: str | None = None,
    access: AccessScope = EVERYTHING,
) -> list[dict]:
    """Scheduled runs that did something, failed, or were missed/skipped, newest first (none for a
    caller restricted to some districts: jobs load the whole city)."""
    if access.restricted or not store.has_table("job_runs"):
        return []
    return [
        {k: _as_local(v) for k, v in row.items()}
        for row in store.execute(
            """SELECT job_run_id, job_id, kind, status, message, scheduled_at, started_at, finished_at,
                      items_seen, items_loaded, items_rejected, rows_loaded, rows_rejected,
                      message_id, message_params
               FROM job_runs
               WHERE ($job_id IS NULL OR job_id = $job_id) AND ($status IS NULL OR status = $status)
               ORDER BY started_at DESC NULLS LAST LIMIT $limit""",
            {"job_id": job_id, "status": status, "limit": int(limit)},
        ).dicts()
    ]


# -- freshness ---------------------------------------------------------------------------------------
def _latest(store: Store, dataset: str, access: AccessScope) -> Any:
    column = quote_ident(TIME_COLUMNS[dataset])
    if not access.restricted:
        return _as_local(store.execute(f"SELECT max({column}) FROM {quote_ident(dataset)}").scalar())  # noqa: S608
    # the newest data of the caller's schools only
    condition, values = _access_filter(access, "s")
    schools_sql, params = _current_schools(None, active_only=False)
    return _as_local(
        store.execute(
            f"""WITH s AS ({schools_sql})
                SELECT max(d.{column}) FROM {quote_ident(dataset)} d
                WHERE d.school_id IN (SELECT s.school_id FROM s WHERE {condition})""",  # noqa: S608 - fixed names
            {**params, **values},
        ).scalar()
    )


def freshness(
    store: Store, now: datetime | None = None, *, access: AccessScope = EVERYTHING
) -> list[DatasetFreshness]:
    """Per dataset: newest data, last success, last failure with its reason, cadence and staleness.
    For a caller restricted to some districts the newest data (and so staleness) is that of their
    schools, and the failure reasons and failing source names (city-wide files) are left out."""
    known = cadences()
    restricted = access.restricted
    loads = {
        row["dataset"]: row
        for row in store.execute(
            """SELECT dataset,
                      max(finished_at) FILTER (WHERE status = 'loaded') AS last_success,
                      arg_max(rows_loaded, finished_at) FILTER (WHERE status = 'loaded') AS rows_last_success,
                      max(finished_at) FILTER (WHERE status IN ('rejected', 'failed', 'interrupted')) AS last_failure,
                      arg_max(file_name || ': ' || coalesce(message, status), finished_at)
                          FILTER (WHERE status IN ('rejected', 'failed', 'interrupted')) AS reason,
                      arg_max([file_name, message_id, message_params], finished_at)
                          FILTER (WHERE status IN ('rejected', 'failed', 'interrupted')) AS reason_parts
               FROM ingest_runs WHERE dataset IS NOT NULL GROUP BY dataset"""
        ).dicts()
    }
    failing: dict[str, list[dict]] = {}
    if store.has_table("source_state"):
        for row in store.execute(
            "SELECT source_id, dataset, last_failure, reason, reason_id, reason_params FROM source_state "
            "WHERE failing AND dataset IS NOT NULL"
        ).dicts():
            failing.setdefault(row["dataset"], []).append(row)
    result = []
    for dataset in DATASETS:
        latest = _latest(store, dataset, access)
        limit = expected_by(dataset, now)
        load = loads.get(dataset, {})
        last_failure, reason = load.get("last_failure"), load.get("reason")
        words = _failed_load(load.get("reason_parts"))
        for source in failing.get(dataset, []):
            if source["last_failure"] is not None and (
                last_failure is None or source["last_failure"] > last_failure
            ):
                last_failure, reason = (
                    source["last_failure"],
                    f"source {source['source_id']}: {source['reason']}",
                )
                why = Message.stored(source.get("reason_id"), source.get("reason_params"))
                words = msg("reason.source", source=source["source_id"], text=why) if why else None
        stale = _is_stale(latest, limit)
        if restricted:
            reason = words = None
        result.append(
            DatasetFreshness(
                dataset=dataset,
                latest_data=latest,
                last_success=_as_local(load.get("last_success")),
                last_failure=_as_local(last_failure),
                reason=reason,
                expected_cadence=known[dataset].label,
                stale=stale,
                status="no_data" if latest is None else ("stale" if stale else "fresh"),
                expected_by=limit,
                rows_last_success=load.get("rows_last_success"),
                failing_sources=() if restricted else tuple(s["source_id"] for s in failing.get(dataset, [])),
                reason_words=words,
            )
        )
    return result


def _failed_load(parts: list[str | None] | None) -> Message | None:
    """The last failed load's reason as a message (its file, then what its run recorded)."""
    if not parts:
        return None
    file_name, message_id, params = parts
    why = Message.stored(message_id, params)
    return msg("rejection.file", file=file_name, text=why) if why is not None else None


def _current_schools(hierarchy_date: date | None, active_only: bool = True) -> tuple[str, dict[str, Any]]:
    sql = f"SELECT * FROM ({VERSIONS_SQL.format(catalog='lake')})" + (" WHERE active" if active_only else "")  # noqa: S608
    return sql, {"hierarchy_date": hierarchy_date or FAR_FUTURE}


def freshness_by_district(
    store: Store, dataset: str, now: datetime | None = None, *, access: AccessScope = EVERYTHING
) -> list[dict]:
    """Per district: active schools, schools with data, newest and oldest school-level latest data,
    and how many schools are stale (their own newest data older than the cadence allows)."""
    if dataset not in TIME_COLUMNS:
        raise QueryError("dataset", f"unknown dataset {dataset!r}: expected one of {', '.join(DATASETS)}")
    limit = expected_by(dataset, now)
    column = quote_ident(TIME_COLUMNS[dataset])
    schools_sql, params = _current_schools(None)
    condition, values = _access_filter(access, "s")
    rows = store.execute(
        f"""WITH s AS ({schools_sql}),
                 d AS (SELECT school_id, max({column}) AS latest FROM {quote_ident(dataset)} GROUP BY school_id)
            SELECT s.district_key AS district_code, min(s.district_name) AS district_name,
                   count(*) AS schools, count(d.latest) AS schools_with_data,
                   max(d.latest) AS latest, min(d.latest) AS oldest_latest,
                   count(*) FILTER (WHERE d.latest IS NULL OR d.latest < $limit) AS stale_schools
            FROM s LEFT JOIN d USING (school_id)
            WHERE {condition}
            GROUP BY s.district_key ORDER BY s.district_key""",  # noqa: S608 - identifiers from TIME_COLUMNS
        {**params, **values, "limit": limit},
    ).dicts()
    for row in rows:
        row["latest"], row["oldest_latest"] = _as_local(row["latest"]), _as_local(row["oldest_latest"])
        row["fresh_share"] = (
            (row["schools"] - row["stale_schools"]) / row["schools"] if row["schools"] else None
        )
        row["stale"] = row["stale_schools"] > 0
    return rows


def not_reporting(
    store: Store, date: date | None = None, scope: Scope | None = None, *, access: AccessScope = EVERYTHING
) -> list[dict]:
    """Active scope schools without an attendance row on ``date`` (default: the latest school day,
    i.e. the newest date on which any school reported), with the last date each one did report."""
    day = date or store.execute("SELECT max(date) FROM attendance").scalar()
    if day is None:
        return []
    filters, values = [], {}
    if scope is not None and scope.items():
        resolved = resolve_scope(store, scope, day)
        columns = {
            "district": "district_key",
            "ward": "ward_key",
            "level": "level",
            "ownership": "ownership",
            "school": "school_id",
        }
        for name, value in resolved.items():
            filters.append(f"s.{columns[name]} = ${name}")
            values[name] = value
    schools_sql, params = _current_schools(day)
    condition, access_values = _access_filter(access, "s")  # the caller's schools, whatever ``scope`` says
    values.update(access_values)
    where = " AND ".join(["a.school_id IS NULL", condition, *filters])
    return store.execute(
        f"""WITH s AS ({schools_sql}),
                 a AS (SELECT DISTINCT school_id FROM attendance WHERE date = $day),
                 last AS (SELECT school_id, max(date) AS last_reported FROM attendance WHERE date <= $day GROUP BY 1)
            SELECT s.school_id, s.school_name, s.level, s.ownership, s.ward_key AS ward_code, s.ward_name,
                   s.district_key AS district_code, s.district_name, $day AS date, last.last_reported
            FROM s LEFT JOIN a USING (school_id) LEFT JOIN last USING (school_id)
            WHERE {where}
            ORDER BY s.district_key, s.ward_key, s.school_id""",  # noqa: S608 - filters are fixed column names
        {**params, **values, "day": day},
    ).dicts()


# -- sources -----------------------------------------------------------------------------------------
def sources(store: Store, *, access: AccessScope = EVERYTHING) -> list[dict]:
    """Per source (scheduler job, ``cli``, ``demo``...): runs, rows per run, last success and failure
    with the reason, whether it is failing, and for drop folders the files waiting. None for a caller
    restricted to some districts (sources serve the whole city)."""
    if access.restricted:
        return []
    stats = {
        row["source"]: row
        for row in store.execute(
            """SELECT source, count(*) AS runs,
                      count(*) FILTER (WHERE status = 'loaded') AS runs_loaded,
                      count(*) FILTER (WHERE status = 'rejected') AS runs_rejected,
                      count(*) FILTER (WHERE status = 'failed') AS runs_failed,
                      max(started_at) AS last_run,
                      max(finished_at) FILTER (WHERE status = 'loaded') AS last_load,
                      arg_max(rows_loaded, finished_at) FILTER (WHERE status = 'loaded') AS rows_last_load,
                      avg(rows_loaded) FILTER (WHERE status = 'loaded') AS rows_per_load,
                      sum(rows_loaded) AS rows_loaded, sum(rows_rejected) AS rows_rejected,
                      list(DISTINCT dataset) FILTER (WHERE dataset IS NOT NULL) AS datasets
               FROM ingest_runs GROUP BY source"""
        ).dicts()
    }
    states = (
        {row["source_id"]: row for row in store.execute("SELECT * FROM source_state").dicts()}
        if store.has_table("source_state")
        else {}
    )
    status = scheduler_status(store)
    result = []
    for source_id in sorted(set(stats) | set(states)):
        stat, state = stats.get(source_id, {}), states.get(source_id, {})
        job = status.get("jobs", {}).get(source_id, {})
        location = state.get("location")
        pending = None
        if state.get("kind") == "drop_folder" and location:
            pending = _pending_files(Path(location))
        result.append(
            {
                "source": source_id,
                "kind": state.get("kind") or "manual",
                "datasets": sorted(
                    stat.get("datasets") or ([state["dataset"]] if state.get("dataset") else [])
                ),
                "location": location,
                "failing": bool(state.get("failing", False)),
                "consecutive_failures": int(state.get("consecutive_failures") or 0),
                "last_success": _as_local(state.get("last_success") or stat.get("last_load")),
                "last_failure": _as_local(state.get("last_failure")),
                "reason": state.get("reason"),
                "reason_id": state.get("reason_id"),
                "reason_params": state.get("reason_params"),
                "cursor": state.get("cursor"),
                "last_checked": job.get("last_run"),
                "runs": int(stat.get("runs") or 0),
                "runs_loaded": int(stat.get("runs_loaded") or 0),
                "runs_rejected": int(stat.get("runs_rejected") or 0),
                "runs_failed": int(stat.get("runs_failed") or 0),
                "rows_last_run": state.get("rows_last_run") if state else stat.get("rows_last_load"),
                "rows_per_load": float(stat["rows_per_load"])
                if stat.get("rows_per_load") is not None
                else None,
                "rows_loaded": int(stat.get("rows_loaded") or 0),
                "rows_rejected": int(stat.get("rows_rejected") or 0),
                "pending_files": pending,
            }
        )
    return result


def _pending_files(folder: Path) -> int | None:
    """Files waiting in a drop folder (None when the folder cannot be read from here)."""
    try:
        return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except FileNotFoundError:
        return 0
    except OSError:
        return None


def scheduler_status(store: Store) -> dict[str, Any]:
    """Whether a scheduler is running for this store, which process is active (``active``:
    node = hostname:pid, since, mode) and the standbys (``nodes``), from the scheduler's lock
    (ioc/leader.py: the flock of the data directory, or the PostgreSQL advisory lock when the
    catalog is on PostgreSQL); and each job's last and next run as this node's
    ``DATA_DIR/scheduler.state.json`` saw them."""
    root = store.layout.root
    try:
        status = json.loads((root / "scheduler.state.json").read_text(encoding="utf-8"))
        if not isinstance(status, dict):
            status = {}
    except (OSError, ValueError):
        status = {}
    location = getattr(store, "location", None)
    try:
        nodes, ledger = scheduler_overview(root, str(getattr(location, "catalog_url", "") or ""))
    except Exception as error:  # noqa: BLE001 - PostgreSQL away: say so rather than fail the page
        nodes, ledger = [], {}
        status["error"] = f"cannot read the scheduler lock: {error}"
    active = next((n for n in nodes if n.role == "active"), None)
    status["running"] = active is not None
    status["active"] = active.to_json() if active else None
    status["nodes"] = [n.to_json() for n in nodes]
    jobs = status.setdefault("jobs", {})
    # several nodes: the ledger knows every node's runs, this node's status file only its own
    for job_id, run in ledger.items():
        job = jobs.setdefault(job_id, {})
        started = run["started_at"].isoformat() if run["started_at"] else None
        try:
            known = datetime.fromisoformat(job["last_run"]) if job.get("last_run") else None
        except ValueError:
            known = None
        if started and (known is None or known < run["started_at"]):
            job.update(
                last_run=started,
                last_finished=run["finished_at"].isoformat() if run["finished_at"] else None,
                last_status=run["outcome"] or run["status"],
                node=run["node"],
            )
    return status
