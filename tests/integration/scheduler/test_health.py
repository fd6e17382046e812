"""The data-health record on a small store with answers worked out by hand, and `ioc health`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.load import ingest_file
from ioc.metrics import health
from ioc.metrics.query import Scope
from ioc.store import Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def _load(store: Store, path: Path) -> None:
    result = ingest_file(store, path, source="cli")
    assert result.status == "loaded", result


def _store(seeded: Store, helpers: Any, tmp_path: Path) -> Store:
    # 23 Nov: schools 0-29 report; 24 Nov: schools 0-34; probes for all 40 at 25 Nov 08:00
    h = helpers
    rows = h.write_attendance(tmp_path / "attendance_2026-11-23.csv", date(2026, 11, 23), 40)
    lines = rows.read_text(encoding="utf-8").splitlines()
    rows.write_text("\n".join(lines[:31]) + "\n", encoding="utf-8")
    _load(seeded, rows)
    rows = h.write_attendance(tmp_path / "attendance_2026-11-24.csv", date(2026, 11, 24), 40)
    lines = rows.read_text(encoding="utf-8").splitlines()
    rows.write_text("\n".join(lines[:36]) + "\n", encoding="utf-8")
    _load(seeded, rows)
    _load(
        seeded,
        h.write_connectivity(tmp_path / "connectivity_1.csv", datetime(2026, 11, 25, 8, 0, tzinfo=TZ), 40),
    )
    bad = h.write_attendance(tmp_path / "attendance_2026-11-25.csv", date(2026, 11, 25), 3, present=120)
    assert ingest_file(seeded, bad, source="cli").status == "rejected"
    return seeded


def test_freshness_known_answers(seeded: Store, helpers: Any, tmp_path: Path) -> None:
    store = _store(seeded, helpers, tmp_path)
    tuesday = datetime(2026, 11, 24, 11, 0, tzinfo=TZ)
    fresh = {f.dataset: f for f in health.freshness(store, now=tuesday)}
    assert fresh["attendance"].latest_data == date(2026, 11, 24) and fresh["attendance"].status == "fresh"
    assert fresh["attendance"].rows_last_success == 35
    assert fresh["attendance"].reason.startswith("attendance_2026-11-25.csv: ")
    assert fresh["digital"].status == "no_data" and fresh["digital"].stale
    assert fresh["schools"].latest_data == date(2025, 9, 5) and fresh["schools"].status == "stale"
    assert fresh["connectivity"].status == "fresh"

    wednesday = datetime(2026, 11, 25, 11, 0, tzinfo=TZ)
    fresh = {f.dataset: f for f in health.freshness(store, now=wednesday)}
    assert fresh["attendance"].stale and fresh["attendance"].expected_by == date(2026, 11, 25)
    assert fresh["connectivity"].status == "stale"  # 3 hours without a probe
    assert fresh["attendance"].to_json()["latest_data"] == "2026-11-24"


def test_not_reporting_and_by_district(seeded: Store, helpers: Any, tmp_path: Path) -> None:
    store = _store(seeded, helpers, tmp_path)
    latest = health.not_reporting(store)
    assert sorted(r["school_id"] for r in latest) == [f"S{i:05d}" for i in range(35, 40)]
    assert {r["date"] for r in latest} == {date(2026, 11, 24)}
    monday = {r["school_id"]: r for r in health.not_reporting(store, date(2026, 11, 23))}
    assert sorted(monday) == [f"S{i:05d}" for i in range(30, 40)]
    assert monday["S00030"]["last_reported"] is None
    assert health.not_reporting(store, date(2026, 11, 24))[0]["last_reported"] is None
    # the scope narrows the list: S00035's district only
    district = latest[0]["district_code"]
    scoped = health.not_reporting(store, scope=Scope(district=district))
    assert scoped and {r["district_code"] for r in scoped} == {district}
    assert len(scoped) == sum(1 for r in latest if r["district_code"] == district)

    rows = health.freshness_by_district(store, "attendance", now=datetime(2026, 11, 24, 11, 0, tzinfo=TZ))
    assert sum(r["schools"] for r in rows) == 40
    assert sum(r["stale_schools"] for r in rows) == 5
    assert sum(r["schools_with_data"] for r in rows) == 35
    assert all(r["latest"] in (date(2026, 11, 24), None) for r in rows)


def test_runs_rejections_and_sources(seeded: Store, helpers: Any, tmp_path: Path) -> None:
    store = _store(seeded, helpers, tmp_path)
    runs = health.runs(store, 3)
    assert [r["status"] for r in runs] == ["rejected", "loaded", "loaded"]
    assert runs[0]["file_name"] == "attendance_2026-11-25.csv"
    rejected = health.rejections(store, runs[0]["run_id"])
    assert len(rejected) == 3 and {r["column_name"] for r in rejected} == {"present"}
    assert [r["row_number"] for r in rejected] == [2, 3, 4]
    cli = {s["source"]: s for s in health.sources(store)}["cli"]
    assert (cli["runs_loaded"], cli["runs_rejected"], cli["kind"], cli["failing"]) == (3, 1, "manual", False)
    assert cli["rows_loaded"] == 30 + 35 + 40


def test_ioc_health_command(seeded: Store, helpers: Any, tmp_path: Path) -> None:
    store = _store(seeded, helpers, tmp_path)
    text = helpers.run_ioc("health", "--not-reporting", "2026-11-23", data_dir=store.layout.root)
    assert text.returncode == 1, text.stderr  # digital has no data: attention
    assert "ATTENTION" in text.stdout and "scheduler not running" in text.stdout
    assert "schools without attendance on 2026-11-23: 10" in text.stdout
    as_json = helpers.run_ioc("health", "--format", "json", "--not-reporting", data_dir=store.layout.root)
    report = json.loads(as_json.stdout)
    assert report["healthy"] is False
    assert {f["dataset"]: f["status"] for f in report["freshness"]}["digital"] == "no_data"
    assert len(report["not_reporting"]) == 5
    bad = helpers.run_ioc("health", "--not-reporting", "23/11", data_dir=store.layout.root)
    assert bad.returncode == 2 and "--not-reporting: expected a date YYYY-MM-DD" in bad.stderr
