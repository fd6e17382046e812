"""The scheduler's jobs: their configuration (parsed and validated into frozen values) and the
maintenance job.

A configuration file (TOML or JSON) has an optional ``[scheduler]`` table and a list of
``[[jobs]]``; each job has an ``id``, a ``kind`` (``drop_folder``, ``http_json`` or
``maintenance``, or one the product registers: ``notify`` delivers alert notifications,
``reports`` sends the scheduled reports that are due; ioc/jobs.py), a ``schedule``
(``cron = "*/5 * * * *"`` or ``every = "30s"``) and the options of its kind. Unknown keys are errors, so a typo never silently falls back to a default.
docs/scheduler.md is the reference.
"""

from __future__ import annotations

import json
import math
import re
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ingest import runs
from ingest.contract import DATASETS
from ingest.kinds import JobKind, Runner, job_kinds, register
from ioc import settings
from ioc.messages import Message, MessageError, msg

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from ingest.health_record import SourceState
    from ioc.store import Store

DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class ConfigError(MessageError, ValueError):
    """The configuration is invalid; the message names the file, the job and the key."""


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``30``, ``"30s"``, ``"5m"``, ``"2h"``, ``"1d"`` or ``"250ms"``."""
    if isinstance(value, bool):
        raise ConfigError(msg("config.duration", where=where, value=repr(value)))
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ConfigError(msg("config.duration_units", where=where, value=repr(value)))
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds < 0:
        raise ConfigError(msg("config.duration_negative", where=where, value=repr(value)))
    return seconds


def _grid_trigger_class(base: type) -> type:
    """An interval trigger firing at whole multiples of the interval since the Unix epoch.

    APScheduler's own interval trigger counts from when the process started, so two schedulers
    would fire at different times and a fire time could not name a run across nodes. On the grid,
    every node computes the same fire times (every 30 s = at :00 and :30 of each minute), and a
    run that started off the grid (a catch-up at start) is followed by the next grid time.
    """

    class GridIntervalTrigger(base):  # type: ignore[misc, valid-type]
        __slots__ = ()

        def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime:
            length = self.interval_length
            if previous_fire_time is not None:
                step = math.floor(previous_fire_time.timestamp() / length + 1e-9) + 1
            else:
                step = math.ceil(now.timestamp() / length - 1e-9)
            return datetime.fromtimestamp(step * length, tz=self.timezone)

        def __str__(self) -> str:
            return f"every {self.interval_length:g}s on the epoch grid"

    return GridIntervalTrigger


# -- values -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    cron: str | None = None
    every_seconds: float | None = None

    def trigger(self, timezone: str) -> BaseTrigger:
        # APScheduler (~50 modules, 0.05 s) only when a schedule is used: `ioc ingest` imports
        # this module and schedules nothing
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone=timezone)
        return _grid_trigger_class(IntervalTrigger)(seconds=self.every_seconds or 60, timezone=timezone)

    def describe(self) -> str:
        return f"cron '{self.cron}'" if self.cron else f"every {self.every_seconds:g}s"

    def period_seconds(self, timezone: str, now: datetime | None = None) -> float:
        """Seconds between two consecutive runs (for cron: the next two fire times)."""
        if self.every_seconds is not None:
            return self.every_seconds
        trigger = self.trigger(timezone)
        now = now or datetime.now(trigger.timezone)
        first = trigger.get_next_fire_time(None, now)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        return (second - first).total_seconds() if first and second else 86400.0


@dataclass(frozen=True)
class DropFolderSpec:
    folder: Path  # absolute
    settle_seconds: float = 2.0  # a file modified more recently than this is still being written
    stable_wait_seconds: float = 1.0  # pause between the two looks at size and mtime
    dataset: str | None = None  # force a dataset (default: from the file name's prefix)


@dataclass(frozen=True)
class HttpSpec:
    url: str
    dataset: str
    token_env: str | None = None
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    headers: tuple[tuple[str, str], ...] = ()
    records_key: str | None = "records"  # None: the body is the list of records
    next_key: str | None = "next"  # body key holding the next page's URL (Link: rel=next also works)
    page_param: str | None = None  # alternatively: page numbers in a query parameter
    page_size_param: str | None = None
    page_size: int | None = None
    since_param: str | None = "since"
    cursor_field: str | None = None  # record field whose maximum becomes the next since-cursor
    cursor_key: str | None = "cursor"  # body key with the server's own next cursor (preferred)
    timeout_seconds: float = 10.0  # per connect / per read
    total_timeout_seconds: float = 60.0  # per page, all reads included
    retries: int = 3
    backoff_seconds: float = 1.0
    max_bytes: int = 50_000_000  # per response body
    max_pages: int = 1000


@dataclass(frozen=True)
class MaintenanceSpec:
    compact: bool = True
    archive_retention_days: int | None = None  # None: the archive_retention_days setting
    job_runs_retention_days: int = 365


@dataclass(frozen=True)
class JobSpec:
    id: str
    kind: str
    schedule: Schedule
    options: Any  # what the job's kind parsed (ingest.kinds)
    run_at_start: bool = True
    misfire_grace_seconds: float | None = None  # None: the scheduler's default


@dataclass(frozen=True)
class SchedulerConfig:
    jobs: tuple[JobSpec, ...]
    timezone: str = DEFAULT_TIMEZONE
    workers: int = 4
    misfire_grace_seconds: float = 60.0
    origin: str = "built-in defaults"

    def job(self, job_id: str) -> JobSpec:
        for job in self.jobs:
            if job.id == job_id:
                return job
        raise KeyError(job_id)


@dataclass(frozen=True)
class JobOutcome:
    """What one run of a job did; ``noteworthy`` runs are written to the job_runs table."""

    status: str  # 'success' | 'partial' (something rejected) | 'failed' | 'idle'
    items_seen: int = 0
    items_loaded: int = 0
    items_rejected: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""  # in English (logs, the scheduler's output); from ``words`` when given
    details: tuple[str, ...] = field(default=())
    words: Message | None = None  # the message's template: data health says it in its reader's language

    def __post_init__(self) -> None:
        if self.words is not None and not self.message:
            object.__setattr__(self, "message", str(self.words))

    @property
    def noteworthy(self) -> bool:
        return self.status != "idle"


# -- parsing ----------------------------------------------------------------------------------
class _Reader:
    """Reads keys of one table of the configuration, remembering which were used."""

    def __init__(self, table: Mapping[str, Any], where: str) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(msg("config.not_table", where=where, kind=type(table).__name__))
        self.table = table
        self.where = where
        self.used: set[str] = set()

    def get(self, key: str, default: Any = None, *, kind: type | tuple[type, ...] | None = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if kind is not None and (
            not isinstance(value, kind) or (isinstance(value, bool) and bool not in _tuple(kind))
        ):
            names = " or ".join(k.__name__ for k in _tuple(kind))
            raise ConfigError(msg("config.type", where=self.where, key=key, names=names, value=repr(value)))
        return value

    def require(self, key: str, *, kind: type | tuple[type, ...] = str) -> Any:
        if key not in self.table:
            raise ConfigError(msg("config.required", where=self.where, key=key))
        value = self.get(key, kind=kind)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(msg("config.empty", where=self.where, key=key))
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        self.used.add(key)
        if key not in self.table:
            return default
        return parse_duration(self.table[key], f"{self.where}: '{key}'")

    def finish(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            raise ConfigError(
                msg(
                    "config.unknown_keys" if len(unknown) > 1 else "config.unknown_key",
                    where=self.where,
                    keys=", ".join(map(repr, unknown)),
                )
            )


def _tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _schedule(value: Any, where: str) -> Schedule:
    if isinstance(value, str):  # shorthand: schedule = "5m" or schedule = "*/5 * * * *"
        value = {"cron": value} if len(value.split()) == 5 else {"every": value}
    reader = _Reader(value, f"{where}: schedule")
    cron = reader.get("cron", kind=str)
    every = reader.duration("every", None)
    reader.finish()
    if (cron is None) == (every is None):
        raise ConfigError(msg("config.schedule", where=where))
    if cron is not None:
        # APScheduler only when a schedule is parsed (`ioc ingest` imports this module)
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(cron, timezone=DEFAULT_TIMEZONE)
        except ValueError as error:
            raise ConfigError(msg("config.cron", where=where, cron=repr(cron), error=str(error))) from None
        return Schedule(cron=cron)
    if not every or every < 1:
        raise ConfigError(msg("config.every", where=where))
    return Schedule(every_seconds=every)


def _not_a_dataset(reader: _Reader, dataset: Any) -> Message:
    return msg("config.dataset", where=reader.where, datasets=", ".join(DATASETS), value=repr(dataset))


def drop_folder_options(reader: _Reader, data_dir: Path) -> DropFolderSpec:
    folder = Path(reader.get("folder", "inbox", kind=str)).expanduser()
    dataset = reader.get("dataset", kind=str)
    if dataset is not None and dataset not in DATASETS:
        raise ConfigError(_not_a_dataset(reader, dataset))
    return DropFolderSpec(
        folder=folder if folder.is_absolute() else data_dir / folder,
        settle_seconds=reader.duration("settle", 2.0) or 0.0,
        stable_wait_seconds=reader.duration("stable_wait", 1.0) or 0.0,
        dataset=dataset,
    )


def http_options(reader: _Reader) -> HttpSpec:
    url = reader.require("url")
    if not re.match(r"^https?://", url):
        raise ConfigError(msg("config.url", where=reader.where, url=repr(url)))
    dataset = reader.require("dataset")
    if dataset not in DATASETS:
        raise ConfigError(_not_a_dataset(reader, dataset))
    if "token" in reader.table:
        raise ConfigError(msg("config.secret", where=reader.where))
    headers = reader.get("headers", {}, kind=dict)
    for name, value in headers.items():
        if name.lower() in {"authorization", "cookie"} or not isinstance(value, str):
            raise ConfigError(msg("config.header", where=reader.where, name=repr(name)))
    token_env = reader.get("token_env", kind=str)
    if token_env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", token_env):
        raise ConfigError(msg("config.token_env", where=reader.where, value=repr(token_env)))
    spec = HttpSpec(
        url=url,
        dataset=dataset,
        token_env=token_env,
        auth_header=reader.get("auth_header", "Authorization", kind=str),
        auth_scheme=reader.get("auth_scheme", "Bearer", kind=str),
        headers=tuple(sorted(headers.items())),
        records_key=reader.get("records_key", "records", kind=str) or None,
        next_key=reader.get("next_key", "next", kind=str) or None,
        page_param=reader.get("page_param", kind=str),
        page_size_param=reader.get("page_size_param", kind=str),
        page_size=reader.get("page_size", kind=int),
        since_param=reader.get("since_param", "since", kind=str) or None,
        cursor_field=reader.get("cursor_field", kind=str),
        cursor_key=reader.get("cursor_key", "cursor", kind=str) or None,
        timeout_seconds=reader.duration("timeout", 10.0) or 10.0,
        total_timeout_seconds=reader.duration("total_timeout", 60.0) or 60.0,
        retries=reader.get("retries", 3, kind=int),
        backoff_seconds=reader.duration("backoff", 1.0) or 0.0,
        max_bytes=reader.get("max_bytes", 50_000_000, kind=int),
        max_pages=reader.get("max_pages", 1000, kind=int),
    )
    if spec.retries < 0 or spec.max_bytes < 1 or spec.max_pages < 1:
        raise ConfigError(msg("config.http_limits", where=reader.where))
    return spec


def _maintenance(reader: _Reader) -> MaintenanceSpec:
    retention = reader.get("archive_retention_days", kind=int)
    if retention is not None and retention < 1:
        raise ConfigError(msg("config.retention", where=reader.where))
    return MaintenanceSpec(
        compact=reader.get("compact", True, kind=bool),
        archive_retention_days=retention,
        job_runs_retention_days=reader.get("job_runs_retention_days", 365, kind=int),
    )


def parse_config(raw: Mapping[str, Any], data_dir: Path, origin: str = "configuration") -> SchedulerConfig:
    """Validate a configuration mapping into a :class:`SchedulerConfig` (errors name the key)."""
    top = _Reader(raw, origin)
    scheduler = _Reader(top.get("scheduler", {}, kind=dict), f"{origin}: [scheduler]")
    timezone = scheduler.get("timezone", DEFAULT_TIMEZONE, kind=str)
    try:
        ZoneInfo(timezone)
    except Exception:
        raise ConfigError(msg("config.timezone", where=origin, timezone=repr(timezone))) from None
    workers = scheduler.get("workers", 4, kind=int)
    grace = scheduler.duration("misfire_grace", 60.0) or 0.0
    scheduler.finish()
    jobs_raw = top.get("jobs", [], kind=list)
    top.finish()
    kinds = job_kinds()  # the built-in kinds and the configured plug-ins, by name
    if not jobs_raw:
        raise ConfigError(msg("config.no_jobs", where=origin))
    jobs: list[JobSpec] = []
    for index, job_raw in enumerate(jobs_raw):
        where = f"{origin}: jobs[{index}]"
        reader = _Reader(job_raw, where)
        job_id = reader.require("id")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", job_id):
            raise ConfigError(msg("config.job_id", where=where, value=repr(job_id)))
        where = reader.where = f"{origin}: job '{job_id}'"
        if any(j.id == job_id for j in jobs):
            raise ConfigError(msg("config.job_id_twice", where=where))
        kind = reader.require("kind")
        if kind not in kinds:
            raise ConfigError(
                msg("config.kind", where=where, kinds=", ".join(sorted(kinds)), value=repr(kind))
            )
        schedule = _schedule(reader.require("schedule", kind=(str, dict)), where)
        run_at_start = reader.get("run_at_start", kinds[kind].run_at_start, kind=bool)
        job_grace = reader.duration("misfire_grace", None)
        options = kinds[kind].parse(reader, data_dir)
        reader.finish()
        jobs.append(JobSpec(job_id, kind, schedule, options, run_at_start, job_grace))
    folders = [f for j in jobs if (f := kinds[j.kind].inbox(j.options)) is not None]
    if len(set(folders)) != len(folders):
        raise ConfigError(msg("config.same_folder", where=origin))
    return SchedulerConfig(tuple(jobs), timezone, max(1, workers), grace, origin)


def default_config(data_dir: Path) -> SchedulerConfig:
    """What runs without a configuration file: the ``default_job`` of every registered kind,
    sources first (ingestion's: the inbox every 30 seconds and nightly maintenance; the product's,
    registered by ``ioc scheduler``: alert notifications every 30 seconds, the due reports every
    minute)."""
    kinds = sorted(job_kinds().values(), key=lambda kind: not kind.source)  # stable: registration order
    jobs = [{**kind.default_job, "kind": kind.name} for kind in kinds if kind.default_job is not None]
    return parse_config({"jobs": jobs}, data_dir, "built-in defaults")


def load_config(path: str | Path | None, data_dir: Path) -> SchedulerConfig:
    """The configuration at ``path`` (TOML or JSON), else the scheduler_config setting, else
    DATA_DIR/scheduler.toml, else the built-in defaults."""
    chosen = path or settings.get("scheduler_config") or None
    if chosen is None and (data_dir / "scheduler.toml").exists():
        chosen = data_dir / "scheduler.toml"
    if chosen is None:
        return default_config(data_dir)
    file = Path(chosen).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            msg("config.unreadable", file=str(file), error=str(error.strerror or error))
        ) from None
    try:
        raw = json.loads(text) if file.suffix.lower() == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(
            msg(
                "config.syntax",
                file=str(file),
                format="JSON" if file.suffix.lower() == ".json" else "TOML",
                error=str(error),
            )
        ) from None
    return parse_config(raw, data_dir, str(file))


# -- maintenance ------------------------------------------------------------------------------
def prune_files(folder: Path, older_than_days: float, *, now: float | None = None) -> int:
    """Delete regular files under ``folder`` last modified more than ``older_than_days`` ago."""
    if not folder.exists():
        return 0
    limit = (now or time.time()) - older_than_days * 86400
    removed = 0
    for file in folder.rglob("*"):
        try:
            if file.is_file() and not file.is_symlink() and file.stat().st_mtime < limit:
                file.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def run_maintenance(store: Store, spec: MaintenanceSpec, inboxes: tuple[Path, ...] = ()) -> JobOutcome:
    """Compact the store, expire old snapshots, prune raw archives and handled inbox files."""
    details: list[str] = []
    if spec.compact:
        result = store.maintain()
        details.append(f"store compacted, data version {result.get('data_version')}")
    orphans, interrupted = runs.remove_orphans(store)
    if interrupted:
        details.append(f"{orphans} orphan file(s) of {interrupted} interrupted run(s) removed")
    days = spec.archive_retention_days or int(settings.get("archive_retention_days"))
    pruned = prune_files(store.layout.archive, days)
    for inbox in inboxes:
        pruned += prune_files(inbox / "done", days)
        pruned += prune_files(inbox / "rejected", 2 * days)
    details.append(f"{pruned} file(s) older than {days} days pruned")
    cutoff = datetime.now().astimezone() - timedelta(days=spec.job_runs_retention_days)
    old_runs = int(
        store.execute("SELECT count(*) FROM job_runs WHERE started_at < ?", [cutoff]).scalar() or 0
    )
    if old_runs:
        store.write(lambda cur: cur.execute("DELETE FROM job_runs WHERE started_at < ?", [cutoff]))
        details.append(f"{old_runs} job run(s) older than {spec.job_runs_retention_days} days removed")
    return JobOutcome("success", items_seen=pruned, message="; ".join(details), details=tuple(details))


# -- the kinds of jobs that are not sources (ingest.kinds) ---------------------------------------


@register
class Maintenance(JobKind):
    """Compact the store, remove what interrupted runs left, prune archives and old job runs."""

    name = "maintenance"
    run_at_start = False
    default_job = {"id": "maintenance", "schedule": {"cron": "30 2 * * *"}}

    def parse(self, reader: _Reader, data_dir: Path) -> MaintenanceSpec:
        return _maintenance(reader)

    def run(self, runner: Runner, job: JobSpec, state: SourceState | None) -> tuple[JobOutcome, None]:
        kinds = job_kinds()
        inboxes = tuple(f for j in runner.config.jobs if (f := kinds[j.kind].inbox(j.options)) is not None)
        with runner.write_lock:
            return run_maintenance(runner.store, job.options, inboxes), None
