"""Answers cut from the city's answer grouped by unit (ioc.metrics.slices) are the answers computed
as asked: every KPI, unit level, grouping, period and hierarchy date; a ward reaching across two
districts, an empty unit and a restricted caller are computed as asked."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from ioc.access import AccessScope
from ioc.metrics import cache, engine, slices
from ioc.metrics.query import KpiQuery, Scope
from ioc.metrics.registry import KPIS

from .test_dataset_versions import _load
from .test_hot import same

NOV20 = date(2026, 11, 20)
UNITS = (
    Scope(district="760"),
    Scope(district="Quận 7"),
    Scope(ward="26734"),
    Scope(ward="Phường Tân Mỹ"),  # a ward without a code: keyed by its name
    Scope(school="S3"),  # moved from Quận 7 to Quận 1 on 2026-11-19
    Scope(school="S4"),
)


class Computations:
    """The queries engine.compute answers (what the cache did not cut from a wide answer)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.queries: list[KpiQuery] = []
        real = engine.compute

        def compute(store, q, **kwargs):
            self.queries.append(q)
            return real(store, q, **kwargs)

        monkeypatch.setattr(engine, "compute", compute)


def _queries():
    for kpi in KPIS:
        for scope in UNITS:
            for by in ("all", "district", "ward", "school", "date", "week", "month"):
                for hierarchy in (None, date(2026, 11, 1)):
                    yield KpiQuery(kpi, by, None, NOV20, scope, hierarchy_date=hierarchy)
                yield KpiQuery(kpi, by, date(2026, 10, 25), NOV20, scope)


def test_cut_answers_are_the_computed_ones(fresh, monkeypatch: pytest.MonkeyPatch) -> None:
    direct = {q: engine.compute(fresh, q) for q in _queries()}
    seen = Computations(monkeypatch)
    cached = {q: cache.cached_compute(fresh, q) for q in direct}
    for q, answer in direct.items():
        got = cached[q]
        assert (got.kpi, got.by, got.date_from, got.date_to, got.data_version) == (
            answer.kpi,
            answer.by,
            answer.date_from,
            answer.date_to,
            answer.data_version,
        ), q
        same({q: answer.rows}, {q: got.rows})
    # computed: city-wide answers, groups reaching past the unit (the district of a ward) and the
    # series of formula kinds without panels (a school's series of the others come from panels)
    coarser = {"ward": {"district"}, "school": {"district", "ward"}}
    for q in seen.queries:
        if q.scope.items() and q.by not in coarser.get(q.scope.items()[0][0], set()):
            assert q.by in ("date", "week", "month"), q
            assert not engine.panel_ready(q), q
    assert len(seen.queries) < len(direct) / 2


def test_series_of_panel_kinds_come_from_one_panel_per_level(fresh, monkeypatch) -> None:
    panels: list[tuple[str, str]] = []
    real = engine.compute_panel

    def counted(store, q, level):
        panels.append((q.kpi, level))
        return real(store, q, level)

    monkeypatch.setattr(engine, "compute_panel", counted)
    for scope in UNITS:
        q = KpiQuery("bandwidth_coverage", "date", date(2026, 11, 14), NOV20, scope)
        piece = slices.plan(fresh, q)
        assert piece.panel == scope.items()[0][0]
        same({q: engine.compute(fresh, q).rows}, {q: cache.cached_compute(fresh, q).rows})
    assert sorted(panels) == [("bandwidth_coverage", level) for level in ("district", "school", "ward")]
    # the attendance ratios' series too (a school page's attendance tiles); reporting has no panel
    assert (
        slices.plan(fresh, KpiQuery("attendance_rate", "date", None, NOV20, Scope(school="S3"))).panel
        == "school"
    )
    assert slices.plan(fresh, KpiQuery("reporting_rate", "date", None, NOV20, Scope(ward="26734"))) is None


def test_a_summary_takes_its_current_and_previous_values_from_the_wide_answer(fresh, monkeypatch) -> None:
    plain = {kpi: cache.summary.summarize(fresh, kpi, Scope(ward="26734"), NOV20) for kpi in KPIS}
    seen = Computations(monkeypatch)
    for kpi, expected in plain.items():
        got = cache.cached_summarize(fresh, kpi, Scope(ward="26734"), NOV20)
        same({kpi: (expected.current,)}, {kpi: (got.current,)})
        assert (got.previous is None) == (expected.previous is None)
        if expected.previous is not None:
            same({kpi: (expected.previous,)}, {kpi: (got.previous,)})
        assert [d for d, _ in got.series] == [d for d, _ in expected.series]
        for (_, a), (_, b) in zip(got.series, expected.series, strict=True):
            assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12), (kpi, a, b)
        assert (got.delta is None and expected.delta is None) or math.isclose(
            got.delta, expected.delta, rel_tol=1e-12, abs_tol=1e-12
        )
    # per KPI: the city by ward for two periods; daily series of the ward's own (or of a panel)
    assert {q.by for q in seen.queries} <= {"ward", "date"}
    assert all(q.scope.items() == () for q in seen.queries if q.by == "ward")


def test_a_ward_across_two_districts_is_computed_as_asked(fresh, tmp_path: Path) -> None:
    # S5 puts ward 26734 (in Quận 1 with S1, S2, S3) partly in Quận 7 as well
    _load(
        fresh,
        tmp_path,
        "schools_2026-11-21.csv",
        "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,"
        "latitude,longitude,students,teachers,classrooms,active\n"
        "S5,Trường Mầm non Sen Hồng,primary,public,26734,Phường Sài Gòn,778,Quận 7,10.74,106.71,80,8,4,true\n",
    )
    cache.clear()
    for scope in (Scope(district="778"), Scope(district="760")):
        q = KpiQuery("attendance_rate", "ward", None, NOV20, scope)
        assert slices.plan(fresh, q) is None
        assert cache.cached_compute(fresh, q).rows == engine.compute(fresh, q).rows
    # by school in a district is still cut, and the ward's own answer too
    for q in (
        KpiQuery("attendance_rate", "school", None, NOV20, Scope(district="778")),
        KpiQuery("attendance_rate", "all", None, NOV20, Scope(ward="26734")),
    ):
        assert slices.plan(fresh, q) is not None
        same({q: engine.compute(fresh, q).rows}, {q: cache.cached_compute(fresh, q).rows})


def test_what_is_not_a_unit_slice_is_computed_as_asked(fresh) -> None:
    for q in (
        KpiQuery("reporting_rate", "date", date(2026, 11, 18), NOV20, Scope(district="760")),
        KpiQuery("attendance_rate", "level", None, NOV20, Scope(district="760")),
        KpiQuery("attendance_rate", "all", None, NOV20, Scope(district="760", level="primary")),
        KpiQuery("attendance_rate", "all", None, NOV20, Scope(level="primary")),
        KpiQuery("attendance_rate", "all", None, NOV20),
        KpiQuery("attendance_rate", "all", None, NOV20, Scope(district="no such district")),
    ):
        assert slices.plan(fresh, q) is None, q


def test_a_restricted_caller_outside_its_scope_is_not_cut_from_the_city(fresh, monkeypatch) -> None:
    q = KpiQuery("attendance_rate", "school", None, NOV20, Scope(ward="26734"))
    district_778 = AccessScope(districts=frozenset({"778"}), wards=frozenset())
    seen = Computations(monkeypatch)
    answer = cache.cached_compute(fresh, q, district_778)
    assert [query.scope for query in seen.queries] == [q.scope]  # with the caller's access, as asked
    assert answer.rows == ()  # no school of ward 26734 is in Quận 7


def test_who_did_not_report_in_a_unit_is_cut_from_the_citys_list(fresh, monkeypatch) -> None:
    from ioc.metrics import health
    from ioc.metrics.errors import QueryError
    from ioc.metrics.front import Metrics

    real = health.not_reporting
    made: list[tuple] = []

    def counted(store, *args, **kwargs):
        made.append((args, kwargs.get("scope")))
        return real(store, *args, **kwargs)

    monkeypatch.setattr(health, "not_reporting", counted)
    district_760 = AccessScope(districts=frozenset({"760"}), wards=frozenset())
    district_778 = AccessScope(districts=frozenset({"778"}), wards=frozenset())
    scopes = (*UNITS, Scope(level="primary"), Scope(district="760", ownership="public"))
    seen = set()
    for day in (NOV20, date(2026, 11, 19), date(2026, 11, 1)):
        for scope in scopes:
            for access in (AccessScope(), district_760, district_778):
                expected = real(fresh, day, scope, access=access)
                got = Metrics(fresh, access).health("not_reporting", day, scope)
                assert got == expected, (day, scope, access)
                seen.update(row["school_id"] for row in got)
    assert {"S3"} <= seen  # the fixture's silent school is found, not only empty lists
    # only the city's lists were computed: everybody's, and a restricted caller's reaching past its schools
    assert {scope for _, scope in made} == {None}
    with pytest.raises(QueryError, match="school"):
        Metrics(fresh).health("not_reporting", NOV20, Scope(school="no such school"))


def test_a_schools_attendance_calendar_is_cut_from_every_schools(fresh, tmp_path, monkeypatch) -> None:
    from ioc.metrics import views
    from ioc.metrics.front import Metrics

    real = views.attendance_calendar
    asked: list[tuple] = []

    def counted(*args, **kwargs):
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(views, "attendance_calendar", counted)
    schools = sorted(engine.school_ids(fresh, None, None, fresh.data_version()))
    metrics = Metrics(fresh)
    days_seen = 0
    for days in (120, 5, 1):
        for school in schools:
            got = metrics.attendance_calendar(school, days=days)
            assert got == real(fresh, school, days=days), (school, days)
            days_seen += len(got)
    assert days_seen > 0 and asked == []  # every school's from one query per length
    # a given date (or data version) is asked of the school itself
    assert metrics.attendance_calendar("S1", date(2026, 11, 18)) == real(fresh, "S1", date(2026, 11, 18))
    assert len(asked) == 1
    # an attendance load: the calendars are made again, with the new day
    _load(
        fresh,
        tmp_path,
        "attendance_2026-11-21_s3.csv",
        "date,school_id,enrolled,present\n2026-11-21,S3,200,150\n",
    )
    got = metrics.attendance_calendar("S3")
    assert got == real(fresh, "S3") and got[-1] == (date(2026, 11, 21), 0.75)


def test_a_schools_profile_takes_its_newest_rows_from_every_schools(fresh, tmp_path, monkeypatch) -> None:
    from ioc.metrics import views
    from ioc.metrics.front import Metrics

    made: list[int] = []
    real = views.newest_rows

    def counted(store):
        made.append(store.data_version())
        return real(store)

    monkeypatch.setattr(views, "newest_rows", counted)
    schools = sorted(engine.school_ids(fresh, None, None, fresh.data_version()))
    metrics = Metrics(fresh)
    for school in schools:
        assert metrics.school(school, newest_probe=False) == views.school_profile(fresh, school), school
    assert len(made) == 1  # once for every school
    assert {p.latest_digital is not None for p in map(metrics.school, schools)} == {True, False}
    _load(
        fresh,
        tmp_path,
        "attendance_2026-11-21_s3.csv",
        "date,school_id,enrolled,present\n2026-11-21,S3,200,150\n",
    )
    got = metrics.school("S3", newest_probe=False)
    assert got == views.school_profile(fresh, "S3") and got.latest_attendance["present"] == 150
    assert len(made) == 2
