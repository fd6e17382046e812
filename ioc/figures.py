"""Pure figure builders: plain data in, ``go.Figure`` out (no store, no Dash, no request).

Figures carry no template (an empty one, see :func:`_figure`) plus a few explicit colours: Plotly's default template alone is
about 10 kB per figure, and a wall screen draws many figures on every refresh. Each builder
assembles plain dicts and wraps them once in ``go.Figure(..., _validate=False)``: Plotly's
per-property validation would otherwise cost ~20 ms per figure, most of a callback's budget.
The dicts use only documented Plotly attributes, and a unit test validates every builder's output
with full validation. Hover texts are formatted by :mod:`ioc.i18n` so numbers follow the locale.
"""

from __future__ import annotations

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
    "dark": Theme("dark", "rgba(0,0,0,0)", "#f4f6fa", "#39414f", "#4cc2ff", "#9aa4b2", 16),
    "light": Theme("light", "rgba(0,0,0,0)", "#1b1f24", "#dde1e6", "#0b63c5", "#5b6470", 13),
}


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
        "separators": ",." if i18n.lang_of(lang) == "vi" else ".,",
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


def _axis(theme: Theme, **extra: Any) -> dict[str, Any]:
    return {"gridcolor": theme.grid, "zeroline": False, "linecolor": theme.grid, "automargin": True, **extra}


def _value_axis(unit: str, theme: Theme) -> dict[str, Any]:
    fmt = {"ratio": ".0%", "count": ",d"}.get(unit, ",.1f")
    return _axis(theme, tickformat=fmt)


def _target_line(axis: str, value: float, theme: Theme) -> dict[str, Any]:
    """A dashed line across the plot at ``value`` on ``axis`` ('x' or 'y')."""
    line = {"type": "line", "line": {"dash": "dash", "color": theme.muted, "width": 2}, "layer": "above"}
    if axis == "y":
        return {**line, "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": value, "y1": value}
    return {**line, "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": value, "x1": value}


def sparkline(
    points: Sequence[tuple[date, float | None]], theme_name: str = "dark", colour: str | None = None
) -> go.Figure:
    """A tiny line without axes for a KPI tile."""
    theme = theme_of(theme_name)
    trace = {
        "type": "scatter",
        "x": [p[0].isoformat() for p in points],
        "y": [p[1] for p in points],
        "mode": "lines",
        "line": {"color": colour or theme.accent, "width": 2},
        "hoverinfo": "skip",
        "connectgaps": False,
    }
    layout = _layout(
        theme,
        "vi",
        margin=0,
        xaxis={"visible": False, "fixedrange": True},
        yaxis={"visible": False, "fixedrange": True},
    )
    return _figure([trace], layout)


def trend(
    series: Sequence[tuple[str, Sequence[tuple[date, float | None]]]],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    target: float | None = None,
    theme_name: str = "light",
    height: int | None = None,
) -> go.Figure:
    """Lines over time, one per (name, points), with the target as a dashed line."""
    theme = theme_of(theme_name)
    palette = [theme.accent, "#f2a900", "#b07cff", "#1fa463", "#e5484d", "#ff8c42"]
    traces = [
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
    layout = _layout(
        theme,
        lang,
        height=height,
        showlegend=len(series) > 1,
        legend={"orientation": "h", "y": -0.15},
        xaxis=_axis(theme, tickformat="%d/%m" if i18n.lang_of(lang) == "vi" else "%m-%d"),
        yaxis=_value_axis(unit, theme),
    )
    if target is not None:
        layout["shapes"] = [_target_line("y", target, theme)]
        layout["annotations"] = [
            {
                "text": i18n.t("kpi.target", lang) + " " + i18n.kpi_value(target, unit, lang, decimals),
                "xref": "paper",
                "x": 0,
                "yref": "y",
                "y": target,
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"color": theme.muted},
            }
        ]
    return _figure(traces, layout)


@dataclass(frozen=True)
class Bar:
    """One bar of a ranking: ``link`` is where a click on it drills to (None = nowhere)."""

    key: str
    label: str
    value: float | None
    status: str
    link: str | None = None


def ranking(
    bars: Sequence[Bar],
    unit: str,
    lang: str,
    *,
    decimals: int = 1,
    target: float | None = None,
    theme_name: str = "light",
    height: int | None = None,
) -> go.Figure:
    """Horizontal bars coloured by status, first bar on top; a click's customdata is the bar's link."""
    theme = theme_of(theme_name)
    shown = list(reversed(bars))
    trace = {
        "type": "bar",
        "orientation": "h",
        "y": [b.label for b in shown],
        "x": [b.value for b in shown],
        "marker": {"color": [STATUS_COLOURS.get(b.status, theme.muted) for b in shown]},
        "text": [i18n.kpi_value(b.value, unit, lang, decimals) for b in shown],
        "textposition": "auto",
        "customdata": [b.link or "" for b in shown],
        "hovertext": [f"{b.label}: {i18n.kpi_value(b.value, unit, lang, decimals)}" for b in shown],
        "hoverinfo": "text",
    }
    layout = _layout(
        theme,
        lang,
        height=height or max(160, 28 * len(bars) + 40),
        xaxis=_value_axis(unit, theme),
        yaxis=_axis(theme, gridcolor="rgba(0,0,0,0)"),
    )
    if target is not None:
        layout["shapes"] = [_target_line("x", target, theme)]
    return _figure([trace], layout)


def _scale_format(unit: str, span: float) -> str:
    """Tick format of a colour bar: enough decimals that neighbouring ticks differ."""
    if unit == "ratio":
        return ".0%" if span >= 0.05 else ".1%"
    return ",.0f" if span >= 5 else ",.1f"


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
) -> go.Figure:
    """Areas of ``geojson`` (matched on properties.district_code) coloured by value.

    ``values`` rows are (code, label, value, link). Drawn as filled shapes on plain longitude /
    latitude axes, not as a Plotly ``geo`` trace: geo traces download their base map (topojson)
    from a CDN, and the control room must work without internet. A marker at each area's centre
    carries the link for clicks and the hover text; a hidden marker trace draws the colour bar.
    """
    theme = theme_of(theme_name)
    scale = GOOD_LOW if reverse else GOOD_HIGH
    by_code = {v[0]: v for v in values}
    known = [v[2] for v in values if v[2] is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = (high - low) or 1.0
    edge = "#ffffff" if theme.name == "light" else "#0b0f14"
    traces: list[dict[str, Any]] = []
    centres: list[tuple[float, float, str, str]] = []
    for feature in geojson.get("features", []):
        code = str(feature["properties"].get("district_code"))
        rings = _rings(feature.get("geometry") or {})
        if not rings:
            continue
        row = by_code.get(code)
        value = row[2] if row else None
        label = row[1] if row else str(feature["properties"].get("district_name", code))
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
                "name": code,
            }
        )
        cx, cy = _centre(rings)
        centres.append((cx, cy, text, (row[3] or "") if row else ""))
    traces.append(
        {
            "type": "scatter",
            "x": [c[0] for c in centres],
            "y": [c[1] for c in centres],
            "mode": "markers",
            "marker": {"size": 7, "color": theme.text, "opacity": 0.3},
            "hovertext": [c[2] for c in centres],
            "hoverinfo": "text",
            "customdata": [c[3] for c in centres],
        }
    )
    traces.append(
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "hoverinfo": "skip",
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
                    "tickformat": _scale_format(unit, high - low),
                },
            },
        }
    )
    xaxis: dict[str, Any] = {"visible": False, "fixedrange": True}
    yaxis: dict[str, Any] = {"visible": False, "fixedrange": True, "scaleanchor": "x", "scaleratio": 1}
    if centres:
        # frame the mainland: far islands (Côn Đảo, 180 km offshore) would shrink the city to a corner
        mx = sorted(c[0] for c in centres)[len(centres) // 2]
        my = sorted(c[1] for c in centres)[len(centres) // 2]
        near = [
            t
            for t in traces[:-2]
            if abs(_centre([[[x, y] for x, y in zip(t["x"], t["y"], strict=True) if x is not None]])[0] - mx)
            < 1.0
            and abs(_centre([[[x, y] for x, y in zip(t["x"], t["y"], strict=True) if x is not None]])[1] - my)
            < 1.0
        ]
        xs_all = [x for t in near for x in t["x"] if x is not None]
        ys_all = [y for t in near for y in t["y"] if y is not None]
        if xs_all:
            xaxis["range"] = [min(xs_all) - 0.02, max(xs_all) + 0.02]
            yaxis["range"] = [min(ys_all) - 0.02, max(ys_all) + 0.02]
            yaxis["constrain"] = "domain"
    layout = _layout(theme, lang, height=height, hovermode="closest", xaxis=xaxis, yaxis=yaxis)
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
) -> go.Figure:
    """Schools as dots on plain axes (longitude, latitude) when no boundary file is configured.

    ``points`` rows are (lat, lon, label, value, link); points without a value are left out.
    """
    theme = theme_of(theme_name)
    points = [p for p in points if p[3] is not None]
    values = [float(p[3]) for p in points if p[3] is not None]
    span = (max(values) - min(values)) if values else 1.0
    trace = {
        "type": "scattergl",
        "x": [p[1] for p in points],
        "y": [p[0] for p in points],
        "mode": "markers",
        "marker": {
            "size": 6,
            "color": [p[3] for p in points],
            "colorscale": GOOD_LOW if reverse else GOOD_HIGH,
            "showscale": True,
            "colorbar": {"thickness": 12, "tickformat": _scale_format(unit, span)},
        },
        "customdata": [p[4] or "" for p in points],
        "hovertext": [f"{p[2]}: {i18n.kpi_value(p[3], unit, lang, decimals)}" for p in points],
        "hoverinfo": "text",
    }
    layout = _layout(
        theme,
        lang,
        height=height,
        xaxis={"visible": False},
        yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1},
    )
    return _figure([trace], layout)


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
        xaxis={"showgrid": False, "tickangle": -45, "nticks": 12, "type": "category"},
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
        "x": [i18n.format_date(start + timedelta(weeks=w), lang) for w in range(weeks)],
        "y": [i18n.t(f"weekday.{i}", lang) for i in range(7)],
        "text": text,
        "hoverinfo": "text",
        "colorscale": GOOD_HIGH,
        "zmin": 0.8,
        "zmax": 1.0,
        "xgap": 3,
        "ygap": 3,
        "colorbar": {"thickness": 10, "tickformat": ".0%"},
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
            "x": xs,
            "y": [h[1] for h in hours],
            "name": i18n.t("school.download", lang),
            "mode": "lines",
            "line": {"color": theme.accent, "width": 2},
            "hovertext": [
                f"{i18n.format_datetime(h[0], lang)}: {i18n.number(h[1], lang, 1)} Mbps" for h in hours
            ],
            "hoverinfo": "text",
        },
    ]
    threshold_line = _target_line("y", threshold, theme)
    threshold_line["line"] = {"dash": "dot", "color": theme.muted, "width": 1}
    layout = _layout(
        theme,
        lang,
        height=280,
        showlegend=True,
        legend={"orientation": "h", "y": -0.2},
        yaxis=_axis(theme, title={"text": "Mbps"}),
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 1], "tickformat": ".0%", "showgrid": False},
        xaxis=_axis(theme),
        shapes=[threshold_line],
        bargap=0,
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
    theme_name: str = "light",
) -> go.Figure:
    """The explore page's chart: rows are (key, label, value, link); chart 'bar' | 'line' | 'column'."""
    theme = theme_of(theme_name)
    if chart == "bar" and not time_axis:
        fig = ranking(
            [Bar(k, lbl, v, "no_data", link) for k, lbl, v, link in rows],
            unit,
            lang,
            decimals=decimals,
            target=target,
            theme_name=theme_name,
        )
        fig.data[0].marker.color = theme.accent
    else:
        hover = [f"{r[1]}: {i18n.kpi_value(r[2], unit, lang, decimals)}" for r in rows]
        trace: dict[str, Any] = {
            "x": [r[1] for r in rows],
            "y": [r[2] for r in rows],
            "hovertext": hover,
            "hoverinfo": "text",
            "customdata": [r[3] or "" for r in rows],
        }
        if chart == "line":
            trace.update(type="scatter", mode="lines+markers", line={"color": theme.accent, "width": 3})
        else:
            trace.update(type="bar", marker={"color": theme.accent})
        layout = _layout(theme, lang, yaxis=_value_axis(unit, theme), xaxis=_axis(theme))
        if target is not None:
            layout["shapes"] = [_target_line("y", target, theme)]
        fig = _figure([trace], layout)
    if title:
        fig.layout.title = {"text": title, "x": 0, "font": {"size": theme.font_size + 2}}
        fig.layout.margin.t = 60 if "<br>" in title else 40
    return fig


def figure_bytes(fig: go.Figure) -> int:
    """Size of the JSON the browser receives for ``fig`` (for the payload budget)."""
    return len(fig.to_json().encode("utf-8"))
