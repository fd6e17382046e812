"""Hot copies (ioc.metrics.hot): KPI queries read in-memory copies of the small tables made at the
right data version; the answers are those of the lake, before and after loads, from any thread."""

from __future__ import annotations

import dataclasses
import math
import threading
from datetime import date

import duckdb
import pytest

from ioc.metrics import engine, hot
from ioc.metrics.query import KpiQuery, Scope
from ioc.metrics.registry import KPIS

from .test_dataset_versions import _load, _probe

NOV20 = date(2026, 11, 20)
GROUPINGS = ("all", "district", "school", "date")


class Sql:
    """The SQL text of every query the store runs as a pyarrow table (what engine.compute uses)."""

    def __init__(self, store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        real = store.arrow

        def arrow(sql, params=None):
            self.texts.append(sql)
            return real(sql, params)

        monkeypatch.setattr(store, "arrow", arrow)


def _answers(store) -> dict[tuple[str, str], tuple]:
    out = {}
    for kpi in KPIS:
        for by in GROUPINGS:
            q = KpiQuery(kpi, by, date(2026, 11, 16) if by == "date" else None, NOV20)
            out[(kpi, by)] = engine.compute(store, q).rows
        out[(kpi, "ward scope")] = engine.compute(
            store, KpiQuery(kpi, "school", None, NOV20, Scope(ward="26734"))
        ).rows
    return out


def same(a: dict, b: dict) -> bool:
    """Equal answers; floats to a relative 1e-12 (DuckDB's sums may differ in the last digit when
    the same rows are laid out differently, as between a Parquet file and an in-memory table)."""
    assert a.keys() == b.keys()
    for key in a:
        assert len(a[key]) == len(b[key]), key
        for x, y in zip(a[key], b[key], strict=True):
            for field in dataclasses.fields(x):
                u, v = getattr(x, field.name), getattr(y, field.name)
                if isinstance(u, float) and isinstance(v, float):
                    assert math.isclose(u, v, rel_tol=1e-12), (key, field.name, u, v)
                else:
                    assert u == v, (key, field.name, u, v)
    return True


def _lake_answers(store, monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], tuple]:
    monkeypatch.setenv("IOC_HOT_TABLE_ROWS", "0")
    try:
        return _answers(store)
    finally:
        monkeypatch.delenv("IOC_HOT_TABLE_ROWS")


def test_queries_read_the_copies_and_answer_like_the_lake(fresh, tmp_path, monkeypatch):
    sql = Sql(fresh, monkeypatch)
    lake = _lake_answers(fresh, monkeypatch)
    assert sql.texts and not any(hot.HOT_DB in text for text in sql.texts)
    sql.texts.clear()
    assert same(_answers(fresh), lake)
    assert all(hot.HOT_DB in text for text in sql.texts)
    assert set(hot.held(fresh)) == set(hot.MIRRORED)
    # after a probe load and an attendance load, still the lake's answers
    _probe(fresh, tmp_path)
    _load(
        fresh,
        tmp_path,
        "attendance_2026-11-18_fix.csv",
        "date,school_id,enrolled,present\n2026-11-18,S2,200,190\n",
    )
    assert same(_answers(fresh), _lake_answers(fresh, monkeypatch))


def _copies(store) -> set[str]:
    """The tables of the in-memory copies database."""
    rows = store.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = $db", {"db": hot.HOT_DB}
    )
    return {r[0] for r in rows.rows}


def test_a_probe_load_copies_the_rollup_again_and_keeps_attendance(fresh, tmp_path):
    engine.compute(fresh, KpiQuery("digital_readiness", date_to=NOV20))  # every mirrored table
    engine.compute(fresh, KpiQuery("attendance_rate", date_to=NOV20))
    before = hot.held(fresh)
    assert set(before) == set(hot.MIRRORED)
    _probe(fresh, tmp_path)
    engine.compute(fresh, KpiQuery("digital_readiness", date_to=NOV20))
    engine.compute(fresh, KpiQuery("attendance_rate", date_to=NOV20))
    after = hot.held(fresh)
    assert after["connectivity_daily"] > before["connectivity_daily"]
    for table in ("schools", "attendance", "digital"):
        assert after[table] == before[table], table
    # the replaced copy is kept one generation (a query may still read it), the one before is dropped
    tables = _copies(fresh)
    assert sum(name.startswith("connectivity_daily_v") for name in tables) == 2
    _probe(fresh, tmp_path)  # the same file again: a replacement, a new version
    engine.compute(fresh, KpiQuery("uptime", date_to=NOV20))
    tables = _copies(fresh)
    assert sum(name.startswith("connectivity_daily_v") for name in tables) == 2


def test_a_request_of_an_older_version_reads_the_lake_and_leaves_the_copies(fresh, tmp_path):
    # a request pinned to its data version (ioc.store.one_version) may still ask after a load
    old = engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20))
    _probe(fresh, tmp_path)
    engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20))  # copies the new rollup
    copies = hot.held(fresh)
    assert copies["connectivity_daily"] > old.data_version
    # at the old version: the rollup from the lake (no copy of the past), schools still shared
    found = hot.sources(fresh, ["connectivity_daily", "schools"], old.data_version)
    assert found == {"schools": f'{hot.HOT_DB}."schools_v{copies["schools"]}"'}
    assert hot.held(fresh) == copies  # nothing copied back and forth


def test_a_query_whose_copy_was_dropped_is_run_again_on_the_lake(fresh, monkeypatch):
    engine.compute(fresh, KpiQuery("uptime", date_to=NOV20))
    expected = engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20)).rows
    real = fresh.arrow
    failed: list[str] = []

    def arrow(sql, params=None):
        if "ioc_hot." in sql and not failed:
            failed.append(sql)
            raise duckdb.CatalogException(
                "Catalog Error: Table with name connectivity_daily_v9 does not exist!"
            )
        return real(sql, params)

    monkeypatch.setattr(fresh, "arrow", arrow)
    assert engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20)).rows == expected
    assert failed


def test_a_table_over_the_row_limit_is_read_from_the_lake(fresh, monkeypatch):
    sql = Sql(fresh, monkeypatch)
    rows = {t: fresh.execute(f"SELECT count(*) FROM lake.{t}").scalar() for t in ("schools", "attendance")}  # noqa: S608 - constant names
    assert rows["schools"] < rows["attendance"]
    monkeypatch.setenv("IOC_HOT_TABLE_ROWS", str(rows["schools"]))  # schools fit, attendance does not
    lake = engine.compute(fresh, KpiQuery("attendance_rate", "school", date_to=NOV20))
    assert 'ioc_hot."schools_v' in sql.texts[-1] and 'lake."attendance"' in sql.texts[-1]
    assert "attendance" not in hot.held(fresh)
    monkeypatch.setenv("IOC_HOT_TABLE_ROWS", "0")
    assert engine.compute(fresh, KpiQuery("attendance_rate", "school", date_to=NOV20)).rows == lake.rows


def test_time_travel_never_reads_copies(fresh, tmp_path, monkeypatch):
    version = fresh.data_version()
    then = engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20)).rows
    _probe(fresh, tmp_path)
    sql = Sql(fresh, monkeypatch)
    assert engine.compute(fresh, KpiQuery("uptime", "school", date_to=NOV20, snapshot=version)).rows == then
    assert not any(hot.HOT_DB in text for text in sql.texts)


def test_threads_share_the_copies(fresh, monkeypatch):
    lake = _lake_answers(fresh, monkeypatch)
    results: list[dict] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            results.append(_answers(fresh))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 4 and all(same(r, lake) for r in results)


def _school_views(store) -> dict[str, object]:
    from ioc.metrics import views

    return {
        school: (
            views.school(store, school),
            views.attendance_calendar(store, school, NOV20),
            views.attendance_calendar(store, school),
            views.last_probe_at(store, school),
        )
        for school in ("S1", "S2", "S3", "S4", "no such school")
    }


def test_a_school_s_profile_and_calendar_read_the_copies_and_answer_like_the_lake(
    fresh, tmp_path, monkeypatch
):
    monkeypatch.setenv("IOC_HOT_TABLE_ROWS", "0")
    lake = _school_views(fresh)
    monkeypatch.delenv("IOC_HOT_TABLE_ROWS")
    sql = Sql(fresh, monkeypatch)
    read: list[str] = []
    real = fresh.execute
    monkeypatch.setattr(fresh, "execute", lambda text, *a, **k: read.append(text) or real(text, *a, **k))
    assert _school_views(fresh) == lake
    assert any(hot.HOT_DB in text for text in read)
    assert not any(f"{hot.CATALOG_NAME}.attendance" in text for text in read + sql.texts)
    # after a probe load: the newest probe's time from the new copy of the rollup
    _probe(fresh, tmp_path)
    monkeypatch.setenv("IOC_HOT_TABLE_ROWS", "0")
    lake = _school_views(fresh)
    monkeypatch.delenv("IOC_HOT_TABLE_ROWS")
    assert _school_views(fresh) == lake
