"""Explore's controls as a user meets them: a time grouping starts on whole periods, a default
start never sticks when the grouping changes, the image options travel in the URL.
(The page module is imported once the app exists, as Dash requires of registered pages.)"""

from __future__ import annotations

from datetime import date

import pytest

TO = date(2026, 12, 4)  # a Friday


@pytest.fixture
def explore(app):
    from ioc.pages import explore

    return explore


@pytest.mark.parametrize(
    ("by", "start", "periods"),
    [
        ("month", date(2026, 1, 1), 12),  # January to December: whole months
        ("week", date(2026, 8, 17), 16),  # a Monday, 16 weeks with the current one
        ("date", date(2026, 10, 6), 60),
    ],
)
def test_a_time_grouping_starts_on_whole_periods(explore, by, start, periods) -> None:
    assert explore.default_start(by, TO) == start
    if by == "week":
        assert start.weekday() == 0 and (TO - start).days // 7 + 1 == periods
    if by == "date":
        assert (TO - start).days + 1 == periods
    req = explore.request_of({"by": by, "to": TO.isoformat()})
    assert req.date_from == start and req.chart == "line"
    # the page's URL leaves the default out; its export links carry it (the file shows the page)
    assert "from=" not in explore.query_string(req)
    assert f"from={start.isoformat()}" in explore.query_string(req, explicit=True)


def test_a_month_grouping_across_a_year_boundary(explore) -> None:
    assert explore.default_start("month", date(2027, 2, 10)) == date(2026, 3, 1)


def change(explore, search: str, **values: str | None) -> str:
    """The URL explore_url makes when the controls hold ``values`` (the rest as ``search`` says)."""
    shown = explore.request_of(dict(p.split("=", 1) for p in search.lstrip("?").split("&") if p))
    controls = {
        "kpi": shown.kpi,
        "by": shown.by,
        "district": shown.scope.district,
        "ward": shown.scope.ward,
        "level": shown.scope.level,
        "ownership": shown.scope.ownership,
        "start": shown.date_from.isoformat() if shown.date_from else None,  # what the picker shows
        "end": shown.date_to.isoformat() if shown.date_to else None,
        "chart": shown.chart,
        "asof": shown.snapshot,
        "order": shown.order,
        "top": str(shown.top) if shown.top else "all",
        "compare": shown.compare,
        "size": shown.size,
        "scale": str(shown.scale),
    } | values
    return explore.explore_url(*controls.values(), search)


def test_a_default_start_does_not_stick_when_the_grouping_changes(explore) -> None:
    months = "?kpi=attendance_rate&by=month&to=2026-12-04&chart=line"
    # the picker shows 01/01/2026 (months' default); a ranking by district gets the latest day
    url = change(explore, months, by="district", chart="bar")
    assert url == "/explore?kpi=attendance_rate&by=district&to=2026-12-04&chart=bar"
    # and back: months again from their own default, not a start chosen by nobody
    url = change(explore, "?kpi=attendance_rate&by=district&to=2026-12-04", by="month")
    assert url == "/explore?kpi=attendance_rate&by=month&to=2026-12-04&chart=line"
    # a start the user chose stays
    chosen = "?kpi=attendance_rate&by=month&from=2026-09-01&to=2026-12-04&chart=line"
    assert "from=2026-09-01" in change(explore, chosen, by="week")


def test_the_comparison_and_image_options_travel_in_the_url(explore) -> None:
    url = change(explore, "?kpi=uptime&by=ward", compare="none", size="a4", scale="2")
    assert url.endswith("&compare=none&size=a4&scale=2")
    req = explore.request_of({"kpi": "uptime", "size": "a4", "scale": "2", "compare": "none"})
    assert (req.size, req.scale, req.compare) == ("a4", 2, "none")
    assert explore.request_of({"size": "poster", "scale": "9"}).size == "slide"  # unknown: defaults


def test_a_ranking_of_every_school_draws_its_first_rows_and_says_so(explore) -> None:
    from ioc import exports

    req = exports.ExportRequest("attendance_rate", "school", chart="bar", top=None)
    drawn = explore.page_ranking(req, 3472)
    assert drawn.top == explore.RANKING_MAX_ROWS  # 3,472 dots froze the browser; the table has them all
    assert explore.page_ranking(exports.ExportRequest("attendance_rate", "ward", top=None), 168).top is None
    assert (
        explore.page_ranking(exports.ExportRequest("attendance_rate", "school", chart="histogram"), 3472).top
        is None
    )
