"""``ioc scheduler``: the one process that runs the ingestion and maintenance jobs on schedule.

One scheduler per data directory: an exclusive ``flock`` on ``DATA_DIR/scheduler.lock`` (which
holds the pid) makes a second one refuse to start; the kernel releases the lock when the process
dies, even by ``kill -9``. Jobs run in APScheduler 3's thread pool with ``max_instances=1`` and
``coalesce=True``; the loads themselves are serialised by one in-process write lock (HTTP
fetching happens outside it). Missed, skipped and failed runs are logged to
``DATA_DIR/logs/scheduler.log`` and recorded in the store's ``job_runs`` table, and
``DATA_DIR/scheduler.state.json`` says what each job did last (the data-health page reads it).
``--once`` runs every job once, in configuration order, and exits (for cron and tests).
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.health_record import SourceState, load_source_state, now, record_job_run
from ingest.jobs import (
    ConfigError,
    DropFolderSpec,
    HttpSpec,
    JobOutcome,
    JobSpec,
    MaintenanceSpec,
    SchedulerConfig,
    load_config,
    run_maintenance,
)
from ioc import settings

if TYPE_CHECKING:
    from apscheduler.events import JobEvent

    from ioc.store import Store

log = logging.getLogger(__name__)

LOCK_NAME = "scheduler.lock"
STATE_NAME = "scheduler.state.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="job configuration, TOML or JSON (default: $IOC_SCHEDULER_CONFIG, DATA_DIR/scheduler.toml, "
        "else the inbox every 30 s and nightly maintenance)",
    )
    parser.add_argument("--once", action="store_true", help="run every job once, in order, and exit")
    parser.add_argument(
        "--check", action="store_true", help="validate the configuration, list the jobs and exit"
    )


# -- the singleton lock ---------------------------------------------------------------------------
class LockHeld(RuntimeError):
    pass


class SchedulerLock:
    """An exclusive, non-blocking ``flock`` on a file holding the owner's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise LockHeld(
                    f"another scheduler (pid {holder}) is running for this data directory: it holds "
                    f"{self.path}; only one may run at a time (stop it first, or use another --data-dir)"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # keep the file (removing it would race with a starting scheduler); just unlock it
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the running scheduler of ``data_dir``, or None when none holds the lock."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- running jobs ---------------------------------------------------------------------------------
def _changed(old: SourceState, new: SourceState) -> bool:
    """Whether a source's state changed in more than the time of the last attempt."""
    return replace(old, last_attempt=None) != replace(new, last_attempt=None)


class JobRunner:
    """Runs the configured jobs against one store and records what they did."""

    def __init__(
        self,
        store: Store,
        config: SchedulerConfig,
        *,
        echo: Callable[[str], None] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self.environ = environ if environ is not None else os.environ
        self.echo = echo or (lambda line: print(line, flush=True))
        self.state_file = store.layout.root / STATE_NAME
        self._last_skip: dict[str, datetime] = {}
        self._states: dict[str, SourceState] = {}
        self._attempts: dict[tuple[str, int, int], int] = {}  # failed loads per file (name, size, mtime)
        self._status: dict[str, Any] = self._read_status()
        self._status.update({"pid": os.getpid(), "started_at": now().isoformat(), "config": config.origin})
        jobs = self._status.setdefault("jobs", {})
        for job in config.jobs:
            jobs.setdefault(job.id, {})
            jobs[job.id].update({"kind": job.kind, "schedule": job.schedule.describe()})

    # the status file: what each job did last (written atomically; never part of the store so an
    # idle poll does not bump the data version)
    def _read_status(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def previous_run(self, job_id: str) -> datetime | None:
        text = self._status.get("jobs", {}).get(job_id, {}).get("last_run")
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None

    def _save_status(self, job_id: str | None = None, **fields: Any) -> None:
        with self._state_lock:
            if job_id is not None:
                self._status["jobs"].setdefault(job_id, {}).update(fields)
            self._status["updated_at"] = now().isoformat()
            tmp = self.state_file.with_name(self.state_file.name + f".{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps(self._status, indent=2, default=str), encoding="utf-8")
                os.replace(tmp, self.state_file)
            except OSError as error:  # a full disk must not stop the jobs
                log.warning("cannot write %s: %s", self.state_file, error)
                tmp.unlink(missing_ok=True)

    def set_next_run(self, job_id: str, when: datetime | None) -> None:
        text = when.isoformat() if when else None
        if self._status["jobs"].get(job_id, {}).get("next_run") != text:
            self._save_status(job_id, next_run=text)

    def mark_stopped(self) -> None:
        self._status["stopped_at"] = now().isoformat()
        self._save_status()

    # one run
    def _state(self, job: JobSpec) -> SourceState:
        # this process is the only writer of its sources' state: read it from the store once
        cached = self._states.get(job.id)
        if cached is not None:
            return cached
        state = load_source_state(self.store, job.id)
        opts = job.options
        if isinstance(opts, DropFolderSpec):
            fresh = SourceState(job.id, job.kind, opts.dataset, str(opts.folder))
        elif isinstance(opts, HttpSpec):
            from ingest.sources import public_url

            fresh = SourceState(job.id, job.kind, opts.dataset, public_url(opts.url))
        else:
            fresh = SourceState(job.id, job.kind)
        if state is None:
            return fresh
        return replace(state, kind=fresh.kind, dataset=fresh.dataset, location=fresh.location)

    def _dispatch(self, job: JobSpec) -> tuple[JobOutcome, SourceState | None, SourceState | None]:
        from ingest.sources import poll_drop_folder, pull_http

        opts = job.options
        if isinstance(opts, MaintenanceSpec):
            inboxes = tuple(
                j.options.folder for j in self.config.jobs if isinstance(j.options, DropFolderSpec)
            )
            with self.write_lock:
                return run_maintenance(self.store, opts, inboxes), None, None
        state = self._state(job)
        if isinstance(opts, DropFolderSpec):
            outcome, new = poll_drop_folder(
                self.store, job.id, opts, state, self.write_lock, echo=self.echo, attempts=self._attempts
            )
        else:
            outcome, new = pull_http(
                self.store, job.id, opts, state, self.write_lock, environ=self.environ, echo=self.echo
            )
        return outcome, state, new

    def run_job(self, job_id: str, scheduled_at: datetime | None = None) -> JobOutcome:
        """Run one job now; never raises (a failure is an outcome, logged and recorded)."""
        job = self.config.job(job_id)
        started = now()
        old: SourceState | None = None
        new: SourceState | None = None
        try:
            outcome, old, new = self._dispatch(job)
        except Exception as error:
            log.exception("job %s failed", job_id)
            outcome = JobOutcome("failed", message=f"{type(error).__name__}: {error}")
        finished = now()
        write_state = new is not None and (old is None or _changed(old, new))
        if outcome.noteworthy or write_state:
            try:
                with self.write_lock:
                    record_job_run(
                        self.store,
                        job.id,
                        job.kind,
                        outcome,
                        scheduled_at=scheduled_at,
                        started_at=started,
                        finished_at=finished,
                        state=new if write_state else None,
                    )
            except Exception as error:  # e.g. the disk is full: the run is still logged to the file
                log.error("job %s: cannot record the run in the store: %s", job_id, error)
                self._states.pop(job_id, None)  # re-read what the store really holds next time
                new = None
        if new is not None:
            self._states[job_id] = new
        level = logging.ERROR if outcome.status == "failed" else logging.INFO
        log.log(level, "job %s: %s %s", job_id, outcome.status, outcome.message)
        if outcome.noteworthy:
            self.echo(f"{job_id}: {outcome.status}" + (f": {outcome.message}" if outcome.message else ""))
        self._save_status(
            job_id,
            last_run=started.isoformat(),
            last_finished=finished.isoformat(),
            last_status=outcome.status,
            last_message=outcome.message[:500],
        )
        return outcome

    def record_event(self, job_id: str, status: str, message: str, scheduled_at: datetime | None) -> None:
        """Record a run that did not happen (missed, skipped) or escaped the job's own handling."""
        try:
            job = self.config.job(job_id)
        except KeyError:
            return
        level = logging.ERROR if status == "failed" else logging.WARNING
        log.log(level, "job %s: %s: %s", job_id, status, message)
        self.echo(f"{job_id}: {status}: {message}")
        try:
            with self.write_lock:
                record_job_run(
                    self.store,
                    job.id,
                    job.kind,
                    JobOutcome(status, message=message),
                    scheduled_at=scheduled_at,
                    started_at=now(),
                    finished_at=now(),
                )
        except Exception as error:
            log.error("job %s: cannot record the %s run: %s", job_id, status, error)
        self._save_status(
            job_id, last_event=status, last_event_at=now().isoformat(), last_event_message=message
        )

    def record_missed_while_down(self, job: JobSpec, until: datetime) -> int:
        """Count the runs the schedule asked for while no scheduler was running, and record them."""
        previous = self.previous_run(job.id)
        if previous is None:
            return 0
        grace = timedelta(seconds=job.misfire_grace_seconds or self.config.misfire_grace_seconds)
        missed = 0
        first: datetime | None = None
        if job.schedule.every_seconds is not None:
            # an interval counts from the last run (a new IntervalTrigger would start from now)
            period = timedelta(seconds=job.schedule.every_seconds)
            late = until - grace - previous
            missed = max(0, int(late / period)) if late > period else 0
            first = previous + period if missed else None
        else:
            trigger = job.schedule.trigger(self.config.timezone)
            fire = trigger.get_next_fire_time(None, previous + timedelta(seconds=1))
            while fire is not None and fire + grace < until and missed < 100_000:
                missed += 1
                first = first or fire
                fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
        if missed:
            self.record_event(
                job.id,
                "missed",
                f"{missed} scheduled run(s) missed while no scheduler was running "
                f"(from {first.isoformat(timespec='seconds') if first else '?'} to {until.isoformat(timespec='seconds')})",
                first,
            )
        return missed

    # apscheduler listener
    def on_event(self, event: JobEvent) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED

        scheduled = getattr(event, "scheduled_run_time", None)
        when = scheduled.isoformat(timespec="seconds") if scheduled else "?"
        if event.code == EVENT_JOB_MISSED:
            self.record_event(
                event.job_id, "missed", f"the run due at {when} started too late and was skipped", scheduled
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            # a long load skips many short intervals: record the first skip of each long run only
            last = self._last_skip.get(event.job_id)
            self._last_skip[event.job_id] = now()
            if last is not None and now() - last < timedelta(minutes=10):
                log.info("job %s: run due at %s skipped (previous run still going)", event.job_id, when)
                return
            self.record_event(
                event.job_id,
                "skipped",
                f"the run due at {when} was skipped: the previous run is still going",
                scheduled,
            )
        elif event.code == EVENT_JOB_ERROR:
            self.record_event(
                event.job_id,
                "failed",
                f"the run due at {when} raised {getattr(event, 'exception', '')!r}",
                scheduled,
            )

    def run_all_once(self) -> int:
        worst = 0
        for job in self.config.jobs:
            outcome = self.run_job(job.id, now())
            if outcome.status in ("failed", "partial"):
                worst = 1
        return worst


# -- the process ----------------------------------------------------------------------------------
def _setup_logging(store: Store) -> None:
    root = logging.getLogger()
    for handler in root.handlers:  # the CLI's console handler keeps its own threshold
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level)
    store.layout.logs.mkdir(parents=True, exist_ok=True)
    file_handler = logging.handlers.RotatingFileHandler(
        store.layout.logs / "scheduler.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"
    )
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    file_handler.setLevel(logging.INFO)
    for name in ("ingest", "apscheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(file_handler)
        logger.setLevel(logging.INFO if name == "ingest" else logging.WARNING)


def serve(runner: JobRunner, stop: threading.Event | None = None) -> int:
    """Run the jobs on their schedules until SIGTERM/SIGINT (or ``stop`` is set)."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.background import BackgroundScheduler

    config = runner.config
    stop = stop or threading.Event()
    scheduler = BackgroundScheduler(
        timezone=config.timezone,
        executors={"default": ThreadPoolExecutor(config.workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(config.misfire_grace_seconds),
        },
    )
    scheduler.add_listener(runner.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    started = now()
    for job in config.jobs:
        missed = runner.record_missed_while_down(job, started)
        options: dict[str, Any] = {}
        if job.run_at_start or missed:  # coalesced: the runs missed while down become one run now
            options["next_run_time"] = started
        if job.misfire_grace_seconds is not None:
            options["misfire_grace_time"] = int(job.misfire_grace_seconds) or None
        scheduler.add_job(
            runner.run_job,
            trigger=job.schedule.trigger(config.timezone),
            args=[job.id],
            id=job.id,
            name=job.id,
            **options,
        )

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the running jobs finish", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    scheduler.start()
    for job in scheduler.get_jobs():
        runner.set_next_run(job.id, job.next_run_time)
    runner.echo(
        f"ioc scheduler: started (pid {os.getpid()}, data dir {runner.store.layout.root}, config {config.origin}); "
        + ", ".join(f"{j.id} ({j.kind}, {j.schedule.describe()})" for j in config.jobs)
    )
    while not stop.wait(5.0):
        for job in scheduler.get_jobs():
            runner.set_next_run(job.id, job.next_run_time)
    scheduler.shutdown(wait=True)
    runner.mark_stopped()
    runner.echo("ioc scheduler: stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    from ioc.cli import UsageError
    from ioc.store import Store

    data_dir = settings.data_dir(args.data_dir)
    try:
        config = load_config(args.config, data_dir)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if args.check:
        print(f"configuration {config.origin}: {len(config.jobs)} job(s), time zone {config.timezone}")
        for job in config.jobs:
            print(f"  {job.id:<24} {job.kind:<12} {job.schedule.describe()}")
        return 0
    lock = SchedulerLock(data_dir / LOCK_NAME)
    try:
        lock.acquire()
    except LockHeld as error:
        print(f"ioc scheduler: {error}", file=sys.stderr)
        return 1
    try:
        store = Store(data_dir)
        _setup_logging(store)
        runner = JobRunner(store, config)
        if args.once:
            return runner.run_all_once()
        return serve(runner)
    finally:
        lock.release()
