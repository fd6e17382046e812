"""Cached answers are keyed by the version of what a KPI reads: a probe load leaves attendance and
digital answers cached, a schools load invalidates every answer, the run log invalidates none."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from datetime import date
from pathlib import Path

from ingest.load import ingest_paths
from ioc.metrics import cache, table_versions
from ioc.metrics.engine import compute
from ioc.metrics.query import KpiQuery
from ioc.metrics.registry import get_kpi
from ioc.metrics.summary import summarize

NOV18 = date(2026, 11, 18)
NOV20 = date(2026, 11, 20)
QUERIES = {
    "attendance": KpiQuery("attendance_rate", date_from=NOV18, date_to=NOV18),
    "digital": KpiQuery("e_transcript_adoption", date_to=NOV20),
    "connectivity": KpiQuery("uptime", date_to=NOV20),
    "readiness": KpiQuery("digital_readiness", date_to=NOV20),  # digital and connectivity
}


def _seed_module():
    spec = importlib.util.spec_from_file_location(
        "metrics_seed_store_dv",
        Path(__file__).resolve().parents[2] / "fixtures" / "metrics" / "seed_store.py",
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Counting:
    """engine.compute's calls per KPI (a cache hit does not call it)."""

    def __init__(self, monkeypatch):
        from ioc.metrics import engine

        self.calls: dict[str, int] = {}
        real = engine.compute

        def counted(store, q, *args, **kw):
            self.calls[q.kpi] = self.calls.get(q.kpi, 0) + 1
            return real(store, q, *args, **kw)

        monkeypatch.setattr(engine, "compute", counted)

    def take(self) -> dict[str, int]:
        calls, self.calls = self.calls, {}
        return calls


def _ask_all(store) -> dict:
    return {name: cache.cached_compute(store, q) for name, q in QUERIES.items()}


def _load(store, tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (result,) = ingest_paths(store, [path])
    return result


def _probe(store, tmp_path):
    return _load(
        store,
        tmp_path,
        "connectivity_2026-11-20_late.csv",
        "measured_at,school_id,download_mbps,upload_mbps,latency_ms,online\n"
        "2026-11-20T09:00:00+07:00,S2,5,1,90,false\n",
    )


def _assert_direct(store, answers) -> None:
    for name, q in QUERIES.items():
        direct = compute(store, q)
        assert answers[name].rows == direct.rows, name


def test_probe_load_keeps_attendance_and_digital_and_recomputes_connectivity(fresh, tmp_path, monkeypatch):
    counter = Counting(monkeypatch)
    before = _ask_all(fresh)
    assert set(counter.take()) == {q.kpi for q in QUERIES.values()}
    version = fresh.data_version()
    assert _probe(fresh, tmp_path).status == "loaded"
    assert fresh.data_version() > version
    after = _ask_all(fresh)
    # attendance and digital: hits (not computed again); uptime and readiness read the probes: misses
    assert counter.take() == {"uptime": 1, "digital_readiness": 1}
    assert after["attendance"] is before["attendance"]
    assert after["connectivity"].rows != before["connectivity"].rows  # an offline probe more
    _assert_direct(fresh, after)
    # the summaries (tiles) follow the same rule
    tile = cache.cached_summarize(fresh, "attendance_rate", date_to=NOV20)
    counter.take()
    _probe(fresh, tmp_path)
    assert cache.cached_summarize(fresh, "attendance_rate", date_to=NOV20) is tile
    assert counter.take() == {}
    up = cache.cached_summarize(fresh, "uptime", date_to=NOV20)
    assert counter.calls.get("uptime", 0) >= 1
    assert up.current == summarize(fresh, "uptime", date_to=NOV20).current


def test_attendance_load_recomputes_attendance_only(fresh, tmp_path, monkeypatch):
    counter = Counting(monkeypatch)
    _ask_all(fresh)
    counter.take()
    result = _load(
        fresh,
        tmp_path,
        "attendance_2026-11-18_fix.csv",
        "date,school_id,enrolled,present\n2026-11-18,S2,200,190\n",
    )
    assert result.status == "loaded"
    after = _ask_all(fresh)
    assert counter.take() == {"attendance_rate": 1}
    assert after["attendance"].rows[0].numerator == 330
    _assert_direct(fresh, after)


def test_schools_load_invalidates_everything(fresh, tmp_path, monkeypatch):
    counter = Counting(monkeypatch)
    _ask_all(fresh)
    counter.take()
    result = _load(
        fresh,
        tmp_path,
        "schools_2026-11-21.csv",
        "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,"
        "latitude,longitude,students,teachers,classrooms,active\n"
        "S6,Trường Mới,primary,public,26734,Phường Sài Gòn,760,Quận 1,10.7,106.7,10,1,1,true\n",
    )
    assert result.status == "loaded"
    after = _ask_all(fresh)
    assert counter.take() == {q.kpi: 1 for q in QUERIES.values()}
    _assert_direct(fresh, after)


def test_run_log_only_changes_invalidate_nothing(fresh, tmp_path, monkeypatch):
    counter = Counting(monkeypatch)
    before = _ask_all(fresh)
    counter.take()
    version = fresh.data_version()
    # a file every row of which is rejected writes only the run log and the rejections
    result = _load(
        fresh,
        tmp_path,
        "attendance_2026-11-21.csv",
        "date,school_id,enrolled,present\n2026-11-21,S1,abc,xyz\n",
    )
    assert result.status != "loaded"
    assert fresh.data_version() > version
    assert _ask_all(fresh) == before
    assert counter.take() == {}


def test_kpi_tables_and_unknown_tables(fresh):
    assert table_versions.kpi_tables(get_kpi("attendance_rate")) == {"schools", "attendance"}
    assert table_versions.kpi_tables(get_kpi("digital_readiness")) >= {
        "schools",
        "digital",
        "connectivity",
        "connectivity_daily",
        "rollup_state",
    }
    kpi = get_kpi("attendance_rate")
    before = table_versions.kpi_version(fresh, kpi, fresh.data_version())
    # a table the metrics layer does not know might be read by anything: it counts for every KPI
    fresh.execute("CREATE TABLE lake.main.something_new (x INTEGER)")
    version = fresh.data_version()
    assert table_versions.kpi_version(fresh, kpi, version) == version > before
    # a version this process cannot tell about (older than read, or not reached): the data version
    assert table_versions.kpi_version(fresh, kpi, version + 5) == version + 5


def test_postgres_catalog(postgres_server, tmp_path, monkeypatch):
    url = postgres_server.create_database("dataset_versions")
    store = _seed_module().build(tmp_path / "data", catalog_url=url)
    try:
        cache.clear()
        counter = Counting(monkeypatch)
        _ask_all(store)
        counter.take()
        assert _probe(store, tmp_path).status == "loaded"
        after = _ask_all(store)
        assert counter.take() == {"uptime": 1, "digital_readiness": 1}
        _assert_direct(store, after)
    finally:
        store.close()


def test_warmer_draws_each_district_and_ward_page_as_its_officer_sees_it(fresh, monkeypatch):
    from ioc.access import AccessScope
    from ioc.app import create_app, warm_units
    from ioc.frontdoor import use_metrics
    from ioc.metrics.front import Metrics
    from ioc.pages import _unit

    app = create_app(store=fresh)
    counter = Counting(monkeypatch)
    from ioc.metrics import dimensions

    with app.server.test_request_context("/"):
        wards = [(w.code, w.parent_code) for w in dimensions.wards(fresh)]
    assert len(wards) >= 2
    # no school opened lately: one school's page (the city's answers by school), districts 760
    # and 778, every ward
    assert warm_units(app, fresh, fresh.data_version()) == 1 + 2 + len(wards)
    assert counter.take()  # computed
    pages = [("district", code, code) for code in ("760", "778")] + [("ward", w, d) for w, d in wards]
    for kind, code, district in pages:
        with app.server.test_request_context(f"/{kind}/{code}"):
            use_metrics(Metrics(fresh, AccessScope.limited([district])))
            _unit.unit_layout(kind, kind, code, {})
    assert counter.take() == {}  # every answer of the officers' pages was warm
    # leadership opening a ward finds the ward's own answers warm (only the city's are new)
    with app.server.test_request_context(f"/ward/{wards[0][0]}"):
        _unit.unit_layout("ward", "ward", wards[0][0], {})
    assert counter.take() == {"attendance_rate": 3}  # only the city summary (current, previous, trend)
    # another officer (another access scope) is not served these answers
    with app.server.test_request_context("/district/760"):
        use_metrics(Metrics(fresh, AccessScope.limited(["760", "778"])))
        _unit.unit_layout("district", "district", "760", {})
    assert counter.take()
    # a newer data version stops a round
    assert warm_units(app, fresh, fresh.data_version() - 1) is None


def test_warmer_computes_the_city_answers_by_school_when_no_school_was_opened(fresh, monkeypatch):
    from ioc.app import create_app, warm_units
    from ioc.metrics import dimensions, engine
    from ioc.pages import school

    app = create_app(store=fresh)
    assert cache.recently_opened(fresh, "school") == []
    warm_units(app, fresh, fresh.data_version())
    assert cache.recently_opened(fresh, "school") == []  # the warmer's drawing is no visit
    asked: list[tuple[str, str, bool]] = []
    real = engine.compute

    def compute(store, q, *args, **kw):
        asked.append((q.kpi, q.by, bool(q.scope.school)))
        return real(store, q, *args, **kw)

    def compute_panel(store, q, level, *args, **kw):
        asked.append((q.kpi, f"{q.by} of every {level}", False))
        return real_panel(store, q, level, *args, **kw)

    real_panel = engine.compute_panel
    monkeypatch.setattr(engine, "compute", compute)
    monkeypatch.setattr(engine, "compute_panel", compute_panel)
    last = [s.school_id for s in dimensions.schools(fresh) if s.active][-1]
    with app.server.test_request_context(f"/school/{last}"):
        page = school.layout(last)
    # a school nobody opened computes no KPI answer: its values are cut from the city's answers,
    # its series from the panels of every school the warmer's school page made
    assert asked == []
    assert "attendance" in str(page).lower()


def test_warmer_draws_the_school_pages_opened_lately(fresh, monkeypatch, tmp_path):
    from ioc.access import AccessScope
    from ioc.app import create_app, warm_units
    from ioc.frontdoor import use_metrics
    from ioc.metrics import dimensions
    from ioc.metrics.front import Metrics
    from ioc.pages import school

    app = create_app(store=fresh)
    wards = len(dimensions.wards(fresh))
    assert cache.recently_opened(fresh, "school") == []
    # an officer of Quận 7 opens S4, leadership opens S1 (the most recent)
    with app.server.test_request_context("/school/S4"):
        use_metrics(Metrics(fresh, AccessScope.limited(["778"])))
        school.layout("S4")
    with app.server.test_request_context("/school/S1"):
        school.layout("S1")
    asof = str(fresh.data_version())
    with app.server.test_request_context("/school/S1", query_string=f"asof={asof}"):
        school.layout("S1", asof=asof)  # time travel: not counted again
    assert cache.recently_opened(fresh, "school") == ["S1", "S4"]
    assert cache.recently_opened(fresh, "school", seconds=-1) == []  # only the last half hour

    _probe(fresh, tmp_path)  # a new data version: the schools' connectivity answers are stale
    counter = Counting(monkeypatch)
    drawn: list[tuple[str, str]] = []
    from ioc.pages import _unit

    real_school, real_unit = Metrics.school, _unit.unit_layout

    def school_asked(self, school_id, **kw):
        drawn.append(("school", school_id))
        return real_school(self, school_id, **kw)

    def unit_drawn(kind, *args, **kw):
        drawn.append((kind, args[1]))
        return real_unit(kind, *args, **kw)

    monkeypatch.setattr(Metrics, "school", school_asked)
    monkeypatch.setattr(_unit, "unit_layout", unit_drawn)
    assert warm_units(app, fresh, fresh.data_version()) == 2 + wards + 2
    assert counter.take()
    # the schools somebody opened come first, the most recent first; then districts, then wards
    assert drawn[:3] == [("school", "S1"), ("school", "S4"), ("district", "760")]
    assert [kind for kind, _ in drawn[3:]] == ["district"] + ["ward"] * wards
    assert cache.recently_opened(fresh, "school") == ["S1", "S4"]  # the warmer's drawing is no visit
    with app.server.test_request_context("/school/S4"):
        use_metrics(Metrics(fresh, AccessScope.limited(["778"])))
        school.layout("S4")
    with app.server.test_request_context("/school/S1"):
        school.layout("S1")
    assert counter.take() == {}  # both found every answer warm


def _units_drawn(monkeypatch) -> list[tuple[str, str]]:
    """(kind, code) of every district and ward page drawn from now on, in order."""
    from ioc.pages import _unit

    drawn: list[tuple[str, str]] = []
    real_unit = _unit.unit_layout

    def unit_drawn(kind, *args, **kw):
        drawn.append((kind, args[1]))
        return real_unit(kind, *args, **kw)

    monkeypatch.setattr(_unit, "unit_layout", unit_drawn)
    return drawn


def test_warmer_waits_while_a_request_is_in_flight_and_goes_on_after(fresh, monkeypatch):
    import threading

    from ioc.app import GiveWay, create_app, warm_units
    from ioc.metrics import dimensions
    from ioc.visitors import VISITORS_KEY

    app = create_app(store=fresh)
    visitors = app.server.extensions[VISITORS_KEY]
    visitors.grace = 0
    drawn = _units_drawn(monkeypatch)
    visitors.enter()  # an officer's request is being answered
    give_way = GiveWay(visitors, budget=3600)
    result: list[int | None] = []
    warmer = threading.Thread(
        target=lambda: result.append(warm_units(app, fresh, fresh.data_version(), pause=give_way))
    )
    warmer.start()
    try:
        assert visitors.until_waiting(60)  # the warmer waits before its first page...
        assert drawn == [] and result == []
    finally:
        visitors.leave()  # ...until the request has been answered
    warmer.join(120)
    assert not warmer.is_alive()
    wards = len(dimensions.wards(fresh))
    assert result == [1 + 2 + wards]  # then it draws every page
    assert len(drawn) == 2 + wards
    assert give_way.waits == 1  # and waited before its first page only


def test_the_warmer_gives_way_between_answers_holding_none_half_made(fresh):
    from ioc.app import create_app, warm_units

    app = create_app(store=fresh)
    cache.clear()
    held: list[list[str]] = []
    drawn = warm_units(app, fresh, fresh.data_version(), pause=lambda: held.append(list(cache._INFLIGHT)))
    assert drawn
    assert len(held) > drawn  # within pages too, not only before each
    # never while computing an answer another thread (a visitor's request) would wait for
    assert all(keys == [] for keys in held)


def test_warmer_draws_the_districts_and_wards_opened_lately_first(fresh, monkeypatch):
    from ioc.access import AccessScope
    from ioc.app import create_app, warm_units
    from ioc.frontdoor import use_metrics
    from ioc.metrics import dimensions
    from ioc.metrics.front import Metrics
    from ioc.pages import _unit

    app = create_app(store=fresh)
    first, last = [w.code for w in dimensions.wards(fresh)]
    # an officer of Quận 7 opens their district, then the city's last ward
    with app.server.test_request_context("/district/778"):
        use_metrics(Metrics(fresh, AccessScope.limited(["778"])))
        _unit.unit_layout("district", "district", "778", {})
    with app.server.test_request_context(f"/ward/{last}"):
        _unit.unit_layout("ward", "ward", last, {})
    with app.server.test_request_context(f"/ward/{first}"):  # time travel: no visit
        _unit.unit_layout("ward", "ward", first, {"asof": str(fresh.data_version())})
    assert cache.recently_opened(fresh, "ward") == [last]
    drawn = _units_drawn(monkeypatch)
    warm_units(app, fresh, fresh.data_version())
    # those opened first, then the others in their order
    assert drawn == [("district", "778"), ("district", "760"), ("ward", last), ("ward", first)]
    assert cache.recently_opened(fresh, "district") == ["778"]  # the warmer's drawing is no visit


def test_views_keyed_by_their_tables(fresh, tmp_path):
    """The school page's views: a probe load keeps the attendance calendar, redraws the timeline."""
    from ioc.access import EVERYTHING

    made: list[str] = []

    def view(kind: str, tables: tuple[str, ...]):
        def make():
            made.append(kind)
            return kind

        return cache.cached_view(fresh, kind, ("S2",), make, access=EVERYTHING, tables=tables)

    view("calendar", ("attendance",))
    view("timeline", ("connectivity",))
    view("anything", None)
    assert made == ["calendar", "timeline", "anything"]
    _probe(fresh, tmp_path)
    made.clear()
    view("calendar", ("attendance",))
    view("timeline", ("connectivity",))
    view("anything", None)
    assert made == ["timeline", "anything"]
    _load(
        fresh,
        tmp_path,
        "attendance_2026-11-18_fix.csv",
        "date,school_id,enrolled,present\n2026-11-18,S2,200,190\n",
    )
    made.clear()
    view("calendar", ("attendance",))
    view("timeline", ("connectivity",))
    assert made == ["calendar"]


def test_the_sign_in_guard_locates_units_again_only_when_schools_change(fresh, tmp_path, monkeypatch):
    from ioc.access import Place
    from ioc.auth.web import store_locator
    from ioc.metrics import engine

    locate = store_locator(lambda: fresh)
    lookups: list[str] = []
    real = engine.resolved_scope

    def counted(store, scope, *args):
        lookups.append(scope.key())
        return real(store, scope, *args)

    monkeypatch.setattr(engine, "resolved_scope", counted)
    assert locate("school", "S3") == Place("760", "26734", "S3")  # its latest version: moved to Quận 1
    assert locate("ward", "Phường Tân Mỹ") == Place("778", "Phường Tân Mỹ")
    assert locate("district", "Quận 7") == Place("778")
    assert locate("school", "nobody") is None
    assert len(lookups) == 4
    _probe(fresh, tmp_path)  # a new data version, schools unchanged: nothing looked up again
    assert locate("school", "S3") == Place("760", "26734", "S3") and len(lookups) == 4
    _load(
        fresh,
        tmp_path,
        "schools_2026-11-22.csv",
        "school_id,school_name,level,ownership,ward_code,ward_name,district_code,district_name,"
        "latitude,longitude,students,teachers,classrooms,active\n"
        "S3,Trường Tiểu học Tân Thuận,primary,public,27487,Phường Tân Thuận,778,Quận 7,10.75,106.73,50,5,5,true\n",
    )
    assert (
        locate("school", "S3") == Place("778", "27487", "S3") and len(lookups) == 5
    )  # moved back: found anew


def test_school_profile_outlives_a_probe_load_its_newest_probe_does_not(fresh, tmp_path, monkeypatch):
    """The school page's profile is keyed by attendance and digital; its newest probe apart, by
    the probes: a probe load (every 5 minutes) reads one probe again, not the school's history."""
    from ioc.metrics import views
    from ioc.metrics.front import Metrics

    made: list[str] = []
    for name in ("school_profile", "latest_probe"):
        real = getattr(views, name)

        def counted(*args, _real=real, _name=name, **kw):
            made.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(views, name, counted)
    metrics = Metrics(fresh)
    before = metrics.school("S2")
    assert before is not None and made == ["school_profile", "latest_probe"]
    assert before == views.school(fresh, "S2")  # the same answer as the uncached view
    made.clear()
    _probe(fresh, tmp_path)  # S2's newest probe is now 2026-11-20 09:00, offline
    after = metrics.school("S2")
    assert made == ["latest_probe"]
    assert after is not None and after.history == before.history
    assert after.latest_attendance == before.latest_attendance
    assert after.latest_probe is not None and after.latest_probe["online"] is False
    assert after.latest_probe != before.latest_probe
    assert after == views.school(fresh, "S2")
    # a page that shows no single probe (the school page) does not read it
    made.clear()
    _probe(fresh, tmp_path)
    without = metrics.school("S2", newest_probe=False)
    assert made == [] and without == replace(after, latest_probe=None)
    made.clear()
    resent = _load(
        fresh,
        tmp_path,
        "attendance_2026-11-20_fix.csv",
        "date,school_id,enrolled,present\n2026-11-20,S2,200,160\n",
    )
    assert resent.status == "loaded" and resent.rows_replaced == 1
    again = metrics.school("S2")
    assert made == ["school_profile"]
    assert again is not None and again.latest_attendance["present"] == 160
    assert metrics.school("no such school") is None


def test_schools_not_reporting_outlive_a_probe_load(fresh, tmp_path, monkeypatch):
    """Who did not report reads attendance and schools only: a probe load keeps it cached, an
    attendance load computes it again (with the new answer)."""
    from ioc.metrics import health
    from ioc.metrics.front import Metrics
    from ioc.metrics.query import Scope

    made: list[Scope | None] = []
    real = health.not_reporting

    def counted(store, *args, **kw):
        made.append(kw.get("scope"))
        return real(store, *args, **kw)

    monkeypatch.setattr(health, "not_reporting", counted)
    metrics = Metrics(fresh)
    day = date(2026, 11, 20)
    before = metrics.health("not_reporting", day, scope=Scope(school="S3"))
    assert len(made) == 1 and before == real(fresh, day, scope=Scope(school="S3"))
    assert [r["school_id"] for r in before] == ["S3"]  # S3 sent no attendance on the 20th
    _probe(fresh, tmp_path)
    assert metrics.health("not_reporting", day, scope=Scope(school="S3")) == before
    assert len(made) == 1  # the probe load changed nothing it reads
    _load(
        fresh,
        tmp_path,
        "attendance_2026-11-20_s3.csv",
        "date,school_id,enrolled,present\n2026-11-20,S3,200,160\n",
    )
    after = metrics.health("not_reporting", day, scope=Scope(school="S3"))
    assert len(made) == 2
    assert after == real(fresh, day, scope=Scope(school="S3"))
    assert [r["school_id"] for r in after] == []  # S3 reported on the 20th now
