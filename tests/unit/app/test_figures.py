"""Figure builders: valid Plotly (fully validated), locale-aware text, links for drill-down, small."""

from __future__ import annotations

import re
import urllib.parse
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta

import plotly.graph_objects as go
import pytest

from ioc import clock, figures

SVG = {"svg": "http://www.w3.org/2000/svg"}
DAYS = [(date(2026, 11, 2) + timedelta(days=i), 0.9 + i / 1000) for i in range(20)]


def validated(fig: go.Figure) -> go.Figure:
    """Re-build the figure with Plotly's full validation (the builders skip it for speed)."""
    return go.Figure(fig.to_dict())


def spark_svg(svg: str) -> ET.Element:
    """A sparkline's SVG document, parsed (it must be well-formed XML for the browser to draw it)."""
    return ET.fromstring(svg)


def percent(value: str | None) -> float:
    assert value is not None and value.endswith("%"), value
    return float(value[:-1])


def test_sparkline_is_a_small_svg_without_text_that_holds_its_target() -> None:
    root = spark_svg(figures.sparkline(DAYS, "dark", "#1fa463", target=0.95))
    # no axes, no labels, no hover: a line (one segment a day), its colour, and the target
    assert not root.findall(".//svg:text", SVG)
    segments = root.findall("./svg:g/svg:line", SVG)
    assert len(segments) == len(DAYS) - 1 and root.find("./svg:g", SVG).get("stroke") == "#1fa463"
    # a tall image (a 4K wall's tile) draws the line, the target and the dots thicker
    style = root.find("./svg:style", SVG)
    assert style is not None and "@media (min-height" in (style.text or "")
    assert root.find("./svg:g", SVG).get("class") == "s" and root.find("./svg:line", SVG).get("class") == "t"
    (target,) = root.findall("./svg:line", SVG)
    assert target.get("stroke") == figures.THEMES["dark"].muted and target.get("stroke-dasharray")
    # the range holds the values (0.900-0.919) and the target: a wiggle is not drawn as a collapse;
    # the target (above) is near the top, every value below it, the line within the box
    ys = [percent(s.get(k)) for s in segments for k in ("y1", "y2")]
    assert 0 < percent(target.get("y1")) < min(ys) and max(ys) < 100
    assert max(ys) - min(ys) < 40  # 0.019 of a 0.05 + padding range: under half the height
    # later days further right, the values' order kept (rising: higher up)
    xs = [percent(s.get("x1")) for s in segments]
    assert xs == sorted(xs) and percent(segments[0].get("y1")) > percent(segments[-1].get("y2"))
    assert len(figures.svg_uri(figures.sparkline(DAYS, "dark", "#1fa463", target=0.95))) < 4000


def test_sparkline_draws_gaps_as_gaps_and_a_lone_value_as_a_dot() -> None:
    days = [(date(2026, 11, 2) + timedelta(days=i), None if i in (5, 7, 8) else 0.9) for i in range(20)]
    root = spark_svg(figures.sparkline(days, "light"))
    segments = root.findall("./svg:g/svg:line", SVG)
    # 19 pairs of neighbours, 5 of them with a missing day: never joined across it (days 4-6, 6-9)
    starts = [round((percent(s.get("x1")) - 2) / 96 * 19) for s in segments]
    assert starts == [0, 1, 2, 3, *range(9, 19)]
    assert all(
        round((percent(s.get("x2")) - 2) / 96 * 19) == d + 1 for s, d in zip(segments, starts, strict=True)
    )
    dots = root.findall("./svg:g/svg:circle", SVG)
    assert [percent(d.get("cx")) for d in dots] == [pytest.approx(2 + 96 * 6 / 19, abs=0.1)]  # day 6, alone
    assert root.find("./svg:g", SVG).get("stroke") == figures.THEMES["light"].accent  # no colour: the theme's
    assert not root.findall("./svg:line", SVG)  # no target, no target line
    # a few points (a monthly KPI) are each marked, placed by their date (not evenly)
    months = [(date(2026, 9, 30), 60.0), (date(2026, 10, 31), 61.0), (date(2026, 11, 4), 61.3)]
    marked = spark_svg(figures.sparkline(months, "light", target=65.0))
    cx = [percent(d.get("cx")) for d in marked.findall("./svg:g/svg:circle", SVG)]
    assert cx == [2.0, pytest.approx(2 + 96 * 31 / 35, abs=0.1), 98.0]


def test_sparkline_uri_is_an_image_the_policy_allows() -> None:
    uri = figures.svg_uri(figures.sparkline(DAYS, "light", target=0.95))
    assert uri.startswith("data:image/svg+xml,")  # img-src 'self' data:
    text = urllib.parse.unquote(uri.removeprefix("data:image/svg+xml,"))
    assert spark_svg(text).tag == "{http://www.w3.org/2000/svg}svg"
    # what a URL must not hold bare ('#' would end it at the first colour)
    assert not any(c in uri for c in '<>"#\n')


def test_spark_points_are_complete_days_without_empty_ends_and_monthly_kpis_monthly() -> None:
    days = [(date(2026, 11, 1) + timedelta(days=i), None if i < 5 or i == 9 else 0.9) for i in range(12)]
    points = figures.spark_points(days, partial_day=date(2026, 11, 12))
    assert points[0][0] == date(2026, 11, 6)  # the empty days before the first value are left out
    assert points[-1][0] == date(2026, 11, 11)  # today (partial) is left out
    assert (date(2026, 11, 10), None) in points  # a missing day inside stays a gap
    month = [(date(2026, 9, 20) + timedelta(days=i), 60.0 if i < 15 else 61.3) for i in range(60)]
    monthly = figures.spark_points(month, grain="month")
    assert [p[0].month for p in monthly] == [9, 10, 11] and monthly[-1][1] == 61.3
    assert figures.spark_range(monthly, "index", "vi") == "60,0 – 61,3"
    assert figures.spark_range([], "ratio", "vi") == "—"


def d3_format(value: float, fmt: str) -> str:
    """The label d3 prints for ``value`` with the formats the builders use (',.Nf', '.N%', ',d')."""
    if fmt.endswith("%"):
        return f"{value * 100:.{int(fmt[1:-1])}f}%"
    if fmt == ",d":
        return f"{round(value):,d}"
    return f"{value:,.{int(fmt[2:-1])}f}"


def tick_labels(first: float, step: float, fmt: str, low: float, high: float) -> list[str]:
    ticks = [first + i * step for i in range(int((high - first) / step) + 2)]
    return [d3_format(t, fmt) for t in ticks if low - step <= t <= high + step]


def test_no_two_ticks_print_the_same_label() -> None:
    cases = [
        (0.990, 0.996, "ratio"),  # the uptime trend once read "100 %, 99 %, 99 %, 99 %"
        (0.928, 0.95, "ratio"),
        (0.0, 1.0, "ratio"),
        (0.897, 0.905, "ratio"),
        (60.2, 61.3, "index"),
        (0.004, 0.009, "mbps_per_student"),
        (0, 7, "count"),
        (1200, 3500, "count"),
    ]
    for low, high, unit in cases:
        first, step, fmt = figures.nice_ticks(low, high, unit)
        labels = tick_labels(first, step, fmt, low, high)
        assert len(labels) >= 2, (low, high, unit)
        assert len(set(labels)) == len(labels), (low, high, unit, labels)
    fig = figures.trend([("x", [(d, 0.99 + i / 2000) for i, (d, _) in enumerate(DAYS)])], "ratio", "vi")
    axis = fig.layout.yaxis
    steps = {round(b - a, 6) for a, b in zip(axis.tickvals, axis.tickvals[1:], strict=False)}
    assert steps == {0.002} and "99,2\u00a0%" in axis.ticktext


def test_a_vietnamese_chart_prints_a_percentage_as_its_text_does() -> None:
    """Text says "99,4 %" (ioc.i18n.percent): the ticks of value axes and colour bars say the
    same, never Plotly's "99,4%", and so does every hover text."""
    values = [(d, 0.990 + i / 1000) for i, (d, _) in enumerate(DAYS)]
    rows = [(d.isoformat(), d.isoformat(), v, None) for d, v in values]
    charts = [
        figures.trend([("Quận 1", values)], "ratio", "vi", target=0.995),
        figures.explore_chart(rows, "line", "ratio", "vi", time_axis=True),
        figures.explore_chart(rows, "histogram", "ratio", "vi"),
        figures.attendance_calendar(values, "vi"),
    ]
    printed: list[str] = []
    for fig in charts:
        scales = [fig.layout[k] for k in fig.layout if k.startswith(("xaxis", "yaxis"))]
        scales += [t.colorbar for t in fig.data if "colorbar" in t and t.colorbar.ticktext]
        scales += [t.marker.colorbar for t in fig.data if "marker" in t and "colorbar" in t.marker]
        assert not [s.tickformat for s in scales if (s.tickformat or "").endswith("%")]
        printed += [str(text) for s in scales for text in s.ticktext or ()]
        printed += [str(h) for t in fig.data for h in (t.hovertext or ()) if "hovertext" in t]
    percents = [p for p in printed if "%" in p]
    assert "99,0\u00a0%" in percents and "99,5\u00a0%" in percents
    assert not [p for p in percents if re.search(r"\d%", p)], percents


def test_trend_draws_target_and_localised_hover() -> None:
    fig = validated(figures.trend([("Quận 1", DAYS)], "ratio", "vi", target=0.95))
    assert fig.layout.separators == ",."
    assert fig.data[0].hovertext[0] == "Quận 1<br>02/11/2026: 90,0\u00a0%"
    assert fig.layout.shapes[0].y0 == 0.95
    # the target is named in the key above the plot, not by a label sitting on its line
    assert not fig.layout.annotations
    key = [t for t in fig.data if t.showlegend]
    assert [t.name for t in key] == ["Mục tiêu 95,0\u00a0%"] and key[0].line.dash == "dash"
    assert fig.layout.legend.y == 1 and fig.layout.legend.yanchor == "bottom"
    low, high = fig.layout.yaxis.range  # the target at the edge of the data is not on the axis line
    assert low < min(min(v for _, v in DAYS if v is not None), 0.95) and high > 0.95
    en = figures.trend([("District 1", DAYS), ("City", DAYS)], "ratio", "en")
    assert en.layout.separators == ".," and en.layout.showlegend is True
    assert [t.showlegend for t in en.data] == [True, True]
    partial = figures.trend([("x", DAYS)], "ratio", "vi", partial_day=DAYS[-1][0])
    assert len(partial.data[0].x) == len(DAYS) - 1


def test_ranking_is_sorted_worst_first_with_the_gap_to_target_visible() -> None:
    bars = [
        figures.Bar("b", "Next", 0.93, "amber", "/ward/b"),
        figures.Bar("c", "None", None, "no_data", None),
        figures.Bar("a", "Worst", 0.928, "red", "/ward/a"),
        figures.Bar("d", "Best", 0.95, "green", "/ward/d"),
    ]
    fig = validated(figures.ranking(bars, "ratio", "en", target=0.95))
    stems, dots, _ = fig.data
    assert list(fig.layout.yaxis.ticktext) == ["Worst", "Next", "Best", "None"]  # worst on top, no data last
    assert list(dots.customdata) == ["/ward/a", "/ward/b", "/ward/d", ""]
    assert list(dots.marker.color)[:3] == [figures.STATUS_COLOURS[s] for s in ("red", "amber", "green")]
    assert list(fig.layout.yaxis2.ticktext)[:2] == ["92.8% (−2.2\u00a0pts)", "93.0% (−2.0\u00a0pts)"]
    assert stems.x[:2] == (0.95, 0.928)  # each stem runs from the target to the value
    low, high = fig.layout.xaxis.range
    assert 0.9 < low < 0.928 and high > 0.95  # the spread is visible
    # a deviation chart: the gaps are the stems, the values are printed, the axis prints no ticks
    assert fig.layout.xaxis.showticklabels is False and not fig.layout.xaxis.title.text
    assert [a.text for a in fig.layout.annotations] == ["Target 95.0%"]
    assert dots.cliponaxis is False  # a dot at the edge of the range is drawn whole
    plain_axis = validated(figures.ranking(bars, "ratio", "en"))  # no target: a printed value axis ...
    assert plain_axis.layout.xaxis.showticklabels is not False
    assert plain_axis.layout.xaxis.title.text == "Axis does not start at 0"  # ... that says so
    part = figures.ranking(bars[:2], "ratio", "en", target=0.95, total=168)
    note = next(a for a in part.layout.annotations if a.text == "2 of 168")  # the start of a longer list
    assert note.x == 0 and note.xanchor == "right"  # over the names, clear of the target's label
    best = figures.ranking(bars, "ratio", "en", target=0.95, order="best")
    assert list(best.layout.yaxis.ticktext)[:3] == ["Best", "Next", "Worst"]
    lower = figures.ranking(bars[:2], "ratio", "en", higher_better=False)
    assert list(lower.layout.yaxis.ticktext) == ["Next", "None"]


def test_choropleth_colours_by_the_traffic_light_with_a_legend_and_every_area() -> None:
    square = [[[106.0, 10.0], [106.1, 10.0], [106.1, 10.1], [106.0, 10.1], [106.0, 10.0]]]

    def feature(code: str, dx: float, dy: float = 0.0) -> dict:
        ring = [[x + dx, y + dy] for x, y in square[0]]
        return {
            "type": "Feature",
            "properties": {"district_code": code, "district_name": f"Huyện {code}"},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }

    geo = {
        "type": "FeatureCollection",
        "features": [feature("760", 0), feature("761", 0.2), feature("755", 0, -2.1)],
    }
    rows = [
        ("760", "Quận 1", 0.9, "/district/760"),
        ("761", "Quận 12", 0.96, None),
        ("755", "Côn Đảo", 0.92, None),
    ]
    fig = validated(figures.choropleth(geo, rows, "ratio", "vi", green=0.95, amber=0.91))
    areas = [t for t in fig.data if t.fill == "toself"]
    assert [a.name for a in areas] == ["760", "761", "755"]
    assert [a.fillcolor for a in areas] == [figures.STATUS_COLOURS[s] for s in ("red", "green", "amber")]
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["≥ 95,0\u00a0%", "91,0\u00a0% – 95,0\u00a0%", "< 91,0\u00a0%", "Không có dữ liệu"]
    # the island 2 degrees south is moved into a framed inset inside the map's frame
    island = [y for y in areas[2].y if y is not None]
    low, high = fig.layout.yaxis.range
    assert min(island) > low and max(island) < high and high - low < 1
    assert fig.layout.shapes[0].type == "rect"
    centres = next(t for t in fig.data if t.mode == "markers" and t.hovertext)
    assert list(centres.customdata)[:2] == ["/district/760", ""]
    assert centres.hovertext[0] == "Quận 1: 90,0\u00a0%"
    assert fig.layout.yaxis.scaleanchor == "x"  # no map tiles: plain axes, lon/lat at true proportions
    plain = validated(figures.choropleth(geo, rows[:2], "ratio", "vi"))
    assert not any(t.showlegend for t in plain.data)  # without thresholds: a colour bar


def test_merged_districts_are_one_area_of_the_code_the_data_uses() -> None:
    from ioc.panels.maps import merge_former

    square = [[[106.0, 10.0], [106.1, 10.0], [106.1, 10.1], [106.0, 10.0]]]
    geo = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"district_code": code, "district_name": name},
                "geometry": {"type": "MultiPolygon", "coordinates": [square]},
            }
            for code, name in (("752", "Huyện Long Điền"), ("753", "Huyện Đất Đỏ"))
        ],
    }
    merged = merge_former(geo)["features"]
    assert [(f["properties"]["district_code"], f["properties"]["district_name"]) for f in merged] == [
        ("753", "Huyện Long Đất")
    ]
    assert len(merged[0]["geometry"]["coordinates"]) == 2


def test_school_points_are_svg_not_webgl_and_keep_schools_without_value() -> None:
    points = [
        (10.8, 106.7, "A", 0.5, "/school/a"),
        (10.9, 106.6, "B", None, None),
        (10.7, 106.5, "C", 0.97, None),
    ]
    fig = validated(figures.school_points(points, "ratio", "vi", green=0.95, amber=0.9))
    assert {t.type for t in fig.data} == {"scatter"}  # WebGL traces need 'unsafe-eval' (CSP)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["< 90,0\u00a0%"].customdata) == ["/school/a"]
    assert list(by_name["Không có dữ liệu"].hovertext) == ["B: —"]
    plain = validated(figures.school_points(points, "ratio", "vi"))
    assert plain.data[0].type == "scatter" and list(plain.data[0].customdata) == ["/school/a", ""]


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
    assert fig.data[0].text[0][0] == "23/11/2026: 95,0\u00a0%"


def test_connectivity_timeline_has_speed_and_outages() -> None:
    hours = [(datetime(2026, 11, 23, h), 40.0 if h % 5 else None, 0.0 if h % 5 else 1.0) for h in range(24)]
    fig = validated(figures.connectivity_timeline(hours, "en", threshold=20))
    bars, line = fig.data
    assert bars.type == "bar" and bars.yaxis == "y2" and max(bars.y) == 1.0
    assert line.type == "scatter" and line.name == "Download speed (median)"
    assert fig.layout.shapes[0].y0 == 20


def test_connectivity_timeline_breaks_the_line_at_a_gap_in_the_probes() -> None:
    """Hours without probes are a gap in the speed line, not a straight line across them."""
    day = datetime(2026, 12, 4)
    hours = [(day.replace(hour=h), 100.0, 0.0) for h in (8, 9, 10)] + [
        (day.replace(hour=h), 30.0, 0.0) for h in (20, 21)
    ]
    fig = validated(figures.connectivity_timeline(hours, "vi"))
    bars, line = fig.data
    assert len(bars.x) == 5  # the bars are the hours with probes
    assert list(line.y) == [100.0, 100.0, 100.0, None, 30.0, 30.0]
    assert line.x[3] == day.replace(hour=11).isoformat() and line.connectgaps in (None, False)
    assert line.hovertext[3] == ""
    assert list(line.marker.size) == [0] * 6  # every point has a neighbour: a line, no dots

    alone = hours[:2] + [(day.replace(hour=23), 25.0, 0.0)]  # one hour of probes after a gap
    fig = validated(figures.connectivity_timeline(alone, "vi"))
    assert list(fig.data[1].y) == [100.0, 100.0, None, 25.0]
    assert list(fig.data[1].marker.size) == [0, 0, 0, 6]  # drawn as a dot, not lost


def test_explore_chart_kinds() -> None:
    rows = [("760", "Quận 1", 0.96, "/district/760"), ("761", "Quận 12", 0.95, "/district/761")]
    bar = validated(figures.explore_chart(rows, "bar", "ratio", "vi", title="T<br>sub"))
    assert list(bar.layout.yaxis.ticktext) == ["Quận 12", "Quận 1"] and bar.layout.title.text == "T<br>sub"
    top = validated(figures.explore_chart(rows, "bar", "ratio", "vi", top=1, green=0.96, amber=0.9))
    assert list(top.layout.yaxis.ticktext) == ["Quận 12"]
    assert "1 trên 2" in [a.text for a in top.layout.annotations]
    line = validated(figures.explore_chart(rows, "line", "ratio", "vi", time_axis=True))
    assert line.data[0].mode == "lines+markers"
    column = validated(figures.explore_chart(rows, "column", "count", "en", target=1))
    assert column.data[0].type == "bar" and column.layout.shapes[0].y0 == 1
    months = [("2026-10", "2026-10", 0.95, None), ("2026-11", "2026-11", 0.94, None)]
    monthly = validated(figures.explore_chart(months, "line", "ratio", "vi", time_axis=True, grain="month"))
    assert list(monthly.data[0].x) == ["10/2026", "11/2026"] and monthly.layout.xaxis.type == "category"
    many = [(str(i), f"S{i}", 0.8 + (i % 20) / 100, None) for i in range(3000)]
    hist = validated(
        figures.explore_chart(many, "histogram", "ratio", "en", target=0.95, green=0.95, amber=0.9)
    )
    assert hist.data[0].type == "bar" and sum(hist.data[0].y) == 3000 and len(hist.data[0].y) < 60
    assert figures.figure_bytes(hist) < 20_000


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


def test_map_names_are_placed_apart_and_inside_the_map() -> None:
    box = (0.0, 0.0, 1.0, 1.0)
    em = 0.04
    wanted = [
        (0.5, 0.5, "Dầu Tiếng"),
        (0.52, 0.5, "Phú Giáo"),
        (0.55, 0.5, "Tân Uyên"),
        (0.99, 0.2, "Xuyên Mộc"),
    ]
    placed = figures.place_labels(wanted, box, em)

    def extent(x: float, y: float, text: str) -> tuple[float, float, float, float]:
        width, height = 0.6 * em * len(text), 1.3 * em
        return x - width / 2, y - height / 2, x + width / 2, y + height / 2

    boxes = [extent(*p) for p in placed]
    assert [p[2] for p in placed] == ["Dầu Tiếng", "Phú Giáo", "Tân Uyên", "Xuyên Mộc"]  # above, below
    for i, a in enumerate(boxes):
        assert box[0] <= a[0] and a[2] <= box[2]  # none past the edge ("Xuyên Mộc" was cut)
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] + 1e-9 or b[3] <= a[1] + 1e-9
            assert apart  # none over another
    crowded = figures.place_labels([(0.5, 0.5, "Củ Chi")] * 4, box, em)
    assert len(crowded) == 3  # a fourth name at the same place has no room: left out


def test_a_period_that_is_not_over_is_drawn_hollow_and_says_so() -> None:
    """Explore's last month, when it is this month so far, is a hollow point reached by a dotted
    line and labelled "đến nay"; as a column, a faded hatched bar with the same words."""
    months = [
        ("2026-10", "2026-10", 0.95, None),
        ("2026-11", "2026-11", 0.94, None),
        ("2026-12", "2026-12", 0.5, None),
    ]
    line = validated(
        figures.explore_chart(months, "line", "ratio", "vi", time_axis=True, grain="month", partial="đến nay")
    )
    whole, part = line.data
    assert list(whole.y) == [0.95, 0.94, None]  # the solid line stops at the last whole month
    assert list(part.x) == ["11/2026", "12/2026"] and list(part.y) == [0.94, 0.5]
    assert (
        part.line.dash == "dot" and part.marker.symbol == "circle-open" and list(part.text) == ["", "đến nay"]
    )
    assert part.hovertext[-1].endswith("(đến nay)")
    column = validated(
        figures.explore_chart(
            months, "column", "ratio", "en", time_axis=True, grain="month", partial="to date"
        )
    )
    assert (
        list(column.data[0].marker.opacity) == [1.0, 1.0, 0.45] and list(column.data[0].text)[-1] == "to date"
    )
    whole_only = figures.explore_chart(months, "line", "ratio", "vi", time_axis=True, grain="month")
    assert len(whole_only.data) == 1 and whole_only.data[0].y[-1] == 0.5


def test_which_last_period_is_not_over(monkeypatch: pytest.MonkeyPatch) -> None:
    from ioc import exports
    from ioc.metrics.query import KpiResult, KpiRow
    from tests.clock import set_clock

    set_clock(monkeypatch, datetime(2026, 12, 4, 15, 0, tzinfo=clock.zone()))  # a Friday afternoon

    def words(by: str, last: str, to: date | None, lang: str = "vi") -> str | None:
        row = KpiRow(last, last, 0.9, 9, 10, 1, None, "green")
        return exports.partial_words(KpiResult("attendance_rate", "ratio", None, to, by, (row,), 1), lang)

    assert words("month", "2026-12", None) == "đến nay"
    assert words("month", "2026-12", date(2026, 12, 4), "en") == "to date"
    assert words("week", "2026-W49", date(2026, 12, 4)) == "đến nay"  # Monday 30/11 to Sunday 06/12
    assert words("date", "2026-12-04", None) == "đến nay"  # today's reports are still coming in
    assert words("date", "2026-12-03", date(2026, 12, 3)) is None
    assert words("month", "2026-11", date(2026, 11, 30)) is None
    assert words("month", "2026-11", date(2026, 11, 20)) == "đến 20/11"  # the answer ends mid-month
    assert words("week", "2026-W48", date(2026, 11, 29)) is None  # the week ended on Sunday the 29th
