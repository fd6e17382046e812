"""Cache keys follow the data version and the access scope; time travel reads an older version."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import pytest

from ingest.load import ingest_paths
from ioc.access import AccessScope
from ioc.metrics import cache
from ioc.metrics.engine import compute
from ioc.metrics.errors import QueryError
from ioc.metrics.query import KpiQuery
from ioc.metrics.summary import summarize

NOV18 = date(2026, 11, 18)


def _fresh_seed(tmp_path: Path):
    spec = importlib.util.spec_from_file_location(
        "metrics_seed_store_c", Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "seed_store.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(tmp_path / "data")


class Counting:
    """engine.compute, counting its calls (a cache hit does not call it)."""

    def __init__(self, monkeypatch):
        from ioc.metrics import engine

        self.calls = 0
        real = engine.compute

        def counted(*args, **kw):
            self.calls += 1
            return real(*args, **kw)

        monkeypatch.setattr(engine, "compute", counted)


def test_new_data_is_never_served_from_cache_and_time_travel_sees_the_old(tmp_path, monkeypatch):
    store = _fresh_seed(tmp_path)
    counter = Counting(monkeypatch)
    q = KpiQuery("attendance_rate", date_from=NOV18, date_to=NOV18)
    before = cache.cached_compute(store, q)
    assert before.rows[0].numerator == 320  # S1 90 + S2 180 + S3 50
    assert cache.cached_compute(store, q) == before
    assert counter.calls == 1  # the second answer was a hit
    resend = tmp_path / "attendance_2026-11-18_fix.csv"
    resend.write_text("date,school_id,enrolled,present\n2026-11-18,S2,200,190\n", encoding="utf-8")
    (result,) = ingest_paths(store, [resend])
    assert result.status == "loaded" and result.rows_replaced == 1
    after = cache.cached_compute(store, q)
    assert after.data_version > before.data_version
    assert after.rows[0].numerator == 330
    # "as it was": the earlier data version still answers 320, through the cache and directly
    old = KpiQuery("attendance_rate", date_from=NOV18, date_to=NOV18, snapshot=before.data_version)
    assert compute(store, old).rows[0].numerator == 320
    assert cache.cached_compute(store, old).rows[0].numerator == 320
    assert compute(store, old).data_version == before.data_version
    for version in (10_000, 0):  # unknown; before the tables existed
        with pytest.raises(QueryError) as error:
            compute(store, KpiQuery("attendance_rate", snapshot=version))
        assert error.value.param == "snapshot"
    store.close()


def test_access_scope_is_part_of_the_key(seed, monkeypatch):
    counter = Counting(monkeypatch)
    q = KpiQuery("uptime", date_to=date(2026, 11, 19))
    cache.cached_compute(seed, q, AccessScope.limited(["760"]))
    cache.cached_compute(seed, q, AccessScope.limited(["778"]))
    assert counter.calls == 2  # another user's scope is never a hit
    cache.cached_compute(seed, q, AccessScope.limited(["760"]))
    assert counter.calls == 2


def test_summary_compares_with_previous_school_day(seed):
    s = summarize(seed, "attendance_rate", date_to=date(2026, 11, 20), series_days=7)
    assert s.current.value == pytest.approx(230 / 300)
    assert s.previous is not None and s.previous.value == pytest.approx(517 / 550)  # the 19th, not a weekend
    assert s.delta == pytest.approx(230 / 300 - 517 / 550)
    assert s.status == "red" and s.target == 0.95
    assert [d.day for d, _ in s.series] == [18, 19, 20]
    cached = cache.cached_summarize(seed, "attendance_rate", date_to=date(2026, 11, 20), series_days=7)
    assert cached == s


def test_summary_of_a_window_kpi(seed):
    s = summarize(seed, "uptime", date_to=date(2026, 11, 20), series_days=3)
    assert (s.date_from, s.date_to) == (date(2026, 11, 14), date(2026, 11, 20))
    assert s.previous is not None and s.previous.denominator == 0 and s.delta is None  # 7..13: no probes
    # 18th: S3 1 of 1 online; 19th: S2 3 of 4 + S3 0 of 1; 20th: S1 4 of 4
    assert [v for _, v in s.series] == [1.0, pytest.approx(3 / 5), 1.0]


def test_chronic_absence_counts_back_twenty_school_days(tmp_path):
    from ioc.store import Store

    store = Store(tmp_path / "data")
    schools = tmp_path / "schools_2026-01-01.csv"
    schools.write_text(
        "school_id,school_name,level,ownership,ward_name,district_name,students,teachers,classrooms\n"
        "A,Trường A,primary,public,Phường X,Quận X,100,5,5\n",
        encoding="utf-8",
    )
    # 25 school days (Mon-Fri from 2026-03-02); the first 5 have nobody present, the last 20 all
    from datetime import timedelta

    days, day = [], date(2026, 3, 2)
    while len(days) < 25:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    attendance = tmp_path / "attendance_2026-04-03.csv"
    attendance.write_text(
        "date,school_id,enrolled,present\n"
        + "".join(f"{d.isoformat()},A,100,{0 if i < 5 else 100}\n" for i, d in enumerate(days)),
        encoding="utf-8",
    )
    assert [r.status for r in ingest_paths(store, [schools, attendance])] == ["loaded", "loaded"]
    # last 20 school days: 100 % -> not at risk (over all 25 it would be 80 %)
    r = compute(store, KpiQuery("chronic_absence_risk", date_to=days[-1])).rows[0]
    assert (r.numerator, r.denominator) == (0, 1)
    # ending at the 21st school day: days 2..21 hold four empty days -> 80 % -> at risk
    r = compute(store, KpiQuery("chronic_absence_risk", date_to=days[20])).rows[0]
    assert (r.numerator, r.denominator, r.value) == (1, 1, 1.0)
    store.close()


def test_object_cache_backend_keeps_objects_evicts_and_expires(monkeypatch):
    from ioc.metrics.cache import ObjectCache

    backend = ObjectCache(default_timeout=60, threshold=2)
    value = object()
    backend.set("a", value)
    assert backend.get("a") is value  # the object itself, not a pickled copy
    backend.set("b", 2)
    backend.get("a")  # "a" is now the most recently used
    backend.set("c", 3)  # over the threshold: the least recently used ("b") goes
    assert (backend.has("a"), backend.has("b"), backend.has("c")) == (True, False, True)
    assert backend.add("c", 4) is False and backend.get("c") == 3
    clock = [1000.0]
    monkeypatch.setattr("ioc.metrics.cache.time.monotonic", lambda: clock[0])
    backend.set("d", 5, timeout=10)
    clock[0] += 11
    assert backend.get("d") is None  # expired
    assert backend.delete("c") and backend.get("c") is None
    backend.set("e", 6)
    backend.clear()
    assert not backend.has("e")


def test_worker_cache_holds_the_number_of_answers_the_setting_names(monkeypatch):
    # a warm-up round of the full city stores about 12,500 answers: a cache of 2,000 dropped the
    # wall's and the schools' answers before the round ended, so pages after warming computed again
    monkeypatch.setenv("IOC_KPI_CACHE_ENTRIES", "3")
    backend = cache._local_backend()
    for key in "abcd":
        backend.set(key, key)
    assert [backend.has(key) for key in "abcd"] == [False, True, True, True]
    monkeypatch.delenv("IOC_KPI_CACHE_ENTRIES")
    assert cache._local_backend().threshold >= 3 * 12_500
    monkeypatch.setenv("IOC_KPI_CACHE_ENTRIES", "0")
    with pytest.raises(ValueError, match="IOC_KPI_CACHE_ENTRIES=0: must be at least 1"):
        cache._local_backend()


def test_summary_series_has_gaps_where_no_school_reported(seed):
    # Coverage counts a school without probes as not covered (value 0 with schools_reporting 0);
    # the trend line shows those days as gaps, not as a collapse to 0 %.
    s = summarize(seed, "bandwidth_coverage", date_to=date(2026, 11, 20), series_days=14)
    by_day = dict(s.series)
    assert by_day[date(2026, 11, 7)] is None  # the 7-day window ending on the 7th holds no probe
    assert by_day[date(2026, 11, 20)] is not None
    assert s.previous is not None and s.previous.schools_reporting == 0 and s.delta is None
