"""build_demo through the real ingestion path into a real DuckLake store."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from ioc import geography
from ioc.demo import DemoSummary, build_demo
from ioc.demo.connectivity import LOCAL
from ioc.store import Store

TODAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 10, 2, tzinfo=LOCAL)  # today's probes stop here


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoSummary, list[str]]:
    """A city-wide demo small enough to be quick: 200 schools cover all 168 wards."""
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    lines: list[str] = []
    summary = build_demo(
        data_dir,
        schools=200,
        attendance_days=15,
        probe_days=2,
        seed=11,
        today=TODAY,
        now=NOW,
        progress=lines.append,
    )
    return data_dir, summary, lines


def counts(data_dir: Path) -> dict[str, int]:
    with Store(data_dir) as store:
        return {
            table: int(store.execute(f"SELECT count(*) FROM {table}").scalar())  # noqa: S608 - fixed names
            for table in ("schools", "attendance", "digital", "connectivity", "ingest_runs", "rejections")
        }


def test_everything_loads_without_a_single_rejection(built) -> None:
    data_dir, summary, _ = built
    assert summary.rows_rejected == 0
    assert summary.rejections == ()
    assert summary.failed == ()
    assert {r.status for r in summary.results} == {"loaded"}
    assert len(summary.results) == len(summary.files)
    assert counts(data_dir)["rejections"] == 0


def test_store_holds_exactly_what_was_written(built) -> None:
    data_dir, summary, _ = built
    found = counts(data_dir)
    for dataset in ("attendance", "digital", "connectivity"):
        assert found[dataset] == summary.rows_written[dataset], dataset
    # schools keep one row per version of a school that changed (ingestion skips unchanged rows)
    assert 200 < found["schools"] <= summary.rows_written["schools"]
    assert found["ingest_runs"] >= len(summary.files)
    assert len(summary.attendance_days) == 15 and summary.attendance_days[-1] == TODAY


def test_latest_hierarchy_is_168_wards_in_their_former_districts(built) -> None:
    data_dir, _, _ = built
    with Store(data_dir) as store:
        rows = store.execute(
            """SELECT school_id, ward_code, ward_name, district_code, district_name FROM schools
               QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY valid_from DESC) = 1"""
        ).rows
    assert len({r[1] for r in rows}) == 168
    for _, ward_code, ward_name, district_code, district_name in rows:
        unit = geography.unit(ward_code)
        assert (unit.name, unit.district_code, unit.district_name) == (
            ward_name,
            district_code,
            district_name,
        )
    assert {r[4] for r in rows} == {d.name for d in geography.districts()}


def test_hierarchy_before_the_reorganisation_uses_former_wards(built) -> None:
    data_dir, _, _ = built
    with Store(data_dir) as store:
        before = store.execute(
            """SELECT DISTINCT ward_code FROM schools WHERE valid_from <= DATE '2025-06-30'
               QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY valid_from DESC) = 1"""
        ).rows
        dates = [r[0] for r in store.execute("SELECT DISTINCT valid_from FROM schools ORDER BY 1").rows]
    former = {w.code for w in geography.former_wards()}
    assert before and {r[0] for r in before} <= former
    assert dates[0] == date(2024, 9, 1) and date(2025, 7, 1) in dates


def test_kpi_inputs_look_like_the_city(built) -> None:
    data_dir, _, _ = built
    with Store(data_dir) as store:
        rate = store.execute("SELECT sum(present) / sum(enrolled) FROM attendance").scalar()
        uptime = store.execute("SELECT avg(online::INT) FROM connectivity").scalar()
        local_days = store.execute("SELECT count(DISTINCT measured_at::DATE) FROM connectivity").scalar()
    assert 0.93 < rate < 0.98
    assert 0.95 < uptime < 1.0
    assert local_days == 2  # probes land on their local dates whatever offset the file used


def test_progress_reports_each_step_with_counts(built) -> None:
    _, summary, lines = built
    files = [line for line in lines if line.startswith("    ")]
    lines = [line for line in lines if not line.startswith(" ")]
    assert len(files) == len(summary.files)  # and one indented line per file loaded
    steps = [line.split()[0] for line in lines]
    assert steps == ["schools", "attendance", "digital", "connectivity", "load", "load", "load"]
    assert all(line.rstrip().endswith("s)") for line in lines)
    assert "200 schools in 168 wards" in lines[0]


def test_running_again_changes_nothing(built) -> None:
    data_dir, _, _ = built
    before = counts(data_dir)
    with Store(data_dir) as store:
        version = store.data_version()
    again = build_demo(data_dir, schools=200, attendance_days=15, probe_days=2, seed=11, today=TODAY, now=NOW)
    assert {r.status for r in again.results} == {"unchanged"}
    after = counts(data_dir)
    assert {k: v for k, v in after.items() if k != "ingest_runs"} == {
        k: v for k, v in before.items() if k != "ingest_runs"
    }
    with Store(data_dir) as store:
        duplicates = store.execute(
            "SELECT count(*) FROM (SELECT date, school_id FROM attendance GROUP BY ALL HAVING count(*) > 1)"
        ).scalar()
        assert store.data_version() >= version
    assert duplicates == 0


def test_the_fixture_size_other_areas_use(tmp_path: Path) -> None:
    summary = build_demo(tmp_path / "data", schools=60, attendance_days=30, probe_days=2, today=TODAY)
    assert summary.rows_rejected == 0 and summary.failed == ()
    found = counts(tmp_path / "data")
    assert found["attendance"] == summary.rows_written["attendance"] > 1000
    assert found["connectivity"] == summary.rows_written["connectivity"] > 10_000


def test_the_next_days_demo_adds_without_duplicating(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_demo(data_dir, schools=60, attendance_days=5, probe_days=2, today=TODAY, now=NOW)
    tomorrow = date(2026, 11, 26)
    later = build_demo(
        data_dir,
        schools=60,
        attendance_days=5,
        probe_days=2,
        today=tomorrow,
        now=datetime(2026, 11, 26, 9, 0, tzinfo=LOCAL),
    )
    assert later.rows_rejected == 0 and later.failed == ()
    results = {r.file: r for r in later.results}
    assert results["schools_2026-09-01.csv"].status == "unchanged"
    assert results["connectivity_2026-11-26.parquet"].status == "loaded"
    # yesterday's file is complete now: it loads again, over the probes it already had
    assert results["connectivity_2026-11-25.parquet"].status == "loaded"
    keys = {
        "attendance": "date, school_id",
        "digital": "as_of, school_id",
        "connectivity": "measured_at, school_id",
    }
    with Store(data_dir) as store:
        for table, key in keys.items():
            rows, distinct = store.execute(
                f"SELECT count(*), count(DISTINCT ({key})) FROM {table}"  # noqa: S608 - fixed names
            ).rows[0]
            assert rows == distinct, table
        days = store.execute("SELECT count(DISTINCT measured_at::DATE) FROM connectivity").scalar()
    assert days == 3
