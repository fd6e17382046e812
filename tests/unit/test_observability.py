"""The /metrics scrape under gunicorn reads every worker's metrics file; a file a worker is still
creating (0 bytes for a moment) or writing must not turn the whole answer into a 500."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from ioc.observability import WorkerFiles


def _counter_file(folder: Path, pid: int, value: float) -> None:
    counts = MmapedDict(str(folder / f"counter_{pid}.db"))
    key = mmap_key("ioc_things", "ioc_things_total", ["kind"], ["school"], "Things counted")
    counts.write_value(key, value, 0.0)
    counts.close()


def _scrape(folder: Path) -> str:
    registry = CollectorRegistry()
    WorkerFiles(registry, str(folder))
    return generate_latest(registry).decode()


def test_the_workers_figures_are_added_up(tmp_path: Path) -> None:
    _counter_file(tmp_path, 101, 2)
    _counter_file(tmp_path, 102, 5)
    assert 'ioc_things_total{kind="school"} 7.0' in _scrape(tmp_path)


def test_a_file_being_created_is_left_out_of_the_scrape(tmp_path: Path) -> None:
    _counter_file(tmp_path, 101, 2)
    (tmp_path / "counter_103.db").write_bytes(b"")  # a worker between creating and sizing it
    (tmp_path / "histogram_103.db").write_bytes(b"\x00\x00")
    assert 'ioc_things_total{kind="school"} 2.0' in _scrape(tmp_path)


def test_an_unreadable_file_costs_its_own_figures_only_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _counter_file(tmp_path, 101, 2)
    _counter_file(tmp_path, 102, 5)
    broken = tmp_path / "counter_102.db"
    data = bytearray(broken.read_bytes())
    data[0:4] = (10**6).to_bytes(4, "little")  # claims more than the file holds
    broken.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="ioc.observability"):
        text = _scrape(tmp_path)
    assert 'ioc_things_total{kind="school"} 2.0' in text
    assert "counter_102.db" in caplog.text and "left out of this scrape" in caplog.text
