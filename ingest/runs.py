"""Runs in flight: a marker per load, so a load that was killed is found and recorded.

Each load writes ``DATA_DIR/runs/<run_id>.json`` before it starts and holds an exclusive lock on
it (``flock``) until it has recorded its outcome, then removes it. The operating system drops
the lock of a process that dies, however it dies (kill -9, a crash, a power cut), so a marker
whose lock can be taken belongs to a run that will never finish: the next start
(:func:`recover`, called by ``ioc ingest`` and ``ioc scheduler``) records it as ``interrupted``
in the run log and the audit log, and moves the marker to ``runs/interrupted/``; a load that
failed on a full disk moves its own marker there. The next maintenance (:func:`remove_orphans`)
then deletes the data files such runs left, whatever their age, and reports how many.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ioc.messages import msg
from ioc.store import CATALOG_NAME, Store

log = logging.getLogger(__name__)

INTERRUPTED = msg("run.interrupted")
INTERRUPTED_TEXT = str(INTERRUPTED)


def folder(store: Store) -> Path:
    return store.layout.root / "runs"


@dataclass
class Marker:
    """A run in flight, held by its process until the run is recorded."""

    path: Path
    handle: TextIO | None

    def end(self, ending: str = "recorded") -> None:
        """The run is over. ``recorded``: the marker goes. ``disk full``: it goes to the next
        maintenance, which removes the files the run may have half written. ``unrecorded``: it
        stays, unlocked, so the next start records the run as interrupted."""
        if self.handle is None:
            return
        try:
            if ending == "disk full":
                _to_maintenance(self.path, json.loads(self.path.read_text(encoding="utf-8") or "{}"))
            elif ending != "unrecorded":
                self.path.unlink(missing_ok=True)
        except (OSError, ValueError) as error:
            log.warning("cannot clear the marker %s: %s", self.path, error)
        finally:
            self.handle.close()
            self.handle = None


def begin(store: Store, run_id: str, **fields: Any) -> Marker:
    """Mark a run as in flight. A marker that cannot be written (a full disk) is logged in one
    line and the run goes on: it then fails at its own first write."""
    path = folder(store) / f"{run_id}.json"
    entry = {"run_id": run_id, "pid": os.getpid(), "started_at": dt.datetime.now(dt.UTC).isoformat()}
    entry.update(fields)
    handle: TextIO | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("a+", encoding="utf-8")
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.write(json.dumps(entry, default=str))
        handle.flush()
    except OSError as error:
        log.warning("cannot mark run %s as in flight: %s", run_id, error)
        if handle is not None:
            handle.close()
            path.unlink(missing_ok=True)
        return Marker(path, None)
    return Marker(path, handle)


def _abandoned(path: Path) -> dict[str, Any] | None:
    """The marker's run if no process holds it any more, else None."""
    try:
        handle = path.open("r", encoding="utf-8")
    except OSError:
        return None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # its process is alive and still loading
        try:
            entry = json.loads(handle.read() or "{}")
        except ValueError:
            entry = {}
    entry.setdefault("run_id", path.stem)
    return entry if isinstance(entry, dict) else {"run_id": path.stem}


def recover(
    store: Store,
    record: Callable[[dict[str, Any]], bool],
    audit: Callable[[dict[str, Any]], None] | None = None,
) -> list[str]:
    """Record every abandoned run as interrupted; the run ids found.

    ``record`` writes the run-log row (ingest.load; False when the run had recorded its outcome
    after all), ``audit`` the audit row; the marker moves to ``runs/interrupted/`` for the next
    maintenance to remove the run's orphan files."""
    found: list[str] = []
    markers = sorted(folder(store).glob("*.json")) if folder(store).exists() else []
    for path in markers:
        entry = _abandoned(path)
        if entry is None:
            continue
        try:
            interrupted = record(entry)
        except Exception as error:
            log.error("cannot record the interrupted run %s: %s", entry["run_id"], error)
            continue  # tried again at the next start
        if not interrupted:  # it died after recording its outcome: nothing is missing
            path.unlink(missing_ok=True)
            continue
        if audit is not None:
            try:
                audit(entry)
            except Exception as error:
                log.error("cannot audit the interrupted run %s: %s", entry["run_id"], error)
        _to_maintenance(path, entry)
        log.warning("run %s (%s) was interrupted; recorded", entry["run_id"], entry.get("file_name", "?"))
        found.append(str(entry["run_id"]))
    return found


def _to_maintenance(path: Path, entry: dict[str, Any]) -> None:
    """Move a run's marker to ``interrupted/``: the next maintenance removes the files it left."""
    pending = path.parent / "interrupted" / path.name
    pending.parent.mkdir(parents=True, exist_ok=True)
    entry["interrupted_found_at"] = dt.datetime.now(dt.UTC).isoformat()
    pending.write_text(json.dumps(entry, default=str), encoding="utf-8")
    path.unlink(missing_ok=True)


def in_flight_since(store: Store) -> dt.datetime | None:
    """When the oldest run still in flight (its process alive) started; None if none is."""
    oldest: dt.datetime | None = None
    markers = sorted(folder(store).glob("*.json")) if folder(store).exists() else []
    for path in markers:
        if _abandoned(path) is not None:
            continue
        try:
            started = dt.datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            started = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        oldest = started if oldest is None else min(oldest, started)
    return oldest


# Writers other than loads (the scheduler's own bookkeeping, `ioc alerts evaluate`) keep no
# marker; their transactions last well under this, and their files are younger.
GUARD = dt.timedelta(seconds=10)


def remove_orphans(store: Store) -> tuple[int, int]:
    """After interrupted runs: delete every data file the catalog does not know, whatever its age,
    except those a run still in flight may be writing. Returns (files removed, runs cleared)."""
    pending_dir = folder(store) / "interrupted"
    pending = sorted(pending_dir.glob("*.json")) if pending_dir.exists() else []
    if not pending:
        return 0, 0
    cutoff = dt.datetime.now(dt.UTC) - GUARD
    since = in_flight_since(store)
    if since is not None:  # a load in flight in another process keeps its files
        cutoff = min(cutoff, since)
    removed = (
        store.cursor()
        .execute(f"CALL ducklake_delete_orphaned_files('{CATALOG_NAME}', older_than => ?)", [cutoff])
        .fetchall()
    )
    cleared = 0
    for path in pending:
        # the killed process had stopped when its run was found: every file of it is older
        try:
            found = dt.datetime.fromisoformat(
                json.loads(path.read_text(encoding="utf-8"))["interrupted_found_at"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            found = cutoff
        if found <= cutoff:
            path.unlink(missing_ok=True)
            cleared += 1
    return len(removed), cleared
