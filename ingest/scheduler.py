"""``ioc scheduler``: the one process that runs the ingestion and maintenance jobs on schedule.

One scheduler per store (ioc/leader.py). Embedded store: an exclusive ``flock`` on
``DATA_DIR/scheduler.lock`` (which holds the pid) makes a second one refuse to start; the kernel
releases the lock when the process dies, even by ``kill -9``. PostgreSQL catalog
(``IOC_CATALOG_URL``): any number of processes on any nodes; the holder of a PostgreSQL advisory
lock runs the jobs, the others are standbys that retry every ``IOC_SCHEDULER_STANDBY_SECONDS``;
each scheduled run is claimed under (job id, fire time) in a ledger on the lock's connection, so a
node without the lock never runs anything and no fire time runs twice. Jobs run in APScheduler 3's
thread pool with ``max_instances=1`` and ``coalesce=True``; the loads themselves are serialised by
one in-process write lock (HTTP fetching happens outside it). Missed, skipped and failed runs are
logged to ``DATA_DIR/logs/scheduler.log`` and recorded in the store's ``job_runs`` table, and
``DATA_DIR/scheduler.state.json`` says what each job did last (the data-health page reads it).
``--once`` runs every job once, in configuration order, and exits (for cron and tests);
``--status`` says which process is active. docs/scheduler.md is the reference.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent

from ingest.durable import disk_full_line, is_disk_full
from ingest.health_record import SourceState, load_source_state, record_job_run
from ingest.jobs import (
    ConfigError,
    JobOutcome,
    JobSpec,
    SchedulerConfig,
    load_config,
)
from ingest.kinds import job_kind
from ioc import clock, settings
from ioc.cli import UsageError
from ioc.leader import (
    LOCK_NAME,
    STATE_NAME,
    LeaderConfigError,
    LeadershipLost,
    LockHeld,
    PgLeadership,
    SchedulerLock,
    is_postgres_url,
    lock_holder,
    scheduler_nodes,
)
from ioc.messages import Message, msg
from ioc.store import Store

if TYPE_CHECKING:
    from ingest.load import Auditor

log = logging.getLogger(__name__)

# how often the active scheduler checks that it still holds the PostgreSQL lock
WATCH_SECONDS = 2.0
# after losing the lock, how long running jobs may take to finish before the process exits
STEP_DOWN_GRACE_SECONDS = 5.0
# a new active waits this long before its first run, so a predecessor that lost its lock has
# noticed it (WATCH_SECONDS) and finished or abandoned its running jobs (STEP_DOWN_GRACE_SECONDS)
TAKEOVER_FENCE_SECONDS = WATCH_SECONDS + STEP_DOWN_GRACE_SECONDS + 1.0


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
    parser.add_argument(
        "--status",
        action="store_true",
        help="show which scheduler process (hostname:pid) is active and since when, and the standbys",
    )


# -- the singleton lock (embedded mode) lives in ioc/leader.py with the PostgreSQL lock -------------
__all__ = ["LOCK_NAME", "STATE_NAME", "JobRunner", "LockHeld", "SchedulerLock", "lock_holder", "run", "serve"]


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
        leader: PgLeadership | None = None,
        after_load: Callable[[Store], object] | None = None,
        audit: Auditor | None = None,
    ) -> None:
        self.store = store
        self.audit = audit  # writes each load into the product's audit log (ioc.scheduling passes it)
        # called after a run that loaded rows (the product passes alert evaluation; ingestion
        # itself knows nothing of what runs there)
        self.after_load = after_load
        # the hook runs on a thread of its own, so a job is done (and its next fire time free) as
        # soon as its load is recorded: loads that land while it runs make one more call, not many
        self._after_load_wanted = False
        self._after_load_thread: threading.Thread | None = None
        self._after_load_last: threading.Thread | None = None  # the newest, possibly still ending
        self._after_load_idle = threading.Condition()
        self.config = config
        # PostgreSQL mode: every scheduled run is claimed in the leader's run ledger first
        self.leader = leader
        self.lost = threading.Event()  # set when a claim finds the lock gone
        self.catch_up: dict[str, tuple[datetime, datetime]] = {}  # job -> (run time, fire time it stands for)
        self._running = 0
        self._running_changed = threading.Condition()
        self.write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self.environ = environ if environ is not None else os.environ
        self.echo = echo or (lambda line: print(line, flush=True))
        self.state_file = store.layout.root / STATE_NAME
        self._last_skip: dict[str, datetime] = {}
        self._states: dict[str, SourceState] = {}
        self._attempts: dict[tuple[str, int, int], int] = {}  # failed loads per file (name, size, mtime)
        self._status: dict[str, Any] = self._read_status()
        self._status.update(
            {"pid": os.getpid(), "started_at": clock.now().isoformat(), "config": config.origin}
        )
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
            self._status["updated_at"] = clock.now().isoformat()
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
        self._status["stopped_at"] = clock.now().isoformat()
        self._save_status()

    def mark_active(self, since: datetime | None) -> None:
        """Record in the status file whether (and since when) this process runs the jobs."""
        self._status["active_since"] = since.isoformat() if since else None
        self._status["node"] = self.leader.node if self.leader else None
        self._save_status()

    # one run
    def _state(self, job: JobSpec) -> SourceState:
        # this process is the only writer of its sources' state: read it from the store once
        cached = self._states.get(job.id)
        if cached is not None:
            return cached
        state = load_source_state(self.store, job.id)
        dataset, location = job_kind(job.kind).describe(job.options)
        fresh = SourceState(job.id, job.kind, dataset, location)
        if state is None:
            return fresh
        return replace(state, kind=fresh.kind, dataset=fresh.dataset, location=fresh.location)

    def _dispatch(self, job: JobSpec) -> tuple[JobOutcome, SourceState | None, SourceState | None]:
        """Run the job by its kind, chosen by name (ingest.kinds); a source with its state."""
        try:
            kind = job_kind(job.kind)
        except KeyError:  # its plug-in is gone (IOC_SOURCE_PLUGINS changed since the start)
            return JobOutcome("failed", words=msg("job.unknown_kind", kind=job.kind)), None, None
        state = self._state(job) if kind.source else None
        outcome, new = kind.run(self, job, state)
        return outcome, state, new

    def attempts(self) -> dict[tuple[str, int, int], int]:
        """Failed loads per file (name, size, mtime), kept while this process runs."""
        return self._attempts

    def forget_cache(self) -> None:
        """Read the sources' state from the store again (another node may have run them meanwhile)."""
        self._states.clear()
        self._attempts.clear()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job runs; False when some still run after ``timeout`` seconds."""
        with self._running_changed:
            return self._running_changed.wait_for(lambda: self._running == 0, timeout)

    def run_scheduled(self, job_id: str, fire_time: datetime | None = None) -> JobOutcome | None:
        """A scheduled run: claimed in the leader's ledger under (job id, fire time) before it runs.

        Returns None when the run is not made: the fire time was done already (by this node or
        the one before), it was attempted twice, or this process no longer holds the lock.
        """
        with self._running_changed:
            self._running += 1
        try:
            return self._run_scheduled(job_id, fire_time)
        finally:
            with self._running_changed:
                self._running -= 1
                self._running_changed.notify_all()

    def _run_scheduled(self, job_id: str, fire_time: datetime | None) -> JobOutcome | None:
        if self.leader is None or fire_time is None:
            return self.run_job(job_id, fire_time)
        when = fire_time.isoformat(timespec="seconds")
        if self.lost.is_set():
            log.warning("job %s: fire time %s not run: this scheduler is stepping down", job_id, when)
            return None
        try:
            attempt = self.leader.claim(job_id, fire_time)
        except LeadershipLost as error:
            log.error("job %s: fire time %s not run: %s", job_id, when, error)
            self.lost.set()
            return None
        if attempt is None:
            log.info("job %s: fire time %s already done (or attempted twice): not run again", job_id, when)
            return None
        if attempt > 1:
            log.warning(
                "job %s: fire time %s: re-running an interrupted run (attempt %d)", job_id, when, attempt
            )
        outcome = self.run_job(job_id, fire_time, attempt=attempt)
        self.leader.finish(job_id, fire_time, outcome.status)
        return outcome

    def run_job(self, job_id: str, scheduled_at: datetime | None = None, *, attempt: int = 1) -> JobOutcome:
        """Run one job now; never raises (a failure is an outcome, logged and recorded)."""
        job = self.config.job(job_id)
        started = clock.now()
        fire = scheduled_at.isoformat(timespec="seconds") if scheduled_at else "-"
        log.info("job %s: fire time %s: started (attempt %d)", job_id, fire, attempt)
        old: SourceState | None = None
        new: SourceState | None = None
        try:
            outcome, old, new = self._dispatch(job)
        except Exception as error:
            if is_disk_full(error):  # one line: the disk is full, not a bug
                text = disk_full_line(error)
                log.error("job %s failed: %s", job_id, text)
                outcome = JobOutcome("failed", words=msg("job.disk_full", error=text))
            else:
                log.exception("job %s failed", job_id)
                outcome = JobOutcome(
                    "failed", words=msg("job.error", error=f"{type(error).__name__}: {error}")
                )
        finished = clock.now()
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
        log.log(level, "job %s: fire time %s: %s %s", job_id, fire, outcome.status, outcome.message)
        if outcome.noteworthy:
            self.echo(f"{job_id}: {outcome.status}" + (f": {outcome.message}" if outcome.message else ""))
        if self.after_load is not None and outcome.rows_loaded > 0:
            self._after_load_soon()
        self._save_status(
            job_id,
            last_run=started.isoformat(),
            last_finished=finished.isoformat(),
            last_status=outcome.status,
            last_message=outcome.message[:500],
        )
        return outcome

    def record_event(self, job_id: str, status: str, words: Message, scheduled_at: datetime | None) -> None:
        """Record a run that did not happen (missed, skipped) or escaped the job's own handling."""
        message = str(words)
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
                    JobOutcome(status, words=words),
                    scheduled_at=scheduled_at,
                    started_at=clock.now(),
                    finished_at=clock.now(),
                )
        except Exception as error:
            log.error("job %s: cannot record the %s run: %s", job_id, status, error)
        self._save_status(
            job_id, last_event=status, last_event_at=clock.now().isoformat(), last_event_message=message
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
                msg(
                    "job.missed_while_down",
                    count=missed,
                    start=first.isoformat(timespec="seconds") if first else "?",
                    end=until.isoformat(timespec="seconds"),
                ),
                first,
            )
        return missed

    # apscheduler listener
    def on_event(self, event: JobEvent) -> None:
        scheduled = getattr(event, "scheduled_run_time", None)
        if scheduled is None:  # a submission event (max instances) carries a list of run times
            scheduled = (getattr(event, "scheduled_run_times", None) or [None])[-1]
        when = scheduled.isoformat(timespec="seconds") if scheduled else "?"
        if event.code == EVENT_JOB_MISSED:
            self.record_event(event.job_id, "missed", msg("job.missed", when=when), scheduled)
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            # a long load skips many short intervals: record the first skip of each long run only
            last = self._last_skip.get(event.job_id)
            self._last_skip[event.job_id] = clock.now()
            if last is not None and clock.now() - last < timedelta(minutes=10):
                log.info("job %s: run due at %s skipped (previous run still going)", event.job_id, when)
                return
            self.record_event(
                event.job_id,
                "skipped",
                msg("job.skipped", when=when),
                scheduled,
            )
        elif event.code == EVENT_JOB_ERROR:
            self.record_event(
                event.job_id,
                "failed",
                msg("job.raised", when=when, error=repr(getattr(event, "exception", ""))),
                scheduled,
            )

    def run_all_once(self) -> int:
        worst = 0
        for job in self.config.jobs:
            outcome = self.run_job(job.id, clock.now())
            if outcome.status in ("failed", "partial"):
                worst = 1
        self.wait_after_load()
        return worst

    # -- the after-load hook ----------------------------------------------------------------------
    def _after_load_soon(self) -> None:
        """Call the after-load hook on its own thread (started when needed, gone when idle)."""
        with self._after_load_idle:
            self._after_load_wanted = True
            if self._after_load_thread is None:
                self._after_load_thread = threading.Thread(
                    target=self._after_load_loop, name="after-load", daemon=True
                )
                self._after_load_last = self._after_load_thread
                self._after_load_thread.start()

    def _after_load_loop(self) -> None:
        assert self.after_load is not None
        while True:
            with self._after_load_idle:
                if not self._after_load_wanted:
                    self._after_load_thread = None
                    self._after_load_idle.notify_all()
                    return
                self._after_load_wanted = False
            try:
                self.after_load(self.store)
            except Exception:  # the hook's failure never fails a job
                log.exception("the after-load hook failed")

    def wait_after_load(self, timeout: float | None = None) -> bool:
        """Wait until the after-load hook has handled every load so far and its thread has ended
        (False on time-out).

        Joining matters at exit: the thread says it is idle just before it returns, and its
        thread-local DuckDB cursor is freed as it ends. A process exiting in between (``--once``)
        stopped that daemon thread inside DuckDB's C++ code: "terminate called without an active
        exception" and SIGABRT, about one run in five."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._after_load_idle:
            if not self._after_load_idle.wait_for(lambda: self._after_load_thread is None, timeout):
                return False
            last = self._after_load_last
        if last is not None:
            last.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            return not last.is_alive()
        return True


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


def _executor(runner: JobRunner, workers: int) -> Any:
    """APScheduler's thread pool, passing each run's scheduled fire time to the job.

    APScheduler 3 does not tell a job when it was due; the run ledger needs it (runs are keyed by
    job id + fire time). With ``coalesce`` a submission carries one run time: the latest due.
    A catch-up run at start stands for an earlier fire time (``runner.catch_up``).
    """
    # APScheduler's executor only when the scheduler runs: `ioc ingest` imports this module
    from apscheduler.executors.pool import ThreadPoolExecutor

    class FireTimeExecutor(ThreadPoolExecutor):  # type: ignore[misc]
        def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
            fire = run_times[-1]
            standing_for = runner.catch_up.get(job.id)
            if standing_for is not None and standing_for[0] == fire:
                runner.catch_up.pop(job.id, None)
                fire = standing_for[1]
            super()._do_submit_job(_WithFireTime(job, fire), run_times[-1:])

    return FireTimeExecutor(workers)


class _WithFireTime:
    """An APScheduler job seen through ``run_job``: the same job, with its fire time as an argument."""

    def __init__(self, job: Any, fire_time: datetime) -> None:
        self._job = job
        self.kwargs = {**job.kwargs, "fire_time": fire_time}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._job, name)

    def __str__(self) -> str:
        return str(self._job)


def _due_fire_times(job: JobSpec, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """The job's fire times in (after, until], at most 100,000 (the latest ones kept)."""
    trigger = job.schedule.trigger(timezone)
    found: list[datetime] = []
    fire = trigger.get_next_fire_time(after, after + timedelta(microseconds=1))
    while fire is not None and fire <= until:
        found.append(fire)
        if len(found) > 100_000:
            del found[:50_000]
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return found


def _plan_takeover(runner: JobRunner, started: datetime) -> dict[str, datetime]:
    """Which jobs run at once when this process becomes active (PostgreSQL mode), from the ledger.

    Per job, with L the latest fire time the ledger knows:
    - the fire times due since L (the handover gap) are coalesced into one run now, keyed by the
      latest of them; those past their misfire grace are recorded as one ``missed`` row;
    - if L itself was interrupted (claimed, never finished, attempted once), it is re-run now;
    - a job the ledger has never seen runs now when ``run_at_start`` (keyed by its latest fire time).
    Returns job id -> the fire time the run at start stands for.
    """
    assert runner.leader is not None
    config = runner.config
    last_runs = runner.leader.last_runs()
    plan: dict[str, datetime] = {}
    for job in config.jobs:
        last = last_runs.get(job.id)
        if last is None:
            if job.run_at_start:  # keyed by the latest fire time, or the start when none is near
                period = timedelta(seconds=2 * job.schedule.period_seconds(config.timezone, started))
                recent = _due_fire_times(job, config.timezone, started - period, started)
                plan[job.id] = recent[-1] if recent else started.replace(microsecond=0)
            continue
        fire, status, attempts = last
        due = _due_fire_times(job, config.timezone, fire, started)
        grace = timedelta(seconds=job.misfire_grace_seconds or config.misfire_grace_seconds)
        if due:
            plan[job.id] = due[-1]
            late = [f for f in due if f + grace < started]
            if late:
                runner.record_event(
                    job.id,
                    "missed",
                    msg(
                        "job.coalesced",
                        count=len(late),
                        start=late[0].isoformat(timespec="seconds"),
                        end=late[-1].isoformat(timespec="seconds"),
                        at=started.isoformat(timespec="seconds"),
                    ),
                    late[0],
                )
        elif status == "running" and attempts < 2:
            plan[job.id] = fire  # interrupted by the death of the previous active: re-run once
            runner.echo(
                f"{job.id}: re-running the run due at {fire.isoformat(timespec='seconds')}, interrupted"
            )
    return plan


def _serve_term(runner: JobRunner, stop: threading.Event) -> bool:
    """Run the jobs until ``stop`` is set (returns False) or the lock is lost (returns True)."""
    # APScheduler's scheduler (~70 modules) only when it runs: `ioc ingest` imports this module
    from apscheduler.schedulers.background import BackgroundScheduler

    config = runner.config
    leader = runner.leader
    scheduler = BackgroundScheduler(
        timezone=config.timezone,
        executors={"default": _executor(runner, config.workers)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": int(config.misfire_grace_seconds),
        },
    )
    scheduler.add_listener(runner.on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    started = clock.now()
    runner.lost.clear()
    runner.catch_up.clear()
    runner.forget_cache()
    try:
        plan = _plan_takeover(runner, started) if leader is not None else {}
    except LeadershipLost as error:
        log.error("lost the scheduler lock before the first run: %s", error)
        return True
    for job in config.jobs:
        options: dict[str, Any] = {}
        if leader is not None:
            if job.id in plan:
                options["next_run_time"] = started
                runner.catch_up[job.id] = (started, plan[job.id])
        else:
            missed = runner.record_missed_while_down(job, started)
            if job.run_at_start or missed:  # coalesced: the runs missed while down become one run now
                options["next_run_time"] = started
        if job.misfire_grace_seconds is not None:
            options["misfire_grace_time"] = int(job.misfire_grace_seconds) or None
        scheduler.add_job(
            runner.run_scheduled,
            trigger=job.schedule.trigger(config.timezone),
            args=[job.id],
            id=job.id,
            name=job.id,
            **options,
        )
    scheduler.start()
    for job in scheduler.get_jobs():
        runner.set_next_run(job.id, job.next_run_time)
    lost = False
    last_status = 0.0
    while not stop.wait(WATCH_SECONDS if leader is not None else 1.0):
        if leader is not None:
            try:
                leader.check()
            except LeadershipLost as error:
                log.error("%s", error)
                runner.lost.set()
        if runner.lost.is_set():
            lost = True
            break
        if time.monotonic() - last_status >= 5.0:
            last_status = time.monotonic()
            for job in scheduler.get_jobs():
                runner.set_next_run(job.id, job.next_run_time)
    if not lost and leader is None:
        scheduler.shutdown(wait=True)
        runner.wait_after_load(STEP_DOWN_GRACE_SECONDS)  # the last load's alerts, briefly
        return False
    if not lost and leader is not None:
        # stopping: the running jobs finish, while the lock session keeps answering (a silent one
        # would be taken for frozen and ended by a standby)
        scheduler.shutdown(wait=False)
        while not runner.wait_idle(WATCH_SECONDS):
            try:
                leader.check()
            except LeadershipLost as error:
                log.error("%s", error)
                lost = True
                break
        if not lost:
            runner.wait_after_load(STEP_DOWN_GRACE_SECONDS)
            return False
    # step down: start nothing more, let the running jobs finish briefly, else stop the process
    # (an unfinished load never commits, and the ledger keeps its run 'running': re-run once)
    runner.lost.set()
    if scheduler.running:
        scheduler.shutdown(wait=False)
    if not runner.wait_idle(STEP_DOWN_GRACE_SECONDS):
        log.critical("lost the scheduler lock while jobs still run: exiting so they cannot go on")
        runner.echo("ioc scheduler: lost the lock while jobs still run: exiting (status 3)")
        logging.shutdown()
        os._exit(3)
    return True


def serve(runner: JobRunner, stop: threading.Event | None = None) -> int:
    """Run the jobs on their schedules until SIGTERM/SIGINT (or ``stop`` is set).

    Embedded mode: this process holds the flock already and is the active scheduler throughout.
    PostgreSQL mode (``runner.leader``): a standby until it takes the advisory lock (tried every
    ``scheduler_standby_seconds``), then active until it stops or loses the lock, then a standby
    again.
    """
    stop = stop or threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after the running jobs finish", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
    config = runner.config
    described = ", ".join(f"{j.id} ({j.kind}, {j.schedule.describe()})" for j in config.jobs)
    leader = runner.leader
    if leader is None:
        runner.mark_active(clock.now())
        runner.echo(
            f"ioc scheduler: started (pid {os.getpid()}, data dir {runner.store.layout.root}, "
            f"config {config.origin}); {described}"
        )
        _serve_term(runner, stop)
    else:
        standby = float(settings.get("scheduler_standby_seconds"))
        if standby <= 0:
            raise LeaderConfigError(
                f"scheduler_standby_seconds (IOC_SCHEDULER_STANDBY_SECONDS) must be positive, got {standby:g}"
            )
        runner.echo(
            f"ioc scheduler: started as {leader.node} (data dir {runner.store.layout.root}, config "
            f"{config.origin}; PostgreSQL lock, standby retry every {standby:g}s); {described}"
        )
        waiting = True
        while not stop.is_set():
            if not leader.try_acquire():
                if waiting:
                    runner.echo(f"ioc scheduler: standby ({leader.node}): another scheduler is active")
                    waiting = False
                stop.wait(standby)
                continue
            since = leader.since or datetime.now().astimezone()
            runner.echo(f"ioc scheduler: active ({leader.node}) since {since.isoformat(timespec='seconds')}")
            log.warning("scheduler %s: active since %s", leader.node, since.isoformat(timespec="seconds"))
            # a predecessor that lost its lock needs a moment to notice and stop (see the constants)
            if stop.wait(TAKEOVER_FENCE_SECONDS):
                break
            runner.mark_active(since)
            if _serve_term(runner, stop):
                runner.echo(f"ioc scheduler: lost the lock ({leader.node}): stepped down, standby again")
                log.warning("scheduler %s: stepped down", leader.node)
                runner.mark_active(None)
                waiting = True
                # the node that lost its connection is the likelier one to be unwell: let the others
                # try first
                stop.wait(standby)
        leader.step_down()
    runner.mark_stopped()
    runner.echo("ioc scheduler: stopped")
    return 0


def show_status(data_dir: Path, catalog_url: str) -> int:
    """``ioc scheduler --status``: the scheduler processes of this store, the active one first."""
    try:
        nodes = scheduler_nodes(data_dir, catalog_url)
    except Exception as error:  # noqa: BLE001 - any connection failure is reported the same way
        print(f"ioc scheduler: cannot read the scheduler lock: {error}", file=sys.stderr)
        return 1
    mode = "PostgreSQL advisory lock" if is_postgres_url(catalog_url) else f"flock on {data_dir / LOCK_NAME}"
    if not nodes:
        print(f"no scheduler is running ({mode})")
        return 1
    for node in nodes:
        since = node.since.astimezone().isoformat(timespec="seconds") if node.since else "?"
        print(f"{node.role:<8} {node.node}  since {since}  ({mode})")
    return 0 if any(n.role == "active" for n in nodes) else 1


def run(
    args: argparse.Namespace,
    after_load: Callable[[Store], object] | None = None,
    audit: Auditor | None = None,
) -> int:
    """``ioc scheduler``; ``after_load(store)`` runs after every run that loaded rows, ``audit``
    writes every load into the product's audit log."""
    # heavy: the readers' pyarrow, openpyxl and numpy (~300 modules, 0.5 s) only when running
    from ingest.load import recover_interrupted

    data_dir = settings.data_dir(args.data_dir)
    catalog_url = str(settings.get("catalog_url") or "")
    if getattr(args, "status", False):
        return show_status(data_dir, catalog_url)
    try:
        config = load_config(args.config, data_dir)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    if args.check:
        print(f"configuration {config.origin}: {len(config.jobs)} job(s), time zone {config.timezone}")
        for job in config.jobs:
            print(f"  {job.id:<24} {job.kind:<12} {job.schedule.describe()}")
        return 0
    if is_postgres_url(catalog_url):
        return _run_clustered(args, data_dir, config, catalog_url, after_load, audit)
    lock = SchedulerLock(data_dir / LOCK_NAME)
    try:
        lock.acquire()
    except LockHeld as error:
        print(f"ioc scheduler: {error}", file=sys.stderr)
        return 1
    try:
        store = Store(data_dir)
        _setup_logging(store)
        recover_interrupted(store, audit)  # loads a killed scheduler left unfinished
        runner = JobRunner(store, config, after_load=after_load, audit=audit)
        if args.once:
            return runner.run_all_once()
        return serve(runner)
    finally:
        lock.release()


def _run_clustered(
    args: argparse.Namespace,
    data_dir: Path,
    config: SchedulerConfig,
    url: str,
    after_load: Callable[[Store], object] | None = None,
    audit: Auditor | None = None,
) -> int:
    """PostgreSQL mode: any number of processes on any nodes; the lock holder runs the jobs."""
    # heavy: the readers' pyarrow, openpyxl and numpy (~300 modules, 0.5 s) only when running
    from ingest.load import recover_interrupted

    try:
        leader = PgLeadership(url)
    except LeaderConfigError as error:
        raise UsageError(str(error)) from None
    if args.once:
        # a one-off run must not overlap the active scheduler: take the lock or refuse
        if not leader.try_acquire(role="once"):
            active = next((n for n in _nodes_or_empty(data_dir, url) if n.role == "active"), None)
            who = (
                f"{active.node} since {active.since.isoformat(timespec='seconds') if active.since else '?'}"
                if active
                else "?"
            )
            print(
                f"ioc scheduler: another scheduler ({who}) holds the PostgreSQL lock of this store; "
                "--once runs only when none is active",
                file=sys.stderr,
            )
            leader.close()
            return 1
        try:
            store = Store(data_dir)
            _setup_logging(store)
            recover_interrupted(store, audit)
            return JobRunner(store, config, after_load=after_load, audit=audit).run_all_once()
        finally:
            leader.step_down()
    store = Store(data_dir)
    _setup_logging(store)
    recover_interrupted(store, audit)  # this node's loads a killed scheduler left unfinished
    runner = JobRunner(store, config, leader=leader, after_load=after_load, audit=audit)
    try:
        return serve(runner)
    except LeaderConfigError as error:
        raise UsageError(str(error)) from None


def _nodes_or_empty(data_dir: Path, url: str) -> list[Any]:
    try:
        return scheduler_nodes(data_dir, url)
    except Exception:  # noqa: BLE001 - only used to name the holder in a message
        return []
