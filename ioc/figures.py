"""Pure figure builders: plain data in, ``go.Figure`` out (no store, no Dash, no request); a
tile's sparkline is the exception, SVG text drawn by the browser as an image (:func:`sparkline`).

Figures carry no template (an empty one, see :func:`_figure`) plus a few explicit colours: Plotly's default template alone is
about 10 kB per figure, and a wall screen draws many figures on every refresh. Each builder
assembles plain dicts and wraps them once in ``go.Figure(..., _validate=False)``: Plotly's
per-property validation would otherwise cost ~20 ms per figure, most of a callback's budget.
The dicts use only documented Plotly attributes, and a unit test validates every builder's output
with full validation. Hover texts are formatted by :mod:`ioc.i18n` so numbers follow the locale.
"""

from __future__ import annotations

import html
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from ioc import i18n

# red (bad) -> yellow -> green (good), given as stops: plotly.js knows no 'RdYlGn' by name
GOOD_HIGH: list[list[Any]] = [
    [0.0, "#d73027"],
    [0.25, "#f46d43"],
    [0.5, "#fee08b"],
    [0.75, "#a6d96a"],
    [1.0, "#1a9850"],
]
GOOD_LOW: list[list[Any]] = [[1 - stop, colour] for stop, colour in reversed(GOOD_HIGH)]

STATUS_COLOURS = {"green": "#1fa463", "amber": "#f2a900", "red": "#e5484d", "no_data": "#8a8f98"}


@dataclass(frozen=True)
class Theme:
    name: str
    paper: str
    text: str
    grid: str
    accent: str
    muted: str
    font_size: int


THEMES: Mapping[str, Theme] = {
    # the wall (dark): 20 px text, legible from 4 m at 1920x1080 (larger walls zoom the graphs)
    "dark": Theme("dark", "rgba(0,0,0,0)", "#f4f6fa", "#39414f", "#4cc2ff", "#9aa4b2", 20),
    "light": Theme("light", "rgba(0,0,0,0)", "#1b1f24", "#dde1e6", "#0b63c5", "#5b6470", 13),
}


def plain(text: Any) -> str:
    """``text`` from data as Plotly must be given it to show it as text. Plotly renders a subset of
    HTML in every label, tick, hover and title (``<a href>``, ``<b>``, ``<br>``, ``<span
    style>``), so a school named ``<a href=...>`` would be a live link on the page and in an SVG
    export; '<', '>' and '&' are written as entities, which Plotly shows as the characters.
    Every text a figure takes from data goes through here; the figures' own markup does not."""
    return html.escape(str(text), quote=False)


def theme_of(name: str | None) -> Theme:
    return THEMES.get(name or "light", THEMES["light"])


def _layout(
    theme: Theme, lang: str, *, height: int | None = None, margin: int = 8, **extra: Any
) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "paper_bgcolor": theme.paper,
        "plot_bgcolor": theme.paper,
        "font": {
            "color": theme.text,
            "size": theme.font_size,
            "family": "Inter, 'Segoe UI', Roboto, sans-serif",
        },
        "margin": {"l": margin, "r": margin, "t": margin, "b": margin},
        "separators": i18n.plotly_separators(lang),
        "showlegend": False,
    }
    if height:
        layout["height"] = height
    layout.update(extra)
    return layout


def _figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    fig = go.Figure({"data": traces, "layout": layout}, _validate=False)
    fig.layout.template = {}  # not Plotly's default template: it would add ~10 kB to every figure
    return fig


# tick labels that make room for themselves: the margin grows to hold them (automargin), so none
# passes the graph's edge and Plotly need not measure each label to hide those that would; its
# default for a numeric axis ('hide past div') measured every label of every draw, about half
# the time of drawing a 38-row ranking (explore's first chart: ~150 ms of ~300 on a desk PC)
FITTED_TICKS = {"automargin": True, "ticklabeloverflow": "allow"}


def _axis(theme: Theme, **extra: Any) -> dict[str, Any]:
    return {"gridcolor": theme.grid, "zeroline": False, "linecolor": theme.grid, **FITTED_TICKS, **extra}


def _day_axis(theme: Theme, lang: str, days: Sequence[date]) -> dict[str, Any]:
    """A time axis of daily values with half a day of room each side (a first tick on the corner
    printed its date over the value axis's lowest label); a few days (or one) get one tick per
    day, never ticks between days (one point once read '23:59:59.9995')."""
    axis = _date_axis(theme, lang)
    if days:
        first, last = min(days), max(days)
        axis.update(range=[f"{first - timedelta(days=1)}T12:00", f"{last}T12:00"])
        if (last - first).days <= 10:
            axis.update(dtick=86_400_000, tick0=first.isoformat())
    return axis


def _date_axis(theme: Theme, lang: str, **extra: Any) -> dict[str, Any]:
    """A time axis whose labels are numbers in the locale's order (``23/11``; ``11-23`` in English):
    Plotly's month names are English, and a Vietnamese page must not show them. The format follows
    the tick spacing, so ticks half a day apart are not both printed ``03/12``."""
    vi = i18n.lang_of(lang) == "vi"
    day, month = ("%d/%m", "%m/%Y") if vi else ("%m-%d", "%Y-%m")
    return _axis(
        theme,
        type="date",
        tickformatstops=[
            {"dtickrange": [None, 86_400_000], "value": day + "<br>%H:%M"},
            {"dtickrange": [86_400_000, "M1"], "value": day},
            {"dtickrange": ["M1", None], "value": month},
        ],
        hoverformat="%d/%m/%Y %H:%M" if vi else "%Y-%m-%d %H:%M",
        # a little further down than Plotly's default: a date on the first tick at the plot's left
        # edge otherwise touched the value axis's lowest label beside it (seen on a phone)
        ticklabelstandoff=6,
        **extra,
    )


def nice_ticks(low: float, high: float, unit: str, count: int = 5) -> tuple[float, float, str]:
    """(first tick, step, d3 format) of about ``count`` ticks over [low, high], each printed with
    just enough decimals that no two print the same label (99.0-99.6 % reads 99,0 % ... 99,6 %,
    not 99 % 99 % 99 %). Steps are 1, 2 or 5 times a power of ten of the shown unit."""
    scale = 100.0 if unit == "ratio" else 1.0
    span = max(abs(high - low) * scale, 1e-9)
    raw = span / max(1, count)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if unit == "count":
        step = max(1.0, round(step))
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    first = math.floor(min(low, high) * scale / step) * step
    if unit == "ratio":
        return first / scale, step / scale, f".{decimals}%"
    return first, step, (",d" if unit == "count" else f",.{decimals}f")


def ticks(unit: str, lang: str, low: float, high: float, count: int = 5) -> dict[str, Any]:
    """The tick attributes of an axis or colour bar over [low, high] (see nice_ticks). A ratio's
    ticks are written by :func:`ioc.i18n.percent`, so a chart prints a percentage as the page's
    text does (``99,4 %`` in Vietnamese: Plotly's d3 format has no locale for the percent sign
    and would print ``99,4%``); other units keep Plotly's format with the locale's separators."""
    first, step, fmt = nice_ticks(low, high, unit, count)
    if unit != "ratio":
        return {"tickformat": fmt, "tick0": first, "dtick": step}
    decimals = int(fmt[1:-1])
    # a tick below and above the values: the axis is padded around them (explicit ticks outside
    # the drawn range are not shown)
    values = [round(first + i * step, 12) for i in range(-1, math.ceil((max(low, high) - first) / step) + 2)]
    return {
        "tickmode": "array",
        "tickvals": values,
        "ticktext": [i18n.percent(v, lang, decimals) for v in values],
    }


def _value_axis(unit: str, theme: Theme, lang: str, values: Sequence[float | None] = ()) -> dict[str, Any]:
    """A value axis whose ticks all print differently for these values (see nice_ticks)."""
    known = [float(v) for v in values if v is not None] or ([0.0, 1.0] if unit == "ratio" else [])
    if not known:
        return _axis(theme, tickformat=",d" if unit == "count" else ",.1f")
    return _axis(theme, **ticks(unit, lang, min(known), max(known)))


def _padded(values: Sequence[float | None], share: float = 0.08) -> list[float] | None:
    """A value axis range holding ``values`` with ``share`` of their span as room each side, so a
    target at the edge of the data is not drawn on the axis line (None: no values)."""
    known = [float(v) for v in values if v is not None]
    if not known:
        return None
    low, high = min(known), max(known)
    pad = (high - low) * share or abs(high) * 0.02 or 0.01
    return [max(0.0, low - pad) if low >= 0 else low - pad, high + pad]  # no invented negatives


def _target_line(axis: str, value: float, theme: Theme) -> dict[str, Any]:
    """A dashed line across the plot at ``value`` on ``axis`` ('x' or 'y')."""
    line = {"type": "line", "line": {"dash": "dash", "color": theme.muted, "width": 2}, "layer": "above"}
    if axis == "y":
        return {**line, "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value}
    return {**line, "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": value, "x1": value}


def spark_points(
    points: Sequence[tuple[date, float | None]], *, partial_day: date | None = None, grain: str = "day"
) -> list[tuple[date, float | None]]:
    """What a sparkline draws: complete days only (``partial_day`` and later left out), without
    the empty days before the first value and after the last (a 30-day window over 14 days of
    probes is not half a line of nothing); a KPI measured monthly (``grain='month'``) as one point
    per month, its latest value in that month, not as daily steps."""
    kept = [p for p in points if partial_day is None or p[0] < partial_day]
    valued = [i for i, p in enumerate(kept) if p[1] is not None]
    if not valued:
        return []
    kept = kept[valued[0] : valued[-1] + 1]
    if grain != "month":
        return kept
    months: dict[tuple[int, int], tuple[date, float | None]] = {}
    for day, value in kept:
        if value is not None:
            months[(day.year, day.month)] = (day, value)
    return [months[m] for m in sorted(months)]


def spark_range(points: Sequence[tuple[date, float | None]], unit: str, lang: str, decimals: int = 1) -> str:
    """The range a sparkline spans, printed: '92,0 – 96,8 %' ('—' without values)."""
    known = [v for _, v in points if v is not None]
    if not known:
        return "—"
    low, high = min(known), max(known)
    return f"{i18n.kpi_value(low, unit, lang, decimals)} – {i18n.kpi_value(high, unit, lang, decimals)}"


def sparkline(
    points: Sequence[tuple[date, float | None]],
    theme_name: str = "dark",
    colour: str | None = None,
    *,
    target: float | None = None,
) -> str:
    """A tiny line without axes for a KPI tile (points as given by :func:`spark_points`), as an SVG
    document, not a Plotly figure: a tile is drawn by the browser as an image (:func:`svg_uri`),
    so a page whose first screen holds only tiles needs none of Plotly's code (on a phone, seconds
    of compiling and running it), and the server builds no figure for it.

    Its vertical range holds the values and the target (a dotted line), so a wiggle of 0.8 points
    just under a target far above does not fill the tile as a collapse would; the tile prints the
    range (:func:`spark_range`). Days are placed by date, and missing days are gaps, never joined;
    a value between two gaps is a dot, as every value is when there are 12 or fewer. Positions
    are percentages of the image's box, so the line fills a tile of any size and its strokes and
    dots keep their width and roundness (a stretched ``viewBox`` would flatten them).
    """
    theme = theme_of(theme_name)
    colour = colour or theme.accent
    known = [float(v) for _, v in points if v is not None]
    parts = ["<svg xmlns='http://www.w3.org/2000/svg' width='100%' height='100%'>", SPARK_STYLE]
    if known:
        low, high = min(known), max(known)
        if target is not None:
            low, high = min(low, target), max(high, target)
        pad = (high - low) * 0.1 or abs(high) * 0.01 or 0.01
        bottom, top = low - pad, high + pad
        first, last = points[0][0], points[-1][0]
        span = max(1, (last - first).days)

        def at(day: date, value: float) -> tuple[str, str]:
            return (
                f"{2 + 96 * (day - first).days / span:.1f}%",
                f"{100 * (top - value) / (top - bottom):.1f}%",
            )

        if target is not None:
            y = at(first, target)[1]
            parts.append(
                f"<line class='t' x1='0' x2='100%' y1='{y}' y2='{y}' stroke='{theme.muted}'"
                " stroke-width='1.5' stroke-dasharray='2 3'/>"
            )
        segments, dots = [], []
        for i, (day, value) in enumerate(points):
            if value is None:
                continue
            x, y = at(day, value)
            after = points[i + 1] if i + 1 < len(points) else None
            if after is not None and after[1] is not None:
                x2, y2 = at(after[0], float(after[1]))
                segments.append(f"<line x1='{x}' y1='{y}' x2='{x2}' y2='{y2}'/>")
            before = points[i - 1][1] if i else None
            if len(points) <= 12 or (before is None and (after is None or after[1] is None)):
                dots.append(f"<circle cx='{x}' cy='{y}' r='2.5'/>")
        if segments:
            parts.append(
                f"<g class='s' stroke='{colour}' stroke-width='2' stroke-linecap='round'>{''.join(segments)}</g>"
            )
        if dots:
            parts.append(f"<g class='d' fill='{colour}'>{''.join(dots)}</g>")
    parts.append("</svg>")
    return "".join(parts)


# A sparkline's strokes are CSS pixels of its image, which a 4K wall does not zoom as it zooms the
# Plotly graphs (assets/app.css): a tall image (a wall's tile from 2400 px wide; a 1080p wall's is
# about 105 px, a desk's 56, a phone's 40) draws them twice as thick, as its text grows. Media
# queries in an SVG image ask about the image's own box.
SPARK_STYLE = (
    "<style>@media (min-height: 150px) {"
    " .s { stroke-width: 4px } .t { stroke-width: 3px; stroke-dasharray: 4 6 } .d circle { r: 5px } }"
    "</style>"
)


def svg_uri(svg: str) -> str:
    """An SVG document as a ``data:`` URL for an ``<img>`` (the Content-Security-Policy allows
    ``data:`` images): percent-encoded where a URL needs it, not base64 (a third shorter)."""
    return "data:image/svg+xml," + urllib.parse.quote(svg, safe=" =':/,.-()")


def trend(
    series: Sequence[tuple[str, Sequence[tuple[date, float | None]]]],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    target: float | None = None,
    theme_name: str = "light",
    height: int | None = None,
    partial_day: date | None = None,
    grain: str = "day",
) -> go.Figure:
    """Lines over time, one per (name, points), with the target as a dashed line.

    Complete days only and a monthly KPI monthly (:func:`spark_points`); the value axis has ticks
    that all print differently (:func:`nice_ticks`)."""
    theme = theme_of(theme_name)
    series = [(name, spark_points(points, partial_day=partial_day, grain=grain)) for name, points in series]
    palette = [theme.accent, "#f2a900", "#b07cff", "#1fa463", "#e5484d", "#ff8c42"]
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": [p[0].isoformat() for p in points],
            "y": [p[1] for p in points],
            "name": name,
            "mode": "lines+markers" if len(points) < 40 else "lines",
            "line": {"width": 3, "color": palette[i % len(palette)]},
            "marker": {"size": 5},
            "hovertext": [
                f"{name}<br>{i18n.format_date(p[0], lang)}: {i18n.kpi_value(p[1], unit, lang, decimals)}"
                for p in points
            ],
            "hoverinfo": "text",
        }
        for i, (name, points) in enumerate(series)
    ]
    values = [v for _, points in series for _, v in points]
    layout = _layout(
        theme,
        lang,
        height=height,
        showlegend=len(series) > 1 or target is not None,
        # the key above the plot, right-aligned: never over the lines it explains
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1, "yanchor": "bottom"},
        xaxis=_day_axis(theme, lang, [d for _, points in series for d, _ in points]),
        yaxis=_value_axis(unit, theme, lang, [*values, target]),
    )
    if (span := _padded([*values, target])) is not None:
        layout["yaxis"]["range"] = span
    for trace in traces:
        trace["showlegend"] = len(series) > 1
    if target is not None:
        layout["shapes"] = [_target_line("y", target, theme)]
        # the target line is named in the key (a line sample and "Mục tiêu 95,0 %"), not by a label
        # on the plot: a label there sat on the line it named and under the data near the target
        traces.append(
            {
                "type": "scatter",
                "x": [None],
                "y": [None],
                "mode": "lines",
                "name": i18n.t("kpi.target", lang) + " " + i18n.kpi_value(target, unit, lang, decimals),
                "line": {"dash": "dash", "color": theme.muted, "width": 2},
                "hoverinfo": "skip",
                "showlegend": True,
            }
        )
    return _figure(traces, layout)


@dataclass(frozen=True)
class Bar:
    """One bar of a ranking: ``link`` is where a click on it drills to (None = nowhere)."""

    key: str
    label: str
    value: float | None
    status: str
    link: str | None = None
    previous: float | None = None  # the value of the previous period (drawn as a hollow marker)
    change: str = "unknown"  # better | worse | same | unknown: the change's colour (ioc.metrics.compare)


def ordered_bars(bars: Sequence[Bar], *, higher_better: bool = True, order: str = "worst") -> list[Bar]:
    """Bars sorted worst first (or best first); bars without a value last, by label."""
    valued = sorted(
        (b for b in bars if b.value is not None),
        key=lambda b: (b.value, b.label),
        reverse=(order == "best") == higher_better,
    )
    return valued + sorted((b for b in bars if b.value is None), key=lambda b: b.label)


def ranking(
    bars: Sequence[Bar],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    target: float | None = None,
    theme_name: str = "light",
    height: int | None = None,
    higher_better: bool = True,
    order: str = "worst",
    colour: str | None = None,
    total: int | None = None,
) -> go.Figure:
    """A ranking as a dot plot: sorted (worst first unless ``order='best'``), each unit a dot
    coloured by its status on a stem from the target line, so the gap to the target is what one
    sees. The value axis spans the values and the target, not 0-100 %: wards between 92.8 % and
    95 % are told apart. The values and their gaps to the target are printed on the right; a
    click's customdata is the unit's link. Bars with a ``previous`` value also get, just under their
    row, a hollow marker there and a segment from it to the current value, green when the change is
    good news for the KPI, red when bad, grey when it rounds to zero (the page and the export's
    title say which period it is).

    With a target the chart is a deviation chart: the stems are the gaps, the target line is named
    above the plot, and the value axis prints no ticks (they repeated the values printed on the
    right, and on a 390 px phone they had no room and turned on end over each other). Without a
    target the axis keeps its ticks and says when it does not start at zero.

    ``total``: how many units the ranking is the start of; when more than are drawn, a note over
    the names says "8 trên 168".
    """
    theme = theme_of(theme_name)
    shown = ordered_bars(bars, higher_better=higher_better, order=order)
    rows = list(range(len(shown)))
    known = [float(b.value) for b in shown if b.value is not None]
    known += [float(b.previous) for b in shown if b.previous is not None]
    span = known + ([target] if target is not None else [])
    low, high = (min(span), max(span)) if span else (0.0, 1.0)
    # room for the dots (14 px) at both ends even where the plot is narrow (a phone: ~60 px)
    pad = (high - low) * 0.15 or abs(high) * 0.02 or 0.01
    x_range = [low - pad, high + pad]
    if low >= 0 and target is None:  # padding never invents negative values on a printed axis
        x_range[0] = max(x_range[0], 0.0)
    colours = [colour or STATUS_COLOURS.get(b.status, theme.muted) for b in shown]

    def right(b: Bar) -> str:
        text = i18n.kpi_value(b.value, unit, lang, decimals)
        if target is not None and b.value is not None:
            text += f" ({i18n.kpi_delta(b.value - target, unit, lang, decimals)})"
        return text

    base = target if target is not None else x_range[0]
    stem_x: list[float | None] = []
    stem_y: list[int | None] = []
    for i, b in zip(rows, shown, strict=True):
        if b.value is not None:
            stem_x += [base, b.value, None]
            stem_y += [i, i, None]
    labels = [plain(b.label) for b in shown]
    hover = [f"{label}: {right(b)}" for label, b in zip(labels, shown, strict=True)]
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": stem_x,
            "y": stem_y,
            "mode": "lines",
            "line": {"color": theme.muted, "width": 3},
            "hoverinfo": "skip",
        },
        {
            "type": "scatter",
            "x": [b.value for b in shown],
            "y": rows,
            "mode": "markers",
            "marker": {"size": 14, "color": colours, "line": {"color": theme.text, "width": 1}},
            "cliponaxis": False,  # a dot at the edge of the range (0 %) is drawn whole
            "customdata": [b.link or "" for b in shown],
            "hovertext": hover,
            "hoverinfo": "text",
        },
        {  # the same rows on the right-hand axis, which prints each value and its gap
            "type": "scatter",
            "x": [b.value for b in shown],
            "y": rows,
            "yaxis": "y2",
            "mode": "markers",
            "marker": {"size": 1, "opacity": 0},
            "hoverinfo": "skip",
        },
    ]
    traces[1:1] = _previous_traces(shown, unit, lang, decimals, theme)
    y_range = [len(shown) - 0.5, -0.5]  # first row on top
    category = {"tickmode": "array", "tickvals": rows, "range": y_range, "fixedrange": True}
    layout = _layout(
        theme,
        lang,
        height=height or max(160, 30 * len(shown) + 70),
        hovermode="closest",
        xaxis=(
            _value_axis(unit, theme, lang, x_range)
            if target is None
            else _axis(theme, showticklabels=False, showgrid=False, ticks="")
        )
        | {"range": x_range, "fixedrange": True},
        yaxis=_axis(theme, gridcolor="rgba(0,0,0,0)", ticktext=labels, **category),
        yaxis2=_axis(
            theme,
            gridcolor="rgba(0,0,0,0)",
            overlaying="y",
            side="right",
            ticktext=[right(b) for b in shown],
            **category,
        ),
    )
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if target is not None:
        shapes.append(_target_line("x", target, theme))
        notes.append(
            {
                "text": i18n.t("kpi.target", lang) + " " + i18n.kpi_value(target, unit, lang, decimals),
                "xref": "x",
                "x": target,
                # near an end of the axis the label reads inwards, never past the plot's edge
                "xanchor": _inward(target, x_range),
                "yref": "paper",
                "y": 1,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": theme.muted},
            }
        )
    if x_range[0] > 0 and target is None:  # said under the axis, where the eye reads the scale
        layout["xaxis"]["title"] = {
            "text": i18n.t("chart.axis_not_zero", lang),
            "font": {"color": theme.muted},
        }
    layout["shapes"] = shapes
    if total is not None and total > len(shown):
        notes.append(
            {
                # over the names, clear of the target's label (which stays over the plot)
                "text": i18n.t("chart.shown_of", lang, n=len(shown), total=i18n.number(total, lang)),
                "xref": "paper",
                "x": 0,
                "xanchor": "right",
                "yref": "paper",
                "y": 1,
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"color": theme.muted},
            }
        )
    layout["annotations"] = notes
    layout["margin"] = {"l": 8, "r": 8, "t": 34, "b": 8}
    return _figure(traces, layout)


def _inward(value: float, span: Sequence[float]) -> str:
    """The anchor of a label at ``value`` on an axis spanning ``span``: one at the first or last
    fifth reads inwards (left / right anchored), else centred."""
    share = (value - span[0]) / ((span[1] - span[0]) or 1)
    return "left" if share < 0.2 else ("right" if share > 0.8 else "center")


CHANGE_COLOURS = {"better": STATUS_COLOURS["green"], "worse": STATUS_COLOURS["red"]}
PREVIOUS_LANE = 0.3  # how far under its row (in rows) a unit's previous period is drawn


def _previous_traces(
    shown: Sequence[Bar], unit: str, lang: str, decimals: int, theme: Theme
) -> list[dict[str, Any]]:
    """A ranking's previous period on a lane just under each row (the row's own line is the stem
    from the target): per change colour, the segments from each previous value to the current
    one; then a hollow marker at each previous value (no traces without previous values)."""
    rows = [(i, b) for i, b in enumerate(shown) if b.previous is not None]
    if not rows:
        return []
    traces: list[dict[str, Any]] = []
    for change in ("better", "worse", "same"):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for i, b in rows:
            if b.value is not None and (b.change if b.change in CHANGE_COLOURS else "same") == change:
                xs += [b.previous, b.value, None]
                ys += [i + PREVIOUS_LANE, i + PREVIOUS_LANE, None]
        if xs:
            traces.append(
                {
                    "type": "scatter",
                    "x": xs,
                    "y": ys,
                    "mode": "lines",
                    "line": {"color": CHANGE_COLOURS.get(change, theme.muted), "width": 3},
                    "hoverinfo": "skip",
                }
            )
    traces.append(
        {
            "type": "scatter",
            "x": [b.previous for _, b in rows],
            "y": [i + PREVIOUS_LANE for i, _ in rows],
            "mode": "markers",
            "marker": {"size": 10, "symbol": "circle-open", "color": theme.text, "line": {"width": 2}},
            "hovertext": [
                f"{plain(b.label)}: {i18n.t('compare.previous_period', lang)} "
                f"{i18n.kpi_value(b.previous, unit, lang, decimals)}"
                + (
                    f" ({i18n.kpi_delta(b.value - b.previous, unit, lang, decimals)})"
                    if b.value is not None and b.previous is not None
                    else ""
                )
                for _, b in rows
            ],
            "hoverinfo": "text",
        }
    )
    return traces


def _interpolate(scale: list[list[Any]], t: float) -> str:
    """The colour at position ``t`` (0..1) of a colour scale given as [[stop, '#rrggbb'], ...]."""
    t = min(1.0, max(0.0, t))
    for (s0, c0), (s1, c1) in zip(scale, scale[1:], strict=False):
        if t <= s1:
            f = 0.0 if s1 == s0 else (t - s0) / (s1 - s0)
            rgb0 = [int(c0[i : i + 2], 16) for i in (1, 3, 5)]
            rgb1 = [int(c1[i : i + 2], 16) for i in (1, 3, 5)]
            return "#" + "".join(f"{round(a + (b - a) * f):02x}" for a, b in zip(rgb0, rgb1, strict=True))
    return str(scale[-1][1])


def _rings(geometry: Mapping[str, Any]) -> list[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        return list(geometry["coordinates"])
    if geometry.get("type") == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return []


def _centre(rings: list[list[list[float]]]) -> tuple[float, float]:
    """The centre of the largest ring's bounding box (where the area's label and click target go)."""
    ring = max(rings, key=len)
    xs = [p[0] for p in ring]
    ys = [p[1] for p in ring]
    return (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2


def status_of(value: float | None, green: float, amber: float, higher_better: bool = True) -> str:
    """The traffic light of ``value`` for thresholds ``green`` and ``amber`` (as Kpi.status)."""
    if value is None:
        return "no_data"
    if not higher_better:
        value, green, amber = -value, -green, -amber
    return "green" if value >= green else "amber" if value >= amber else "red"


def status_legend(
    unit: str, lang: str, green: float, amber: float, higher_better: bool = True, decimals: int = 1
) -> list[tuple[str, str]]:
    """(status, label) of each colour of a map: what green, amber and red mean for this KPI, and
    the colour of no data."""
    g, a = i18n.kpi_value(green, unit, lang, decimals), i18n.kpi_value(amber, unit, lang, decimals)
    if higher_better:
        bands = [("green", f"≥ {g}"), ("amber", f"{a} – {g}"), ("red", f"< {a}")]
    else:
        bands = [("green", f"≤ {g}"), ("amber", f"{g} – {a}"), ("red", f"> {a}")]
    return [*bands, ("no_data", i18n.t("chart.no_data", lang))]


def _legend_traces(
    legend: Sequence[tuple[str, str]], theme: Theme, symbol: str = "square"
) -> list[dict[str, Any]]:
    """One legend entry per colour (traces without points: the legend draws their marker)."""
    return [
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "name": label,
            "showlegend": True,
            "hoverinfo": "skip",
            "marker": {"size": 16, "symbol": symbol, "color": STATUS_COLOURS.get(status, theme.grid)},
        }
        for status, label in legend
    ]


# A map's text size in units of its frame (the larger side of what it draws): on the wall the
# frame is drawn about 520 px across with 20 px text, so an em is ~0.04 of the frame. The figure
# never knows its size in pixels; text and map grow together on larger walls, so the ratio holds.
MAP_EM = 0.04


def place_labels(
    wanted: Sequence[tuple[float, float, str]], box: tuple[float, float, float, float], em: float
) -> list[tuple[float, float, str]]:
    """Where each (x, y, text) label goes, in the order given (most wanted first): at its point, or
    a line above or below it when that would cover a label already placed, moved sideways to lie
    wholly within ``box`` (x0, y0, x1, y1), or left out when no place is free. A label is reckoned
    0.6 em per character wide and 1.3 em high."""
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, str]] = []
    for x, y, text in wanted:
        width, height = 0.6 * em * len(text), 1.3 * em
        left = min(max(x - width / 2, box[0]), box[2] - width)
        for dy in (0.0, height, -height):
            candidate = (left, y + dy - height / 2, left + width, y + dy + height / 2)
            touch = 1e-9 * em  # boxes that only touch are apart (a line above or below touches)
            if all(
                candidate[2] <= b[0] + touch
                or b[2] <= candidate[0] + touch
                or candidate[3] <= b[1] + touch
                or b[3] <= candidate[1] + touch
                for b in placed
            ):
                placed.append(candidate)
                out.append((left + width / 2, y + dy, text))
                break
    return out


def short_name(name: str) -> str:
    """A district's name without its kind ('Quận Bình Thạnh' -> 'Bình Thạnh', 'Quận 1' -> 'Q.1')."""
    for prefix, short in (("Quận ", "Q."), ("Huyện ", ""), ("Thành phố ", ""), ("Thị xã ", "")):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return f"{short}{rest}" if short and rest.isdigit() else rest
    return name


def _bbox(rings: list[list[list[float]]]) -> tuple[float, float, float, float]:
    xs = [p[0] for ring in rings for p in ring]
    ys = [p[1] for ring in rings for p in ring]
    return min(xs), min(ys), max(xs), max(ys)


def choropleth(
    geojson: Mapping[str, Any],
    values: Sequence[tuple[str, str, float | None, str | None]],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    kpi_name: str = "",
    theme_name: str = "light",
    height: int | None = None,
    reverse: bool = False,
    green: float | None = None,
    amber: float | None = None,
    labels: bool = True,
) -> go.Figure:
    """Areas of ``geojson`` (matched on properties.district_code) coloured by the KPI's traffic
    light: with ``green``/``amber`` thresholds a colour means what the tile's light means, and the
    legend says which values each colour holds, including the colour of no data.

    ``values`` rows are (code, label, value, link). Drawn as filled shapes on plain longitude /
    latitude axes, not as a Plotly ``geo`` trace: geo traces download their base map (topojson)
    from a CDN, and the control room must work without internet. Every area is drawn: an area far
    from the others (Côn Đảo, 180 km offshore) is moved into a framed inset in the lower right
    corner instead of shrinking the city to a corner or being cut off. Areas large enough are
    named; a marker at each area's centre carries the link for clicks and the hover text.
    """
    theme = theme_of(theme_name)
    scale = GOOD_LOW if reverse else GOOD_HIGH
    by_code = {v[0]: v for v in values}
    known = [v[2] for v in values if v[2] is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = (high - low) or 1.0
    bands = (float(green), float(amber)) if green is not None and amber is not None else None
    edge = "#ffffff" if theme.name == "light" else "#0b0f14"
    shapes_in: list[tuple[str, list[list[list[float]]]]] = []
    for feature in geojson.get("features", []):
        rings = _rings(feature.get("geometry") or {})
        if rings:
            shapes_in.append((str(feature["properties"].get("district_code")), rings))
    names = {
        str(f["properties"].get("district_code")): str(f["properties"].get("district_name", ""))
        for f in geojson.get("features", [])
    }
    # the mainland: areas whose centre lies within 1 degree (~110 km) of the median centre
    centres0 = {code: _centre(rings) for code, rings in shapes_in}
    mx = sorted(c[0] for c in centres0.values())[len(centres0) // 2] if centres0 else 0.0
    my = sorted(c[1] for c in centres0.values())[len(centres0) // 2] if centres0 else 0.0
    far = {code for code, (cx, cy) in centres0.items() if abs(cx - mx) > 1.0 or abs(cy - my) > 1.0}
    main = [r for code, rings in shapes_in if code not in far for r in rings]
    inset_boxes: list[dict[str, Any]] = []
    if main and far:
        x0, y0, x1, y1 = _bbox(main)
        corner_x, corner_y = x0, y0  # islands go to the lower left corner (open sea), stacked upwards
        moved: list[tuple[str, list[list[list[float]]]]] = []
        for code, rings in shapes_in:
            if code not in far:
                moved.append((code, rings))
                continue
            # the inset shows the main island (and what lies within 0.1 degree of it) at twice the
            # scale: scattered islets would make a wide frame around a dot
            mcx, mcy = _centre(rings)
            rings = [
                r for r in rings if abs(_centre([r])[0] - mcx) < 0.1 and abs(_centre([r])[1] - mcy) < 0.1
            ]
            rings = [[[mcx + (p[0] - mcx) * 2, mcy + (p[1] - mcy) * 2] for p in ring] for ring in rings]
            bx0, by0, bx1, by1 = _bbox(rings)
            dx, dy = corner_x + 0.02 - bx0, corner_y + 0.02 - by0
            moved.append((code, [[[p[0] + dx, p[1] + dy] for p in ring] for ring in rings]))
            inset_boxes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "y",
                    "x0": bx0 + dx - 0.015,
                    "x1": bx1 + dx + 0.015,
                    "y0": by0 + dy - 0.015,
                    "y1": by1 + dy + 0.015,
                    "line": {"color": theme.muted, "width": 1, "dash": "dot"},
                }
            )
            corner_y = by1 + dy + 0.05
        shapes_in = moved
    traces: list[dict[str, Any]] = []
    centres: list[tuple[float, float, str, str]] = []
    names_wanted: list[tuple[float, float, float, str]] = []
    all_box = _bbox([r for _, rings in shapes_in for r in rings]) if shapes_in else (0, 0, 1, 1)
    frame = max(all_box[2] - all_box[0], all_box[3] - all_box[1]) or 1.0
    for code, rings in shapes_in:
        row = by_code.get(code)
        value = row[2] if row else None
        name = row[1] if row else names.get(code, code)
        label = plain(name)
        if bands is not None:
            colour = STATUS_COLOURS[status_of(value, *bands, not reverse)]
        else:
            colour = _interpolate(scale, (value - low) / span) if value is not None else theme.grid
        xs: list[float | None] = []
        ys: list[float | None] = []
        for ring in rings:
            xs += [p[0] for p in ring] + [None]
            ys += [p[1] for p in ring] + [None]
        text = f"{label}: {i18n.kpi_value(value, unit, lang, decimals)}"
        traces.append(
            {
                "type": "scatter",
                "x": xs,
                "y": ys,
                "mode": "lines",
                "fill": "toself",
                "fillcolor": colour,
                "line": {"color": edge, "width": 1},
                "hoveron": "fills",
                "hoverinfo": "text",
                "text": text,
                "customdata": [row[3] if row and row[3] else ""] * len(xs),
                "name": plain(code),
                "showlegend": False,
            }
        )
        cx, cy = _centre(rings)
        centres.append((cx, cy, text, (row[3] or "") if row else ""))
        bx0, by0, bx1, by1 = _bbox(rings)
        size = max(bx1 - bx0, by1 - by0)
        if labels and (code in far or size > frame * 0.22):
            # islands first (their inset is named or it is a mystery), then the larger areas
            priority = math.inf if code in far else size
            names_wanted.append(
                (priority, cx, cy if code not in far else by1 + 0.008, plain(short_name(name)))
            )
    traces.append(
        {
            "type": "scatter",
            "x": [c[0] for c in centres],
            "y": [c[1] for c in centres],
            "mode": "markers",
            "marker": {"size": 7, "color": theme.text, "opacity": 0.25},
            "hovertext": [c[2] for c in centres],
            "hoverinfo": "text",
            "customdata": [c[3] for c in centres],
            "showlegend": False,
        }
    )
    names_shown = place_labels(
        [n[1:] for n in sorted(names_wanted, key=lambda n: -n[0])], all_box, frame * MAP_EM
    )
    if names_shown:
        halo = "#0b0f14" if theme.name == "dark" else "#ffffff"
        traces.append(
            {
                "type": "scatter",
                "x": [n[0] for n in names_shown],
                "y": [n[1] for n in names_shown],
                "mode": "text",
                "text": [n[2] for n in names_shown],
                # the theme's text on a halo of its background: legible on every fill and beside the
                # areas (black names vanished where they reached past an area onto the dark wall)
                "textfont": {
                    "color": theme.text,
                    "size": theme.font_size,
                    "weight": 600,
                    "shadow": ", ".join(f"{x}px {y}px 2px {halo}" for x in (-1, 1) for y in (-1, 1)),
                },
                "textposition": "middle center",
                "cliponaxis": False,
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    if bands is not None:
        traces += _legend_traces(
            status_legend(unit, lang, *bands, not reverse, decimals),
            theme,
        )
    else:
        traces.append(
            {
                "type": "scatter",
                "x": [None],
                "y": [None],
                "mode": "markers",
                "hoverinfo": "skip",
                "showlegend": False,
                "marker": {
                    "color": [low, high],
                    "cmin": low,
                    "cmax": high,
                    "colorscale": scale,
                    "showscale": True,
                    "colorbar": {
                        "thickness": 12,
                        "len": 0.8,
                        "title": {"text": kpi_name},
                        **ticks(unit, lang, low, high),
                    },
                },
            }
        )
    xaxis: dict[str, Any] = {"visible": False, "fixedrange": True}
    yaxis: dict[str, Any] = {"visible": False, "fixedrange": True, "scaleanchor": "x", "scaleratio": 1}
    if shapes_in:
        xaxis["range"] = [all_box[0] - 0.02, all_box[2] + 0.02]
        yaxis["range"] = [all_box[1] - 0.02, all_box[3] + 0.02]
        yaxis["constrain"] = "domain"
    layout = _layout(
        theme,
        lang,
        height=height,
        hovermode="closest",
        xaxis=xaxis,
        yaxis=yaxis,
        shapes=inset_boxes,
        showlegend=bands is not None,
        legend={"orientation": "h", "x": 0, "y": 0, "xanchor": "left", "yanchor": "top"},
    )
    return _figure(traces, layout)


def school_points(
    points: Sequence[tuple[float, float, str, float | None, str | None]],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    theme_name: str = "light",
    height: int | None = None,
    reverse: bool = False,
    green: float | None = None,
    amber: float | None = None,
) -> go.Figure:
    """Schools as dots on plain axes (longitude, latitude) when no boundary file is configured.

    ``points`` rows are (lat, lon, label, value, link). An SVG trace, not WebGL: Plotly's WebGL
    traces need ``'unsafe-eval'``, which the app's Content-Security-Policy does not allow (a few
    thousand SVG dots draw in well under a second). With thresholds, one trace per traffic-light
    colour, so the legend says what each colour means; schools without a value are grey.
    """
    theme = theme_of(theme_name)
    bands = (float(green), float(amber)) if green is not None and amber is not None else None
    traces: list[dict[str, Any]] = []
    if bands is not None:
        legend = status_legend(unit, lang, *bands, not reverse, decimals)
        for status, label in legend:
            group = [p for p in points if status_of(p[3], *bands, not reverse) == status]
            traces.append(
                {
                    "type": "scatter",
                    "x": [p[1] for p in group] or [None],
                    "y": [p[0] for p in group] or [None],
                    "mode": "markers",
                    "name": label,
                    "marker": {"size": 7, "color": STATUS_COLOURS[status], "line": {"width": 0}},
                    "customdata": [p[4] or "" for p in group],
                    "hovertext": [
                        f"{plain(p[2])}: {i18n.kpi_value(p[3], unit, lang, decimals)}" for p in group
                    ],
                    "hoverinfo": "text",
                }
            )
    else:
        valued = [p for p in points if p[3] is not None]
        values = [float(p[3]) for p in valued if p[3] is not None]
        traces.append(
            {
                "type": "scatter",
                "x": [p[1] for p in valued],
                "y": [p[0] for p in valued],
                "mode": "markers",
                "marker": {
                    "size": 6,
                    "color": [p[3] for p in valued],
                    "colorscale": GOOD_LOW if reverse else GOOD_HIGH,
                    "showscale": True,
                    "colorbar": {
                        "thickness": 12,
                        **ticks(unit, lang, min(values, default=0), max(values, default=1)),
                    },
                },
                "customdata": [p[4] or "" for p in valued],
                "hovertext": [f"{plain(p[2])}: {i18n.kpi_value(p[3], unit, lang, decimals)}" for p in valued],
                "hoverinfo": "text",
            }
        )
    layout = _layout(
        theme,
        lang,
        height=height,
        hovermode="closest",
        showlegend=bands is not None,
        legend={"orientation": "h", "x": 0, "y": 0, "xanchor": "left", "yanchor": "top"},
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"visible": False, "fixedrange": True, "scaleanchor": "x", "scaleratio": 1},
    )
    return _figure(traces, layout)


def day_month(day: date, lang: str) -> str:
    return day.strftime("%d/%m") if i18n.lang_of(lang) == "vi" else day.strftime("%m-%d")


def attendance_calendar(
    days: Sequence[tuple[date, float | None]], lang: str, *, theme_name: str = "light"
) -> go.Figure:
    """A GitHub-style calendar: one column per week, one row per weekday (Mon..Sun), colour = rate."""
    theme = theme_of(theme_name)
    layout = _layout(
        theme,
        lang,
        height=260,
        margin=40,
        yaxis={"autorange": "reversed", "showgrid": False, "type": "category"},
        xaxis={"showgrid": False, "nticks": 12, "type": "category", **FITTED_TICKS},
    )
    if not days:
        return _figure([], layout)
    first = min(d for d, _ in days)
    start = first - timedelta(days=first.weekday())
    weeks = (max(d for d, _ in days) - start).days // 7 + 1
    z: list[list[float | None]] = [[None] * weeks for _ in range(7)]
    text: list[list[str]] = [[""] * weeks for _ in range(7)]
    for d, rate in days:
        col, row = (d - start).days // 7, d.weekday()
        z[row][col] = rate
        text[row][col] = f"{i18n.format_date(d, lang)}: {i18n.percent(rate, lang)}"
    trace = {
        "type": "heatmap",
        "z": z,
        # weeks by the date of their Monday, day/month only: a full date at an angle was cut to "…/2026"
        "x": [day_month(start + timedelta(weeks=w), lang) for w in range(weeks)],
        "y": [i18n.t(f"weekday.{i}", lang) for i in range(7)],
        "text": text,
        "hoverinfo": "text",
        "colorscale": GOOD_HIGH,
        "zmin": 0.8,
        "zmax": 1.0,
        "xgap": 3,
        "ygap": 3,
        "colorbar": {"thickness": 10, **ticks("ratio", lang, 0.8, 1.0)},
    }
    return _figure([trace], layout)


def connectivity_timeline(
    hours: Sequence[tuple[datetime, float | None, float]],
    lang: str,
    *,
    threshold: float = 20.0,
    theme_name: str = "light",
) -> go.Figure:
    """Hourly median download speed (line) and outages (red bars: share of probes offline)."""
    theme = theme_of(theme_name)
    xs = [h[0].isoformat() for h in hours]
    line = _with_gaps(hours)
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": xs,
            "y": [h[2] for h in hours],
            "name": i18n.t("school.offline_share", lang),
            "yaxis": "y2",
            "marker": {"color": STATUS_COLOURS["red"]},
            "opacity": 0.6,
            "hovertext": [f"{i18n.format_datetime(h[0], lang)}: {i18n.percent(h[2], lang)}" for h in hours],
            "hoverinfo": "text",
        },
        {
            "type": "scatter",
            "x": [h[0].isoformat() for h in line],
            "y": [h[1] for h in line],
            "name": i18n.t("school.download", lang),
            "mode": "lines+markers",
            "line": {"color": theme.accent, "width": 2},
            # a line needs two points: an hour alone between gaps is drawn as a dot
            "marker": {"size": [6 if _alone(line, i) else 0 for i in range(len(line))]},
            "hovertext": [
                ""
                if h[1] is None
                else f"{i18n.format_datetime(h[0], lang)}: {i18n.number(h[1], lang, 1)} Mbps"
                for h in line
            ],
            "hoverinfo": "text",
        },
    ]
    # 2 % of room each side: a tick on the corner printed its date over the lowest speed
    x_range = None
    if hours:
        first, last = min(h[0] for h in hours), max(h[0] for h in hours)
        x_range = [(first - (last - first) * 0.02).isoformat(), (last + (last - first) * 0.02).isoformat()]
    threshold_line = _target_line("y", threshold, theme)
    threshold_line["line"] = {"dash": "dot", "color": theme.muted, "width": 1}
    layout = _layout(
        theme,
        lang,
        height=280,
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
        yaxis=_axis(theme, title={"text": "Mbps"}, rangemode="tozero"),
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "range": [0, 1],
            "tickvals": [0, 0.25, 0.5, 0.75, 1],
            "ticktext": [i18n.percent(v, lang, 0) for v in (0, 0.25, 0.5, 0.75, 1)],
            "showgrid": False,
            **FITTED_TICKS,  # "100 %" once printed as "1" at the edge
        },
        xaxis=_date_axis(theme, lang, **({"range": x_range} if x_range else {})),
        shapes=[threshold_line],
        bargap=0,
    )
    return _figure(traces, layout)


def _with_gaps(
    hours: Sequence[tuple[datetime, float | None, float]],
) -> list[tuple[datetime, float | None, float]]:
    """``hours`` with an empty hour wherever the next hour with probes is more than one hour
    later, so that the speed line stops at a gap in the probes instead of bridging it with a
    straight line (the chart style: gaps drawn as gaps)."""
    out: list[tuple[datetime, float | None, float]] = []
    for hour in hours:
        if out and hour[0] - out[-1][0] > timedelta(hours=1):
            out.append((out[-1][0] + timedelta(hours=1), None, 0.0))
        out.append(hour)
    return out


def _alone(series: Sequence[tuple[datetime, float | None, float]], i: int) -> bool:
    """Whether point ``i`` has a value and neither neighbour has one."""
    if series[i][1] is None:
        return False
    before = i > 0 and series[i - 1][1] is not None
    after = i + 1 < len(series) and series[i + 1][1] is not None
    return not (before or after)


def _partial_point(trace: dict[str, Any], words: str, theme: Theme) -> dict[str, Any]:
    """The last point of a time line whose period is not over: a hollow marker reached by a dashed
    line from the point before, labelled ``words``."""
    tail = slice(-2, None) if len(trace["y"]) > 1 and trace["y"][-2] is not None else slice(-1, None)
    x, y, hover = trace["x"][tail], trace["y"][tail], trace["hovertext"][tail]
    return {
        "type": "scatter",
        "mode": "lines+markers+text",
        "x": x,
        "y": y,
        "line": {"color": theme.accent, "width": 3, "dash": "dot"},
        "marker": {"size": [0] * (len(x) - 1) + [11], "symbol": "circle-open", "line": {"width": 3}},
        "text": [""] * (len(x) - 1) + [plain(words)],
        # below the point when it is high among the values: above it, the label met the plot's top
        "textposition": "bottom center"
        if y[-1] is not None and y[-1] >= _middle(trace["y"])
        else "top center",
        "cliponaxis": False,
        "hovertext": hover[:-1] + [f"{hover[-1]} ({plain(words)})"],
        "hoverinfo": "text",
        "customdata": trace["customdata"][tail],
        "showlegend": False,
    }


def _middle(values: Sequence[float | None]) -> float:
    """Halfway between the smallest and the largest of ``values`` (0 without any)."""
    known = [v for v in values if v is not None]
    return (min(known) + max(known)) / 2 if known else 0.0


def time_label(key: str, grain: str, lang: str) -> str:
    """A period key of an answer as shown on an axis: month '2026-11' -> '11/2026' in Vietnamese;
    week '2026-W47' -> 'T47/2026' ('W47 2026' in English); a date in the locale."""
    vi = i18n.lang_of(lang) == "vi"
    if grain == "month" and len(key) == 7:
        return f"{key[5:]}/{key[:4]}" if vi else key
    if grain == "week" and "-W" in key:
        year, week = key.split("-W", 1)
        return f"{'T' if vi else 'W'}{week}/{year}" if vi else f"W{week} {year}"
    if grain == "date":
        try:
            return i18n.format_date(date.fromisoformat(key), lang)
        except ValueError:
            return key
    return key


def distribution(
    values: Sequence[float | None],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    target: float | None = None,
    theme_name: str = "light",
    green: float | None = None,
    amber: float | None = None,
    higher_better: bool = True,
    previous: Sequence[float | None] = (),
    previous_label: str = "",
) -> go.Figure:
    """How many units fall in each band of values (a histogram, bins of a round width), with the
    target line: thousands of schools read as a shape, not as a wall of 3,000 bars. Each bin is
    coloured by the traffic light of its middle value when thresholds are given. The ``previous``
    period's values, when given, are the same bins' outline (dotted; ``previous_label`` in its hover)."""
    theme = theme_of(theme_name)
    known = sorted(float(v) for v in values if v is not None)
    before = sorted(float(v) for v in previous if v is not None)
    if not known:
        return _figure([], _layout(theme, lang))
    low, high = min(known[:1] + before[:1]), max(known[-1:] + before[-1:])
    if target is not None:
        low, high = min(low, target), max(high, target)
    first, step, fmt = nice_ticks(low, high, unit, count=20)
    edges = [first + i * step for i in range(int((high - first) / step) + 2)]

    def binned(values: list[float]) -> list[int]:
        counts = [0] * (len(edges) - 1)
        for v in values:
            counts[min(len(counts) - 1, max(0, int((v - first) // step)))] += 1
        return counts

    counts = binned(known)
    middles = [(a + b) / 2 for a, b in zip(edges, edges[1:], strict=False)]
    colours = [
        STATUS_COLOURS[status_of(m, green, amber, higher_better)]
        if green is not None and amber is not None
        else theme.accent
        for m in middles
    ]
    fmt_value = lambda v: i18n.kpi_value(v, unit, lang, decimals)  # noqa: E731
    trace = {
        "type": "bar",
        "x": middles,
        "y": counts,
        "width": [step * 0.95] * len(counts),
        "marker": {"color": colours},
        "hovertext": [
            i18n.t("chart.bin", lang, low=fmt_value(a), high=fmt_value(b), n=i18n.number(c, lang))
            for a, b, c in zip(edges, edges[1:], counts, strict=False)
        ],
        "hoverinfo": "text",
    }
    layout = _layout(
        theme,
        lang,
        xaxis=_value_axis(unit, theme, lang, edges) | {"title": {"text": ""}},
        yaxis=_axis(theme, tickformat=",d", title={"text": i18n.t("chart.units", lang)}, rangemode="tozero"),
        bargap=0,
    )
    if target is not None:
        layout["shapes"] = [_target_line("x", target, theme)]
    traces = [trace]
    if before:
        traces.append(
            {
                "type": "scatter",
                "x": middles,
                "y": binned(before),
                "mode": "lines",
                "line": {"shape": "hvh", "color": theme.text, "width": 2, "dash": "dot"},
                "hovertext": [
                    f"{plain(previous_label)}: "
                    + i18n.t("chart.bin", lang, low=fmt_value(a), high=fmt_value(b), n=i18n.number(c, lang))
                    for a, b, c in zip(edges, edges[1:], binned(before), strict=False)
                ],
                "hoverinfo": "text",
            }
        )
    return _figure(traces, layout)


def explore_chart(
    rows: Sequence[tuple[str, str, float | None, str | None]],
    chart: str,
    unit: str,
    lang: str,
    *,
    title: str = "",
    decimals: int = 1,
    target: float | None = None,
    time_axis: bool = False,
    grain: str = "date",
    theme_name: str = "light",
    higher_better: bool = True,
    green: float | None = None,
    amber: float | None = None,
    order: str = "worst",
    top: int | None = None,
    previous: Sequence[tuple[float | None, str]] | None = None,
    previous_label: str = "",
    partial: str | None = None,
) -> go.Figure:
    """The explore page's chart: rows are (key, label, value, link); chart 'bar' (a ranking,
    sorted by ``order``, the first ``top`` rows, or all) | 'histogram' (the distribution) |
    'line' | 'column' (over time: ``grain`` 'date' | 'week' | 'month', each period at its own
    grain, labelled in the locale). ``previous``: each row's previous-period value and whether
    its change is good news (better | worse | same | unknown): hollow markers on a ranking, an
    outline on a histogram, the change in the hover of a time chart (whose previous period is
    the point before). ``partial``: the last period of a time chart is not over yet (this month
    so far): drawn hollow, reached by a dashed line, and labelled with these words ("đến nay"),
    so a month of four days does not read as a whole month (the sparklines' rule, which leaves
    today's partial day out)."""
    theme = theme_of(theme_name)
    anchored = green is not None and amber is not None
    before = list(previous) if previous is not None else [(None, "unknown")] * len(rows)
    if chart == "histogram":
        fig = distribution(
            [r[2] for r in rows],
            unit,
            lang,
            decimals=decimals,
            target=target,
            theme_name=theme_name,
            green=green,
            amber=amber,
            higher_better=higher_better,
            previous=[p for p, _ in before],
            previous_label=previous_label,
        )
    elif chart == "bar" and not time_axis:
        bars = [
            Bar(
                k,
                lbl,
                v,
                status_of(v, green, amber, higher_better)
                if green is not None and amber is not None
                else "no_data",
                link,
                previous=p,
                change=change,
            )
            for (k, lbl, v, link), (p, change) in zip(rows, before, strict=True)
        ]
        shown = ordered_bars(bars, higher_better=higher_better, order=order)
        fig = ranking(
            shown[:top] if top else shown,
            unit,
            lang,
            decimals=decimals,
            target=target,
            theme_name=theme_name,
            higher_better=higher_better,
            order=order,
            colour=None if anchored else theme.accent,
            total=len(shown),
        )
    else:
        names = [plain(time_label(r[1], grain, lang)) for r in rows]
        hover = [
            f"{n}: {i18n.kpi_value(r[2], unit, lang, decimals)}"
            + (
                f" ({i18n.kpi_delta(r[2] - p, unit, lang, decimals)})"
                if r[2] is not None and p is not None
                else ""
            )
            for n, r, (p, _) in zip(names, rows, before, strict=True)
        ]
        dated = time_axis and grain == "date"
        trace: dict[str, Any] = {
            "x": [r[1] for r in rows] if dated else names,
            "y": [r[2] for r in rows],
            "hovertext": hover,
            "hoverinfo": "text",
            "customdata": [r[3] or "" for r in rows],
        }
        traces = [trace]
        if chart == "line":
            trace.update(
                type="scatter",
                mode="lines+markers",
                line={"color": theme.accent, "width": 3},
                marker={"size": 7},
                connectgaps=False,
            )
            if partial and rows:
                traces.append(_partial_point(trace, partial, theme))
                trace["y"] = trace["y"][:-1] + [None]
        else:
            trace.update(type="bar", marker={"color": theme.accent})
            if partial and rows:
                last = len(rows) - 1
                trace["marker"].update(
                    opacity=[1.0] * last + [0.45],
                    pattern={"shape": [""] * last + ["/"], "fgcolor": theme.accent, "solidity": 0.3},
                )
                trace.update(text=[""] * last + [plain(partial)], textposition="outside", cliponaxis=False)
        xaxis = (
            _day_axis(theme, lang, [date.fromisoformat(r[1]) for r in rows if len(r[1]) == 10])
            if dated
            else _axis(theme, type="category")
        )
        values = [r[2] for r in rows] + [target]
        layout = _layout(theme, lang, yaxis=_value_axis(unit, theme, lang, values), xaxis=xaxis)
        if target is not None:
            layout["shapes"] = [_target_line("y", target, theme)]
        fig = _figure(traces, layout)
    if title:
        fig.layout.title = {"text": title, "x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"}
        fig.layout.margin.t = 40 + 22 * title.count("<br>")
    return fig


def figure_bytes(fig: go.Figure) -> int:
    """Size of the JSON the browser receives for ``fig`` (for the payload budget)."""
    return len(fig.to_json().encode("utf-8"))
