"""Figure builders: valid Plotly (fully validated), locale-aware text, links for drill-down, small."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import plotly.graph_objects as go

from ioc import figures

DAYS = [(date(2026, 11, 2) + timedelta(days=i), 0.9 + i / 1000) for i in range(20)]


def validated(fig: go.Figure) -> go.Figure:
    """Re-build the figure with Plotly's full validation (the builders skip it for speed)."""
    return go.Figure(fig.to_dict())


def test_sparkline_has_no_axes_and_no_hover() -> None:
    fig = validated(figures.sparkline(DAYS, "dark", "#1fa463"))
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert fig.data[0].hoverinfo == "skip" and fig.data[0].line.color == "#1fa463"
    assert figures.figure_bytes(fig) < 4000


def test_trend_draws_target_and_localised_hover() -> None:
    fig = validated(figures.trend([("Quận 1", DAYS)], "ratio", "vi", target=0.95))
    assert fig.layout.separators == ",."
    assert fig.data[0].hovertext[0] == "Quận 1<br>02/11/2026: 90,0 %"
    assert fig.layout.shapes[0].y0 == 0.95
    assert fig.layout.annotations[0].text == "Mục tiêu 95,0 %"
    en = figures.trend([("District 1", DAYS), ("City", DAYS)], "ratio", "en")
    assert en.layout.separators == ".," and en.layout.showlegend is True


def test_ranking_keeps_order_colours_status_and_carries_links() -> None:
    bars = [
        figures.Bar("a", "Worst", 0.80, "red", "/ward/a"),
        figures.Bar("b", "Next", 0.93, "amber", "/ward/b"),
    ]
    fig = validated(figures.ranking(bars, "ratio", "en", target=0.95))
    trace = fig.data[0]
    assert list(trace.y) == ["Next", "Worst"]  # first bar drawn on top
    assert list(trace.customdata) == ["/ward/b", "/ward/a"]
    assert list(trace.marker.color) == [figures.STATUS_COLOURS["amber"], figures.STATUS_COLOURS["red"]]
    assert list(trace.text) == ["93.0%", "80.0%"]


def test_choropleth_colours_areas_and_links_their_centres() -> None:
    square = [[[106.0, 10.0], [106.1, 10.0], [106.1, 10.1], [106.0, 10.1], [106.0, 10.0]]]
    geo = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"district_code": "760"},
                "geometry": {"type": "Polygon", "coordinates": square},
            },
            {
                "type": "Feature",
                "properties": {"district_code": "761"},
                "geometry": {"type": "MultiPolygon", "coordinates": [[[[x + 0.2, y] for x, y in square[0]]]]},
            },
        ],
    }
    fig = validated(
        figures.choropleth(
            geo, [("760", "Quận 1", 0.9, "/district/760"), ("761", "Quận 12", 1.0, None)], "ratio", "vi"
        )
    )
    areas = [t for t in fig.data if t.fill == "toself"]
    assert [a.name for a in areas] == ["760", "761"]
    assert areas[0].fillcolor == figures.GOOD_HIGH[0][1] and areas[1].fillcolor == figures.GOOD_HIGH[-1][1]
    centres = fig.data[len(areas)]
    assert list(centres.customdata) == ["/district/760", ""]
    assert centres.hovertext[0] == "Quận 1: 90,0 %"
    assert fig.layout.yaxis.scaleanchor == "x"  # no map tiles: plain axes, lon/lat at true proportions


def test_school_points_leave_out_schools_without_value() -> None:
    fig = validated(
        figures.school_points(
            [(10.8, 106.7, "A", 0.5, "/school/a"), (10.9, 106.6, "B", None, None)], "ratio", "vi"
        )
    )
    assert list(fig.data[0].customdata) == ["/school/a"]


def test_attendance_calendar_places_days_by_week_and_weekday() -> None:
    days = [
        (date(2026, 11, 23), 0.95),
        (date(2026, 11, 24), None),
        (date(2026, 11, 30), 0.9),
    ]  # Mon, Tue, Mon
    fig = validated(figures.attendance_calendar(days, "vi"))
    z = fig.data[0].z
    assert z[0][0] == 0.95 and z[1][0] is None and z[0][1] == 0.9
    assert list(fig.data[0].y)[:2] == ["T2", "T3"]
    assert fig.data[0].text[0][0] == "23/11/2026: 95,0 %"


def test_connectivity_timeline_has_speed_and_outages() -> None:
    hours = [(datetime(2026, 11, 23, h), 40.0 if h % 5 else None, 0.0 if h % 5 else 1.0) for h in range(24)]
    fig = validated(figures.connectivity_timeline(hours, "en", threshold=20))
    bars, line = fig.data
    assert bars.type == "bar" and bars.yaxis == "y2" and max(bars.y) == 1.0
    assert line.type == "scatter" and line.name == "Download speed (median)"
    assert fig.layout.shapes[0].y0 == 20


def test_explore_chart_kinds() -> None:
    rows = [("760", "Quận 1", 0.96, "/district/760"), ("761", "Quận 12", 0.95, "/district/761")]
    bar = validated(figures.explore_chart(rows, "bar", "ratio", "vi", title="T<br>sub"))
    assert bar.data[0].orientation == "h" and bar.layout.title.text == "T<br>sub"
    line = validated(figures.explore_chart(rows, "line", "ratio", "vi", time_axis=True))
    assert line.data[0].mode == "lines+markers"
    column = validated(figures.explore_chart(rows, "column", "count", "en", target=1))
    assert column.data[0].type == "bar" and column.layout.shapes[0].y0 == 1


def test_figures_carry_no_default_template() -> None:
    fig = figures.ranking([figures.Bar("a", "A", 1.0, "green")], "count", "vi")
    assert fig.to_plotly_json()["layout"]["template"] == {}


def test_boundaries_are_simplified_but_keep_every_district() -> None:
    import json
    from pathlib import Path

    from ioc.panels.maps import simplify

    shared = Path(__file__).resolve().parents[4] / "shared" / "data" / "hcmc_legacy_districts.geojson"
    raw = json.loads(shared.read_text(encoding="utf-8"))
    light = simplify(raw)
    assert [f["properties"]["district_code"] for f in light["features"]] == [
        str(f["properties"]["district_code"]) for f in raw["features"]
    ]
    rings = [r for f in light["features"] for poly in f["geometry"]["coordinates"] for r in poly]
    assert all(len(r) >= 4 and r[0] == r[-1] for r in rings)
    before = sum(len(r) for f in raw["features"] for poly in f["geometry"]["coordinates"] for r in poly)
    assert sum(len(r) for r in rings) < before / 2
    assert len(json.dumps(light)) < 100_000
