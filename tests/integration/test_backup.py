"""A store that moves (issue 13): a copied data directory opens where it lies; `ioc backup` while
another process keeps loading, the store wiped, `ioc restore` to another path: every KPI answer is
the backed-up one, and time travel to the backed-up snapshots works. `ioc store repoint` records
where the files are now."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ioc.metrics.engine import compute
from ioc.metrics.errors import QueryError
from ioc.store import Store, StoreError
from tests.integration.cluster.store_answers import assert_same_answers, questions, seed_module

ROOT = Path(__file__).resolve().parents[2]
IOC = [sys.executable, "-m", "ioc.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    env.update(PYTHONPATH=str(ROOT), **extra)
    return env


def _ioc(*args: str, ok: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*IOC, *args], env=env or _env(), capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    if ok:
        assert result.returncode == 0, result.stderr + result.stdout
    return result


def answers_at(store: Store, snapshot: int | None) -> dict[Any, Any]:
    """Every question of the store tests, at data version ``snapshot`` (None: the latest)."""
    out: dict[Any, Any] = {}
    for q in questions():
        try:
            result: Any = compute(store, replace(q, snapshot=snapshot)).to_json()
            result.pop("data_version")
        except QueryError as error:
            result = ("error", error.param, error.message)
        out[q] = result
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("backup-seed") / "data"
    seed_module().build(data_dir).close()
    return data_dir


def _copy_of(seeded: Path, folder: Path) -> Path:
    data_dir = folder / "data"
    shutil.copytree(seeded, data_dir)
    return data_dir


def test_a_copied_data_directory_opens_where_it_lies_and_repoint_records_it(
    seeded: Path, tmp_path: Path
) -> None:
    original = _copy_of(seeded, tmp_path / "first")
    store = Store(original, read_only=True)
    earlier = store.data_version() - 4
    expected, expected_earlier = answers_at(store, None), answers_at(store, earlier)
    store.close()
    moved = tmp_path / "second" / "data"
    shutil.copytree(original, moved)
    shutil.rmtree(original)  # the old path is gone: nothing may be read from it
    store = Store(moved, read_only=True)
    try:
        assert_same_answers(expected, answers_at(store, None), rel=1e-12)
        assert_same_answers(expected_earlier, answers_at(store, earlier), rel=1e-12)  # time travel
    finally:
        store.close()
    info = _ioc("store", "info", "--data-dir", str(moved)).stdout
    assert f"data path:      {moved}/lake/files/" in info
    assert f"(the catalog names {seeded}/lake/files/" in info  # where the store was created

    out = _ioc("store", "repoint", "--data-dir", str(moved)).stdout
    assert f"data path: {seeded}/lake/files/ -> {moved}/lake/files/" in out
    assert "the catalog names" not in _ioc("store", "info", "--data-dir", str(moved)).stdout
    # re-pointing to a folder without the files changes nothing
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = _ioc("store", "repoint", "--data-dir", str(moved), "--data-path", str(empty), ok=False)
    assert refused.returncode == 1
    assert "data files the catalog names are not in" in refused.stderr and "nothing changed" in refused.stderr
    assert "the catalog names" not in _ioc("store", "info", "--data-dir", str(moved)).stdout


def loader(data_dir: str, log: str, stop: str) -> None:
    """Another process committing a probe load again and again (as the scheduler does), logging
    each commit's time and data version, until ``stop`` exists."""
    from ingest.load import ingest_paths

    store = Store(data_dir)
    folder = Path(log).parent / "drops"
    folder.mkdir(exist_ok=True)
    i = 0
    while not Path(stop).exists():
        i += 1
        path = folder / f"connectivity_2026-11-20_{i:04d}.csv"
        minute = f"{10 + i // 60:02d}:{i % 60:02d}"
        path.write_text(
            "measured_at,school_id,download_mbps,upload_mbps,latency_ms,online\n"
            f"2026-11-20T{minute}:00+07:00,S1,{20 + i % 7},5,30,true\n"
            f"2026-11-20T{minute}:00+07:00,S2,{3 + i % 5},1,80,true\n",
            encoding="utf-8",
        )
        (result,) = ingest_paths(store, [path], source="scheduler")
        assert result.status == "loaded", result
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{time.time()} {store.data_version()}\n")
    store.close()


def _commits(log: Path) -> list[tuple[float, int]]:
    if not log.exists():
        return []
    return [(float(a), int(b)) for a, b in (line.split() for line in log.read_text().splitlines())]


def test_backup_while_loading_wipe_restore_elsewhere_same_answers_and_time_travel(
    seeded: Path, tmp_path: Path
) -> None:
    live = _copy_of(seeded, tmp_path / "live")
    # an account, so the backup has accounts to carry (loads alone write none: ingestion's audit
    # record is the CLI's and the scheduler's callback, not the loader's here)
    from ioc.auth import accounts
    from ioc.auth.db import open_db

    accounts.add(open_db(live), "officer.backup", "leadership", "a long enough password 1")
    log, stop = tmp_path / "commits.log", tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, __file__, "loader", str(live), str(log), str(stop)], env=_env(), cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 120
        while len(_commits(log)) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "the loader does not load"
            time.sleep(0.1)
        # a backup during which the loader committed (the seed store's backup is quick: try again)
        for attempt in range(10):
            dest = tmp_path / f"backup-{attempt}"
            started = time.time()
            out = _ioc("backup", str(dest), "--data-dir", str(live)).stdout
            ended = time.time()
            if any(started < at < ended for at, _ in _commits(log)):
                break
            shutil.rmtree(dest)
        else:
            pytest.fail("no load committed during any of 10 backups")
        time.sleep(1)  # and after it
    finally:
        stop.touch()
        proc.wait(60)
    assert proc.returncode == 0
    assert "time travel included" in out and "data files" in out

    manifest = json.loads((dest / "ioc-backup.json").read_text())
    backed_up = manifest["data_version"]
    store = Store(live, read_only=True)
    try:
        assert store.data_version() > backed_up  # loads went on after the catalog copy
        expected = answers_at(store, backed_up)
        earlier = backed_up - 3  # a snapshot of the time before, held by the backup's catalog
        expected_earlier = answers_at(store, earlier)
    finally:
        store.close()
    assert expected != expected_earlier  # the loads in between changed answers (uptime)

    shutil.rmtree(live)  # wiped
    elsewhere = tmp_path / "another" / "place" / "data"
    restored_text = _ioc("restore", str(dest), "--data-dir", str(elsewhere)).stdout
    assert f"into {elsewhere}; data files in {elsewhere}/lake/files/" in restored_text
    assert f"it opens at data version {backed_up}" in restored_text

    store = Store(elsewhere, read_only=True)
    try:
        assert store.data_version() == backed_up
        assert_same_answers(expected, answers_at(store, None), rel=1e-12)
        assert_same_answers(expected_earlier, answers_at(store, earlier), rel=1e-12)
        assert_same_answers(expected, answers_at(store, backed_up), rel=1e-12)
    finally:
        store.close()
    # the accounts and the archive came along
    assert accounts.get(open_db(elsewhere), "officer.backup") is not None
    assert sorted(p.name for p in (elsewhere / "archive").rglob("*.csv")) == sorted(
        p.name for p in (dest / "archive").rglob("*.csv")
    )

    # a second restore over it is refused; with --force what was there is moved aside
    again = _ioc("restore", str(dest), "--data-dir", str(elsewhere), ok=False)
    assert again.returncode == 1 and "already holds a store" in again.stderr and "--force" in again.stderr
    forced = _ioc("restore", str(dest), "--data-dir", str(elsewhere), "--force").stdout
    assert f"moved the store that was in {elsewhere} aside to {elsewhere}/replaced-" in forced
    (aside,) = elsewhere.glob("replaced-*")
    assert (aside / "lake" / "catalog.sqlite").exists()


def test_a_damaged_or_incomplete_backup_is_refused_and_leaves_nothing(seeded: Path, tmp_path: Path) -> None:
    live = _copy_of(seeded, tmp_path / "live")
    dest = tmp_path / "backup"
    _ioc("backup", str(dest), "--data-dir", str(live))
    refused = _ioc("backup", str(dest), "--data-dir", str(live), ok=False)
    assert refused.returncode == 1 and "exists and is not an empty folder" in refused.stderr

    parquet = next((dest / "lake" / "files").rglob("*.parquet"))
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    parquet.write_bytes(bytes(data))
    target = tmp_path / "target" / "data"
    damaged = _ioc("restore", str(dest), "--data-dir", str(target), ok=False)
    assert damaged.returncode == 1
    assert f"{parquet} is damaged" in damaged.stderr and "the manifest says" in damaged.stderr
    assert not (target / "lake" / "catalog.sqlite").exists()
    assert not any(p.name.startswith(".restoring") for p in target.iterdir())

    (dest / "ioc-backup.json").unlink()
    incomplete = _ioc("restore", str(dest), "--data-dir", str(target), ok=False)
    assert "holds no ioc-backup.json" in incomplete.stderr


def test_restore_refuses_a_postgresql_catalog_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ioc.backup import restore

    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "ioc-backup.json").write_text('{"format": 1, "files": []}')
    monkeypatch.setenv("IOC_CATALOG_URL", "postgresql://ioc@127.0.0.1:1/ioc")
    with pytest.raises(StoreError, match="restore it with IOC_CATALOG_URL empty, then .*ioc store migrate"):
        restore(tmp_path / "backup", tmp_path / "data")


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    assert role == "loader"
    loader(*rest)
