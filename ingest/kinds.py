"""Kinds of scheduled jobs, registered like plug-ins by name (the built-in ones included).

A job's ``kind`` in the scheduler's configuration names a :class:`JobKind`; the kind parses the
job's own options and runs it. Ingestion's kinds (``drop_folder``, ``http_json``,
``maintenance``) live in the modules of :data:`DEFAULT_PLUGINS`; the product registers its own
(``notify``, ``reports``: ioc/jobs.py, imported by ``ioc scheduler``) and more modules can be named
in the ``source_plugins`` setting (``IOC_SOURCE_PLUGINS``, comma-separated): each is imported and
registers its classes with :func:`register`, exactly like the built-ins do. A kind with a
``default_job`` adds that job to the configuration used when no file is given.
Adding a source is one class in one module (docs/ingestion.md).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ioc import settings

if TYPE_CHECKING:
    from ingest.health_record import SourceState
    from ingest.jobs import JobOutcome, JobSpec, SchedulerConfig, _Reader
    from ingest.load import Auditor
    from ioc.store import Store

DEFAULT_PLUGINS = ("ingest.jobs", "ingest.sources")

_KINDS: dict[str, JobKind] = {}
_LOCK = threading.Lock()


class Runner(Protocol):
    """What a job kind may use of the scheduler that runs it (ingest.scheduler.JobRunner)."""

    @property
    def store(self) -> Store: ...
    @property
    def config(self) -> SchedulerConfig: ...
    @property
    def write_lock(self) -> Any: ...  # a threading.Lock: the store writes of one process take turns
    @property
    def environ(self) -> Mapping[str, str]: ...
    @property
    def echo(self) -> Callable[[str], None]: ...
    @property
    def audit(self) -> Auditor | None: ...  # writes a load into the product's audit log (or nothing)

    def attempts(self) -> dict[tuple[str, int, int], int]: ...


class JobKind:
    """One kind of job. A *source* (``source = True``) loads data and keeps a state in the store
    (files seen, a cursor); the others (maintenance, deliveries) keep none."""

    name: ClassVar[str] = ""
    source: ClassVar[bool] = False
    run_at_start: ClassVar[bool] = True  # run once when the scheduler starts, unless configured
    # the job this kind adds to the built-in configuration (no file given): its table without
    # the kind, e.g. {"id": "inbox", "schedule": {"every": "30s"}}; None: no built-in job
    default_job: ClassVar[Mapping[str, Any] | None] = None

    def parse(self, reader: _Reader, data_dir: Path) -> Any:
        """The job's options from its configuration table; unknown keys are errors."""
        return None

    def describe(self, options: Any) -> tuple[str | None, str | None]:
        """(dataset, location) of a source, as the data-health record shows them."""
        return None, None

    def inbox(self, options: Any) -> Path | None:
        """The folder the job watches, if any (two jobs never watch one; maintenance prunes it)."""
        return None

    def run(
        self, runner: Runner, job: JobSpec, state: SourceState | None
    ) -> tuple[JobOutcome, SourceState | None]:
        """Run the job once: its outcome and, for a source, its new state."""
        raise NotImplementedError


def register(cls: type[JobKind]) -> type[JobKind]:
    """Class decorator: make ``cls`` available as job ``kind`` ``cls.name``."""
    if not cls.name:
        raise ValueError(f"job kind {cls.__qualname__} has no name")
    with _LOCK:
        existing = _KINDS.get(cls.name)
        if existing is not None and type(existing).__qualname__ != cls.__qualname__:
            raise ValueError(
                f"job kind {cls.name!r} is registered twice ({type(existing).__qualname__}, {cls.__qualname__})"
            )
        _KINDS[cls.name] = cls()
    return cls


def job_kinds(extra: str | None = None) -> Mapping[str, JobKind]:
    """Import the built-in and configured plug-in modules; every registered kind by name."""
    names = list(DEFAULT_PLUGINS)
    configured = settings.get("source_plugins", extra) or ""
    names += [n.strip() for n in configured.split(",") if n.strip()]
    for name in names:
        importlib.import_module(name)
    return dict(_KINDS)


def job_kind(name: str) -> JobKind:
    return job_kinds()[name]
