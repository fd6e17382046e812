"""The PostgreSQL catalog's backup as docs/operations.md tells it (issue 13): `pg_dump` of the
catalog database first, then the shared data folder, while another process keeps loading; the
catalog restored into another database with `pg_restore`, the files put in another folder, and
`ioc store repoint --data-path` records where they are: every KPI answer is the dumped one, and
time travel to the dumped snapshots works."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ioc.store import Store
from tests.integration.cluster.store_answers import assert_same_answers, seed_module
from tests.integration.test_backup import ROOT, _commits, _env, _ioc, answers_at
from tests.servers import _pg_tool


def _pg(server: Any, tool: str, *args: str) -> None:
    result = subprocess.run(
        [_pg_tool(tool), "-h", "127.0.0.1", "-p", str(server.port), "-U", "ioc", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_pg_dump_then_the_files_while_loading_restores_elsewhere(
    postgres_server: Any, tmp_path: Path
) -> None:
    url = postgres_server.create_database("backup_source")
    files = tmp_path / "shared-files"
    files.mkdir()
    seed_module().build(tmp_path / "node", catalog_url=url, data_path=f"{files}/").close()
    env = _env(IOC_CATALOG_URL=url, IOC_DATA_PATH=f"{files}/")
    log, stop = tmp_path / "commits.log", tmp_path / "stop"
    loader = Path(__file__).resolve().parents[1] / "test_backup.py"
    proc = subprocess.Popen(
        [sys.executable, str(loader), "loader", str(tmp_path / "node"), str(log), str(stop)],
        env=env,
        cwd=ROOT,
    )
    dump = tmp_path / "catalog.dump"
    try:
        deadline = time.monotonic() + 120
        while len(_commits(log)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "the loader does not load"
            time.sleep(0.1)
        _pg(postgres_server, "pg_dump", "-Fc", "-d", "backup_source", "-f", str(dump))  # 1. the catalog
        shutil.copytree(files, tmp_path / "backup-files")  # 2. then the files it names
        time.sleep(1)
    finally:
        stop.touch()
        proc.wait(60)
    assert proc.returncode == 0

    # restored into another database, the files into another folder
    target = postgres_server.create_database("backup_restored")
    _pg(postgres_server, "pg_restore", "--no-owner", "-d", "backup_restored", str(dump))
    moved = tmp_path / "restored-files"
    shutil.move(tmp_path / "backup-files", moved)
    restored_env = _env(IOC_CATALOG_URL=target)
    node2 = str(tmp_path / "node2")
    opened = _ioc("store", "info", "--data-dir", node2, env=restored_env)
    assert f"data path:      {files}/" in opened.stdout  # still the old folder: not moved yet
    repointed = _ioc("store", "repoint", "--data-path", str(moved), "--data-dir", node2, env=restored_env)
    assert f"data path: {files}/ -> {moved}/" in repointed.stdout
    restored = Store(tmp_path / "node2", catalog_url=target, data_path="", read_only=True)
    dumped = restored.data_version()
    restored.close()
    assert dumped < _commits(log)[-1][1]  # loads went on after the dump
    # the same questions asked of the source at the dumped snapshots
    source = Store(tmp_path / "node", catalog_url=url, read_only=True)
    try:
        expected, expected_earlier = answers_at(source, dumped), answers_at(source, dumped - 3)
    finally:
        source.close()

    shutil.rmtree(files)  # the old folder is gone: nothing may be read from it
    restored = Store(tmp_path / "node2", catalog_url=target, data_path="", read_only=True)
    try:
        assert restored.data_path == f"{moved}/"
        assert_same_answers(expected, answers_at(restored, None), rel=1e-12)
        assert_same_answers(expected_earlier, answers_at(restored, dumped - 3), rel=1e-12)
    finally:
        restored.close()
