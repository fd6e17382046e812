"""The scheduler's singleton lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.scheduler import LockHeld, SchedulerLock, lock_holder


def test_second_lock_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    path = tmp_path / "scheduler.lock"
    first = SchedulerLock(path)
    first.acquire()
    assert path.read_text().strip() == str(os.getpid())
    assert lock_holder(tmp_path) == os.getpid()
    with pytest.raises(LockHeld) as error:
        SchedulerLock(path).acquire()
    assert f"pid {os.getpid()}" in str(error.value) and str(path) in str(error.value)
    first.release()
    assert lock_holder(tmp_path) is None
    again = SchedulerLock(path)
    again.acquire()  # free again once released
    again.release()


def test_no_lock_file_means_no_scheduler(tmp_path: Path) -> None:
    assert lock_holder(tmp_path) is None
