"""Layouts and callbacks as plain functions, on a small demo store (no browser)."""

from __future__ import annotations

import json
import urllib.parse
from contextvars import copy_context
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from dash import no_update
from dash._callback_context import context_value
from dash._utils import AttributeDict

from ioc import app as app_module
from ioc import explain as explain_module
from ioc import figures, i18n, ids
from ioc.frontdoor import current_metrics
from ioc.metrics import dimensions, health
from ioc.metrics.cache import cached_compute
from ioc.metrics.front import Metrics
from ioc.metrics.query import KpiQuery, Scope
from ioc.pages import _unit, _wall
from ioc.pages._common import UrlState, filters_to_search, panel_context
from ioc.panels.base import GridPos, PanelConfig
from ioc.panels.charts import rows_that_fit
from ioc.panels.common import explain_ref, parse_explain_ref
from ioc.panels.lists import school_days_missed
from ioc.panels.screens import load_screens
from tests.clock import last_school_afternoon, set_clock


def walk(component: Any):
    """Every component of a layout tree."""
    yield component
    children = getattr(component, "children", None)
    if isinstance(children, (list, tuple)):
        for child in children:
            yield from walk(child)
    elif children is not None and hasattr(children, "to_plotly_json"):
        yield from walk(children)


def texts(component: Any) -> str:
    return " ".join(str(c.children) for c in walk(component) if isinstance(getattr(c, "children", None), str))


def panels_of(layout: Any) -> dict[str, str]:
    """panel id -> data state, for the panel frames of a layout."""
    found = {}
    for c in walk(layout):
        props = c.to_plotly_json().get("props", {}) if hasattr(c, "to_plotly_json") else {}
        if "data-panel" in props:
            found[props["data-panel"]] = props["data-state"]
    return found


def run_with_trigger(fn, prop_id: str, value: Any, *args: Any) -> Any:
    def run() -> Any:
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": prop_id, "value": value}]))
        return fn(*args)

    return copy_context().run(run)


@pytest.fixture
def district(demo_store) -> str:
    return dimensions.districts(demo_store)[0].code


def test_control_room_draws_every_panel_with_fresh_data(request_context, monkeypatch) -> None:
    set_clock(monkeypatch, last_school_afternoon())  # fresh on any day the test runs
    layout = _wall.wall_layout(None, {"kiosk": "1"})
    states = panels_of(layout)
    screen = load_screens()["control_room"]
    assert set(states) == {p.id for p in screen.panels}
    assert "error" not in states.values(), states
    assert states["attendance"] == "ok"
    assert "kiosk" in layout.className and "theme-dark" in layout.className


def test_other_screen_and_unknown_screen(request_context) -> None:
    assert set(panels_of(_wall.wall_layout("connectivity", {}))) == {
        p.id for p in load_screens()["connectivity"].panels
    }
    unknown = _wall.wall_layout("lobby", {"lang": "en"})
    assert "No screen 'lobby'" in texts(unknown)


def test_refresh_redraws_the_same_panels(request_context) -> None:
    grid, clock, refreshed = _wall.refresh_grid(
        3, {"name": "control_room", "playlist": ["control_room"]}, "?kiosk=1"
    )
    assert refreshed.startswith("làm mới lúc ")
    assert len(grid) == len(load_screens()["control_room"].panels)
    assert clock.count("/") == 2  # dd/mm/yyyy hh:mm


def test_kiosk_rotation_walks_the_playlist_and_keeps_the_query(request_context) -> None:
    state = {"name": "control_room", "playlist": ["control_room", "connectivity"]}
    assert _wall.next_screen(1, state, "?kiosk=1&lang=en") == "/screen/connectivity?kiosk=1&lang=en"
    state = {"name": "connectivity", "playlist": ["control_room", "connectivity"]}
    assert _wall.next_screen(2, state, "?kiosk=1") == "/?kiosk=1"


def test_a_stale_panel_says_so(request_context) -> None:
    panel = PanelConfig(id="att", type="kpi_tile", grid=GridPos(0, 0, 1, 1), kpi="attendance_rate")
    ctx = panel_context(UrlState(), "dark")
    # The clock is set from the data itself, so the answer does not depend on the day the test
    # runs (a weekend, Tết or the summer break put the demo's last school day days back).
    as_of = _wall.render_panel(panel, ctx).as_of
    assert as_of is not None
    ctx = replace(ctx, now=as_of + timedelta(hours=1))
    assert _wall.render_panel(panel, ctx).state == "ok"
    later = replace(ctx, now=as_of + timedelta(days=10, hours=1))
    out = _wall.render_panel(panel, later)
    assert out.state == "stale" and out.as_of is not None
    frame = _wall.frame(panel, "Att", out, UrlState(lang="en"), later.now)
    assert "Stale data: last updated" in texts(frame) and "10 days ago" in texts(frame)


def test_a_tile_draws_its_sparkline_as_an_image_whose_text_is_its_range(request_context) -> None:
    panel = PanelConfig(id="att", type="kpi_tile", grid=GridPos(0, 0, 1, 1), kpi="attendance_rate")
    for lang in ("vi", "en"):
        for theme in ("dark", "light"):
            ctx = panel_context(UrlState(lang=lang), theme)
            body = _wall.render_panel(panel, ctx).body
            # no Plotly graph in a tile: a first screen of tiles loads none of Plotly's code
            assert not [c for c in walk(body) if type(c).__name__ == "Graph"]
            (image,) = [c for c in walk(body) if type(c).__name__ == "Img"]
            (shown,) = [c for c in walk(body) if "tile-range" in str(getattr(c, "className", ""))]
            # what the image says to a screen reader is the range printed beside it (hidden from it)
            assert image.alt == shown.children and getattr(shown, "aria-hidden") == "true"
            assert image.alt.startswith(i18n.t("kpi.spark_range", lang, range=""))
            svg = urllib.parse.unquote(image.src.removeprefix("data:image/svg+xml,"))
            assert f"stroke='{figures.THEMES[theme].muted}'" in svg  # the target line, in the theme


def test_a_wall_ranking_shows_the_rows_its_panel_holds_and_of_how_many(request_context) -> None:
    panel = PanelConfig(
        id="worst",
        type="ranking",
        grid=GridPos(4, 4, 5, 2),
        kpi="attendance_rate",
        options=(("by", "school"), ("limit", 20)),
    )
    ctx = replace(panel_context(UrlState(lang="en"), "dark"), grid_rows=6)
    out = _wall.render_panel(panel, ctx)
    fig = out.body.figure
    shown = len(fig.layout.yaxis.ticktext)
    # a third of a 1080p wall holds 7 rows of 20 px text (6 under a stale-data banner), not 20
    assert shown == rows_that_fit(2 / 6, banner=out.state == "stale") == (6 if out.state == "stale" else 7)
    total = sum(1 for r in current_metrics().result("attendance_rate", "school").rows if r.value is not None)
    assert f"{shown} of {total}" in [a.text for a in fig.layout.annotations]
    on_a_desk = _wall.render_panel(panel, replace(ctx, grid_rows=0)).body.figure
    assert len(on_a_desk.layout.yaxis.ticktext) == 20


def test_a_failing_panel_shows_the_error_in_place(request_context) -> None:
    panel = PanelConfig(
        id="att",
        type="kpi_tile",
        grid=GridPos(0, 0, 1, 1),
        kpi="attendance_rate",
        filters=Scope(district="no such district"),
    )
    out = _wall.render_panel(panel, panel_context(UrlState(), "dark"))
    assert out.state == "error" and "district" in out.message
    frame = _wall.frame(panel, "Att", out, UrlState(), panel_context(UrlState(), "dark").now)
    assert "Không tải được dữ liệu" in texts(frame)


def test_a_panel_without_data_says_so(app, store) -> None:
    with app.server.test_request_context("/"):
        ctx = replace(panel_context(UrlState(), "dark"), metrics=Metrics(store))  # an empty store
        panel = PanelConfig(id="att", type="kpi_tile", grid=GridPos(0, 0, 1, 1), kpi="attendance_rate")
        assert _wall.render_panel(panel, ctx).state == "missing"


def test_explanation_shows_the_numbers_of_the_metrics_layer(request_context, demo_store, district) -> None:
    result = cached_compute(demo_store, KpiQuery("attendance_rate", scope=Scope(district=district)))
    row = result.rows[0]
    ref = explain_ref("attendance_rate", Scope(district=district), result.date_to, None, result.date_from)
    assert parse_explain_ref(ref)["scope"] == Scope(district=district)
    body = explain_module.explanation(ref, "en")
    fields = {
        c.to_plotly_json()["props"]["data-field"]: c.children
        for c in walk(body)
        if "data-field" in c.to_plotly_json().get("props", {})
    }
    from ioc import i18n

    assert fields["numerator"] == i18n.number(row.numerator, "en", 0)
    assert fields["denominator"] == i18n.number(row.denominator, "en", 0)
    assert fields["value"] == i18n.percent(row.value, "en", 1)
    assert fields["schools_reporting"] == str(row.schools_reporting)
    assert fields["period"] == i18n.format_date(result.date_to, "en")


def test_explain_callback_opens_on_click_only(request_context, district) -> None:
    ref = explain_ref("attendance_rate", Scope(district=district))
    prop = json.dumps(ids.explain(ref), separators=(",", ":"), sort_keys=True) + ".n_clicks"
    opened = run_with_trigger(app_module.explain, prop, 1, [1], 0, "?lang=en")
    assert opened[0] == "explain"
    appeared = run_with_trigger(app_module.explain, prop, 0, [0], 0, "")
    assert appeared[0] is no_update
    closed = run_with_trigger(app_module.explain, f"{ids.EXPLAIN_CLOSE}.n_clicks", 1, [1], 1, "")
    assert closed[0] == "explain hidden"


def test_drill_goes_to_the_clicked_link() -> None:
    prop = json.dumps({"index": "map", "type": "drill-graph"}, separators=(",", ":")) + ".clickData"
    click = {"points": [{"customdata": "/district/760?lang=en"}]}
    assert run_with_trigger(app_module.drill, prop, click, [click]) == "/district/760?lang=en"
    empty = {"points": [{"customdata": ""}]}
    assert run_with_trigger(app_module.drill, prop, empty, [empty]) is no_update


def test_header_is_hidden_in_kiosk_mode_and_switches_language(request_context) -> None:
    # the header callback runs in a request, as Dash runs it (its home link is the caller's home)
    children, cls = app_module.header("/explore", "?kiosk=1")
    assert cls == "app-header hidden" and children == []
    children, cls = app_module.header("/explore", "?kpi=uptime")
    switch = children[-1]
    assert switch.href == "/explore?kpi=uptime&lang=en" and switch.children == "English"


def test_district_page_shows_kpis_ranking_table_and_not_reporting(request_context, district) -> None:
    layout = _unit.unit_layout("district", "district", district, {})
    text = texts(layout)
    assert "Toàn thành phố" in text and "Trường chưa báo cáo" in text
    grids = [c for c in walk(layout) if type(c).__name__ == "AgGrid"]
    assert grids and all(r["link"].startswith("/ward/") for r in grids[0].rowData)
    assert set(panels_of(layout)) == set(_unit.CORE_KPIS)


def test_unknown_district_is_a_clear_page(request_context) -> None:
    assert "Unit 'nowhere' not found" in texts(
        _unit.unit_layout("district", "district", "nowhere", {"lang": "en"})
    )


def test_ward_and_school_pages_have_breadcrumbs_back_up(request_context, demo_store) -> None:
    from ioc.pages import school

    info = dimensions.schools(demo_store)[0]
    ward = _unit.unit_layout("ward", "ward", info.ward_code, {})
    crumbs = next(c for c in walk(ward) if getattr(c, "className", "") == "breadcrumbs")
    assert [getattr(c, "href", None) for c in crumbs.children if getattr(c, "href", None)] == [
        "/",
        f"/district/{info.district_code}",
    ]
    page = school.layout(info.school_id, lang="en")
    text = texts(page)
    assert info.school_name in text and "Attendance calendar" in text and "Connectivity, last 14 days" in text
    graphs = [c for c in walk(page) if type(c).__name__ == "Graph"]
    assert any(g.figure.data and g.figure.data[0].type == "heatmap" for g in graphs)
    assert "not found" in texts(school.layout("nope", lang="en"))


def test_the_school_page_says_since_when_a_school_has_not_reported(request_context, demo_store) -> None:
    from ioc.pages import school

    days = [r[0] for r in demo_store.execute("SELECT DISTINCT date FROM attendance ORDER BY 1 DESC").rows]
    # the latest school day on which some school of the demo sent nothing, and one such school
    silent = next((day, rows) for day in days if (rows := health.not_reporting(demo_store, day)))
    day, rows = silent
    row = next((r for r in rows if r["last_reported"] is not None), rows[0])
    page = school.layout(row["school_id"], lang="en", to=day.isoformat())
    badge = next(c for c in walk(page) if getattr(c, "className", "") == "silent-badge")
    if row["last_reported"] is None:
        assert badge.children == f"Has never reported (latest school day {day.isoformat()})"
    else:
        missed = school_days_missed(row["last_reported"], day)
        days_text = f"{missed} school day{'' if missed == 1 else 's'}"
        assert badge.children == (
            f"Has not reported since {row['last_reported'].isoformat()}: {days_text} missing"
            f" (latest school day {day.isoformat()})"
        )
        vi = texts(school.layout(row["school_id"], to=day.isoformat()))
        assert f"Chưa báo cáo kể từ {row['last_reported'].strftime('%d/%m/%Y')}" in vi
    # the attendance tiles say the same instead of a bare "no data for this panel"
    banners = [c for c in walk(page) if "banner-missing" in str(getattr(c, "className", ""))]
    assert any(badge.children in texts(b) for b in banners)
    # a school that did report that day has no badge
    reported = next(
        s.school_id
        for s in dimensions.schools(demo_store)
        if s.school_id not in {r["school_id"] for r in rows}
    )
    page = school.layout(reported, lang="en", to=day.isoformat())
    assert not [c for c in walk(page) if getattr(c, "className", "") == "silent-badge"]


def test_filter_and_picker_changes_become_urls() -> None:
    assert (
        filters_to_search(UrlState(lang="en"), "primary", None, "2026-11-20", 5)
        == "?lang=en&level=primary&to=2026-11-20&asof=5"
    )
    assert (
        _unit.unit_search("?lang=en", None, "public", None, None, "uptime", "/district/760")
        == "/district/760?lang=en&ownership=public&kpi=uptime"
    )
    assert _unit.row_link({"rowId": "/ward/26740", "colId": "label"}) == "/ward/26740"
    assert _unit.row_link({"rowId": "26740"}) is no_update
    assert _unit.row_link(None) is no_update


def test_explore_url_and_page(request_context, district) -> None:
    from ioc.pages import explore

    url = explore.explore_url(
        "uptime",
        "date",
        district,
        "x",
        None,
        None,
        "2026-11-01",
        None,
        "bar",
        None,
        "worst",
        None,
        None,
        None,
        None,
        "?lang=en",
    )
    assert url == f"/explore?kpi=uptime&by=date&district={district}&ward=x&from=2026-11-01&chart=line&lang=en"
    layout = explore.layout(kpi="attendance_rate", by="district")
    links = {
        c.id: c.href for c in walk(layout) if getattr(c, "href", None) and str(c.href).startswith("/export/")
    }
    assert links[ids.id("explore", "export-csv")] == "/export/csv?kpi=attendance_rate&by=district&chart=bar"
    assert set(links) == {
        ids.id("explore", f"export-{f}") for f in ("png", "svg", "pdf", "csv", "xlsx", "parquet")
    }


def test_data_health_and_kpi_pages_render(request_context) -> None:
    from ioc.pages import data_health, kpi

    health = data_health.layout(lang="en")
    assert "Freshness per dataset" in texts(health) and "Ingestion runs" in texts(health)
    definition = kpi.layout("attendance_rate", lang="en")
    assert "Higher is better" in texts(definition)
    assert "No KPI 'nope'" in texts(kpi.layout("nope", lang="en"))


def test_clicking_a_table_value_explains_it_and_a_name_drills(request_context, demo_store, district) -> None:
    layout = _unit.unit_layout("district", "district", district, {"lang": "en"})
    table = next(c for c in walk(layout) if type(c).__name__ == "AgGrid")
    row = table.rowData[0]
    box, body = explain_module.explain_cell(
        {"colId": "shown", "rowId": row["link"]}, table.rowData, "?lang=en"
    )
    assert box == "explain"
    fields = {
        c.to_plotly_json()["props"]["data-field"]: c.children
        for c in walk(body)
        if "data-field" in c.to_plotly_json().get("props", {})
    }
    assert fields["value"] == row["shown"] and f"Ward: {row['key']}" in fields["scope"]
    assert explain_module.explain_cell({"colId": "label", "rowId": row["link"]}, table.rowData, "") == (
        no_update,
        no_update,
    )
    assert _unit.row_link({"colId": "shown", "rowId": row["link"]}) is no_update
    assert _unit.row_link({"colId": "label", "rowId": row["link"]}) == row["link"]


def test_explore_rows_carry_their_question(request_context) -> None:
    from ioc import exports
    from ioc.pages import explore

    req = exports.ExportRequest(kpi="attendance_rate", by="date", scope=Scope(level="primary"))
    res = current_metrics().answer(req.query())
    ref = parse_explain_ref(explore.row_ref(req, res.rows[0].key, res))
    assert ref["date_from"] == ref["date_to"] and ref["date_to"].isoformat() == res.rows[0].key
    assert ref["scope"] == Scope(level="primary")
    assert explore.row_ref(replace(req, by="month"), "2026-11", res) is None


def test_explore_shows_the_same_numbers_as_the_api(app, request_context) -> None:
    from ioc.pages import explore

    layout = explore.layout(kpi="uptime", by="ward", level="primary")
    table = next(c for c in walk(layout) if type(c).__name__ == "AgGrid")
    response = app.server.test_client().get("/api/v1/kpis/uptime?by=ward&level=primary")
    assert response.status_code == 200
    api = {r["key"]: (r["value"], r["numerator"], r["denominator"]) for r in response.get_json()["rows"]}
    page = {r["key"]: (r["value"], r["numerator"], r["denominator"]) for r in table.rowData}
    assert page == api and page


def test_as_of_draws_the_wall_from_an_older_snapshot(request_context, demo_store) -> None:
    from ioc import i18n
    from ioc.metrics.views import snapshots

    older = snapshots(demo_store, 500)[-3].version  # just after the first school files: no facts yet
    layout = _wall.wall_layout(None, {"asof": str(older), "lang": "en"})
    assert f"Data as of version {older}" in texts(layout)
    then = cached_compute(demo_store, KpiQuery("attendance_rate", snapshot=older)).rows[0].value
    tile = next(c for c in walk(layout) if "tile-value" in str(getattr(c, "className", "")))
    assert tile.children == i18n.kpi_value(then, "ratio", "en", 1)


def test_expected_cadence_is_shown_in_the_page_language() -> None:
    from types import SimpleNamespace

    from ioc.metrics import health
    from ioc.pages import data_health

    f = SimpleNamespace(dataset="digital", expected_cadence=health.DEFAULT_CADENCES["digital"].label)
    assert data_health._cadence_text(f, UrlState(lang="vi")) == "hằng tháng"
    assert data_health._cadence_text(f, UrlState(lang="en")) == "monthly"
    configured = SimpleNamespace(dataset="digital", expected_cadence="every 10 days")
    assert data_health._cadence_text(configured, UrlState(lang="vi")) == "every 10 days"
