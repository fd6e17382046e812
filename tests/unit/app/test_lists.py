"""The lists leadership and officers asked for (not reported today, offline now), the KPI index,
and plurals: rendered as plain functions on the small demo store."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from ioc import i18n
from ioc.metrics import health
from ioc.metrics.front import Metrics
from ioc.metrics.registry import KPIS
from ioc.pages._common import UrlState, panel_context
from ioc.pages._wall import render_panel
from ioc.panels.base import GridPos, PanelConfig
from ioc.panels.lists import reporting_day, school_days_missed


def walk(component: Any):
    yield component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            yield from walk(child)


def texts(component: Any) -> str:
    return " ".join(c.children for c in walk(component) if isinstance(getattr(c, "children", None), str))


def test_school_days_missed_count_weekdays_after_the_last_report() -> None:
    friday, monday = date(2026, 11, 27), date(2026, 11, 30)
    assert school_days_missed(friday, monday) == 1  # the weekend is not missed
    assert school_days_missed(date(2026, 11, 25), monday) == 3
    assert school_days_missed(None, monday) is None
    assert reporting_day(datetime(2026, 12, 5, 9)) == date(2026, 12, 4)  # Saturday -> Friday
    assert reporting_day(datetime(2026, 12, 7, 9)) == date(2026, 12, 7)


def test_not_reported_lists_the_silent_schools_longest_first_with_the_progress(
    request_context, demo_store
) -> None:
    ctx = panel_context(UrlState(lang="en"), "dark")
    day = demo_store.execute("SELECT max(date) FROM attendance").scalar()
    ctx = replace(ctx, date_to=day)
    out = render_panel(PanelConfig(id="nr", type="not_reported", grid=GridPos(0, 0, 3, 2)), ctx)
    missing = health.not_reporting(demo_store, day)
    assert out.state == "ok"
    assert out.body.to_plotly_json()["props"]["data-count"] == str(len(missing))
    items = [c for c in walk(out.body) if getattr(c, "className", "") == "school-item"]
    assert len(items) == len(missing)
    text = texts(out.body)
    schools = int(
        Metrics(demo_store).result("reporting_rate", "all", date_from=day, date_to=day).rows[0].denominator
    )
    noun = "school has" if len(missing) == 1 else "schools have"
    assert f"{len(missing)} {noun} not reported (of {schools})" in text
    assert f"{schools - len(missing)} schools reported on {day.isoformat()}" in text
    days = [school_days_missed(r.get("last_reported"), day) or 10_000 for r in missing]
    assert len(items) == len(days) and days  # the demo always has a silent school


def test_offline_now_lists_the_schools_of_the_kpi(request_context, demo_store) -> None:
    ctx = panel_context(UrlState(lang="en"), "dark")
    out = render_panel(PanelConfig(id="off", type="offline_now", grid=GridPos(0, 0, 3, 2)), ctx)
    offline = [r for r in Metrics(demo_store).result("schools_offline_now", "school").rows if r.value]
    assert out.body.to_plotly_json()["props"]["data-count"] == str(len(offline))
    assert "offline for at least 60 minutes" in texts(out.body)


def test_the_kpi_index_lists_every_kpi_in_both_languages(request_context) -> None:
    from ioc.pages import kpi

    for lang, other in (("vi", "en"), ("en", "vi")):
        page = kpi.layout(None, lang=lang)
        cards = [c for c in walk(page) if "kpi-card" in str(getattr(c, "className", ""))]
        assert len(cards) == len(KPIS)
        text = texts(page)
        for definition in KPIS.values():
            assert definition.name.get(lang) in text and definition.name.get(other) in text
            assert definition.description.get(lang) in text


def test_english_plurals() -> None:
    assert i18n.plural("explore.rows", 1, "en") == "1 row"
    assert i18n.plural("explore.rows", 3512, "en") == "3,512 rows"
    assert i18n.plural("explore.rows", 1, "vi") == "1 dòng"
    now = datetime(2026, 12, 5, 10)
    assert i18n.ago(datetime(2026, 12, 4, 9), now, "en") == "updated 1 day ago"
    assert i18n.ago(datetime(2026, 12, 3, 9), now, "en") == "updated 2 days ago"


def test_a_school_page_says_yes_or_no_for_the_kpis_that_count_schools(request_context, demo_store) -> None:

    from ioc.pages import school

    info = demo_store.execute(
        "SELECT school_id FROM attendance ORDER BY date DESC, school_id LIMIT 1"
    ).scalar()
    page = school.layout(str(info), lang="en")
    tiles = {
        c.to_plotly_json()["props"].get("data-panel"): c
        for c in walk(page)
        if "panel" in str(getattr(c, "className", "")).split()
    }
    covered = (
        Metrics(demo_store)
        .result("bandwidth_coverage", "school", scope=school.Scope(school=str(info)))
        .rows[0]
    )
    text = texts(tiles["bandwidth_coverage"])
    assert ("Yes" if covered.value else "No") in text and "%" not in text.split("Target")[0]
    assert "reached 20 Mbps" in text
    assert "Sent its attendance for" in texts(tiles["reporting_rate"])
    assert "Yes" not in texts(tiles["attendance_rate"])  # a rate of students stays a rate


def test_not_reported_says_today_only_on_the_day_itself(request_context, demo_store, monkeypatch) -> None:
    """On a Sunday the list is of Friday: its title names Friday, not "today"."""
    from ioc import clock
    from ioc.pages import _wall
    from tests.clock import set_clock

    panel = PanelConfig(id="nr", type="not_reported", grid=GridPos(0, 0, 3, 2))
    screen = replace(_wall.load_screens()["control_room"], panels=(panel,))
    titles = {}
    for moment in (
        datetime(2026, 12, 6, 10, tzinfo=clock.zone()),
        datetime(2026, 12, 4, 10, tzinfo=clock.zone()),
    ):
        set_clock(monkeypatch, moment)
        (section,) = _wall.grid(screen, UrlState(lang="vi"), "dark")
        titles[moment.date()] = section.children[0].children
    assert titles == {
        date(2026, 12, 6): "Trường chưa báo cáo ngày 04/12/2026",  # Sunday: Friday's list
        date(2026, 12, 4): "Trường chưa báo cáo hôm nay",
    }
