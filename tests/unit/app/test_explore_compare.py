"""Explore's previous-period comparison as drawn: hollow markers and coloured change segments on a
ranking, an outline on a histogram, the change in a time chart's hover, the table's columns."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from ioc import exports, figures
from ioc.metrics.compare import BETTER, SAME, UNKNOWN, WORSE, Change, Comparison
from ioc.metrics.query import KpiResult, KpiRow
from ioc.metrics.registry import get_kpi

ROWS = [
    ("a", "Quận A", 0.93, None),
    ("b", "Quận B", 0.96, None),
    ("c", "Quận C", 0.95, None),
    ("d", "Quận D", None, None),
]
PREVIOUS = [(0.95, WORSE), (0.94, BETTER), (0.9502, SAME), (0.9, UNKNOWN)]
GREEN, RED = figures.STATUS_COLOURS["green"], figures.STATUS_COLOURS["red"]


def result(by: str, start: date, end: date, *rows: tuple[str, str, float, str]) -> KpiResult:
    """An answer of ``rows`` (key, label, value, status): 100 enrolled per row, 3 schools."""
    at = datetime.combine(end, datetime.min.time()).replace(hour=9)
    return KpiResult(
        "attendance_rate",
        "ratio",
        start,
        end,
        by,
        tuple(KpiRow(k, label, v, v * 100, 100.0, 3, at, status) for k, label, v, status in rows),
        7,
    )


def segments(fig) -> dict[str, list[tuple[float, float, int]]]:
    """Each line trace's segments (from, to, row) by its colour."""
    found: dict[str, list[tuple[float, float, int]]] = {}
    for trace in fig.data:
        if trace.mode == "lines" and trace.y and trace.y[0] % 1:  # on the lane under a row
            xs, ys = list(trace.x), list(trace.y)
            found[trace.line.color] = [(xs[i], xs[i + 1], round(ys[i])) for i in range(0, len(xs), 3)]
    return found


def test_a_ranking_draws_the_previous_period_and_colours_the_change() -> None:
    fig = figures.explore_chart(
        ROWS,
        "bar",
        "ratio",
        "vi",
        target=0.95,
        green=0.95,
        amber=0.9,
        previous=PREVIOUS,
        previous_label="○ kỳ trước",
    )
    order = list(fig.layout.yaxis.ticktext)  # worst first: A (93 %), C, B, then D without a value
    assert order == ["Quận A", "Quận C", "Quận B", "Quận D"]
    (hollow,) = [t for t in fig.data if t.marker and t.marker.symbol == "circle-open"]
    assert list(hollow.x) == [0.95, 0.9502, 0.94, 0.9]
    assert list(hollow.y) == [i + figures.PREVIOUS_LANE for i in range(4)]  # just under each row
    assert "Quận A: Kỳ trước 95,0\u00a0% (−2,0\u00a0điểm\u00a0%)" in hollow.hovertext[0]
    lines = segments(fig)
    assert lines[RED] == [(0.95, 0.93, 0)]  # attendance fell: bad news
    assert lines[GREEN] == [(0.94, 0.96, 2)]
    assert [s[2] for s in lines[figures.THEMES["light"].muted]] == [1]  # ±0,0: grey, never red
    # the axis holds the previous values too (0.90 of D is not cut off)
    assert fig.layout.xaxis.range[0] < 0.9


def test_a_lower_is_better_kpi_colours_a_fall_green() -> None:
    fig = figures.explore_chart(
        [("a", "A", 0.02, None)], "bar", "ratio", "en", higher_better=False, previous=[(0.03, BETTER)]
    )
    assert segments(fig)[GREEN] == [(0.03, 0.02, 0)]


def test_a_histogram_outlines_the_previous_distribution() -> None:
    values = [0.9 + i / 1000 for i in range(60)]
    before = [(v - 0.02, UNKNOWN) for v in values]
    fig = figures.explore_chart(
        [(str(i), str(i), v, None) for i, v in enumerate(values)],
        "histogram",
        "ratio",
        "vi",
        previous=before,
        previous_label="○ kỳ trước",
    )
    bars, outline = fig.data
    assert outline.line.shape == "hvh" and sum(outline.y) == 60 and sum(bars.y) == 60
    assert list(outline.x) == list(bars.x)  # the same bins
    assert min(outline.x) < 0.9 - 0.015  # the bins reach the previous values


def test_a_time_chart_says_the_change_in_its_hover() -> None:
    rows = [("2026-10", "2026-10", 0.9, None), ("2026-11", "2026-11", 0.92, None)]
    fig = figures.explore_chart(
        rows, "line", "ratio", "vi", time_axis=True, grain="month", previous=[(0.91, WORSE), (0.9, BETTER)]
    )
    assert list(fig.data[0].hovertext) == [
        "10/2026: 90,0\u00a0% (−1,0\u00a0điểm\u00a0%)",
        "11/2026: 92,0\u00a0% (+2,0\u00a0điểm\u00a0%)",
    ]


def test_the_table_shows_the_previous_value_and_a_coloured_change(request_context) -> None:
    from ioc.pages import explore

    kpi = get_kpi("attendance_rate")
    at = datetime(2026, 11, 23, 9)
    day = date(2026, 11, 23)
    res = result(
        "district",
        day,
        day,
        ("760", "Quận 1", 0.93, "red"),
        ("778", "Quận 7", 0.96, "green"),
        ("769", "Thủ Đức", 0.95, "green"),
    )
    before = KpiRow("x", "x", 0.95, 95.0, 100.0, 3, at, "green")
    comparison = Comparison(
        res,
        date(2026, 11, 20),
        date(2026, 11, 20),
        (Change(before, -0.02, WORSE), Change(None, None, UNKNOWN), Change(before, 0.0, SAME)),
    )
    req = exports.ExportRequest("attendance_rate", "district", lang="vi")
    rows = explore.table_rows(kpi, req, res, comparison)
    # in the ranking's order: worst first
    assert [(r["label"], r["previous_shown"], r["change_shown"], r["change_class"]) for r in rows] == [
        ("Quận 1", "95,0\u00a0%", "−2,0\u00a0điểm\u00a0%", "delta delta-bad"),
        ("Thủ Đức", "95,0\u00a0%", "±0,0\u00a0điểm\u00a0%", "delta"),
        ("Quận 7", "—", "—", "delta"),
    ]
    best = explore.table_rows(kpi, replace(req, order="best"), res, comparison)
    assert [r["label"] for r in best] == ["Quận 7", "Thủ Đức", "Quận 1"]
    months = replace(res, by="month", rows=(replace(res.rows[0], key="2026-11", label="2026-11"),))
    (row,) = explore.table_rows(
        kpi,
        replace(req, by="month"),
        months,
        replace(comparison, current=months, changes=comparison.changes[:1]),
    )
    # a month as the locale writes it, not its key; the answer ends on the 23rd: a month not whole
    assert row["label"] == "11/2026 (đến 23/11)"
    columns = explore.compare_columns(kpi, "district", "vi")
    assert [c["headerName"] for c in columns] == ["Kỳ trước", "Thay đổi"]
    assert columns[0]["headerTooltip"] == "Tỷ lệ chuyên cần, kỳ trước"


def test_a_summer_without_data_is_a_gap_in_the_monthly_line() -> None:
    months = result(
        "month",
        date(2026, 5, 1),
        date(2026, 9, 30),
        ("2026-05", "2026-05", 0.95, "green"),
        ("2026-09", "2026-09", 0.94, "amber"),
    )
    req = exports.ExportRequest("attendance_rate", "month", chart="line", lang="vi")
    fig = exports.chart(get_kpi("attendance_rate"), req, months)
    assert list(fig.data[0].x) == ["05/2026", "06/2026", "07/2026", "08/2026", "09/2026"]
    assert list(fig.data[0].y) == [0.95, None, None, None, 0.94] and fig.data[0].connectgaps is False


def test_the_target_and_the_shown_count_never_share_a_corner() -> None:
    rows = [(str(i), f"Quận {i}", 0.016 + i / 1000, None) for i in range(38)]
    fig = figures.explore_chart(rows, "bar", "ratio", "en", target=0.01, higher_better=False, top=35)
    notes = {a.text: a for a in fig.layout.annotations}
    # the target (1 %) lies at the axis' left end: its label reads rightwards over the plot, and
    # '35 of 38' sits over the names, left of the plot
    assert notes["Target 1.0%"].xanchor == "left"
    assert (notes["35 of 38"].x, notes["35 of 38"].xanchor) == (0, "right")
    high = figures.explore_chart(rows, "bar", "ratio", "en", target=0.06, top=35)
    assert {a.text: a for a in high.layout.annotations}["Target 6.0%"].xanchor == "right"
