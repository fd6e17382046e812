"""The map panel: districts coloured by a KPI (boundary GeoJSON from settings) or school points.

The boundary file is read once per (path, modification time) and simplified at load time
(coordinates snapped to a 0.002 degree grid, about 200 m — under a pixel on a wall map of the
city — and repeated points dropped) so a map sends tens of kilobytes, not the file's full
geometry. No map tiles: it works offline.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from dash import html

from ioc import figures, settings
from ioc.geography import MERGED_DISTRICTS, districts
from ioc.metrics.registry import get_kpi
from ioc.panels import register
from ioc.panels.base import (
    PanelConfig,
    PanelContext,
    PanelKind,
    PanelOutput,
    effective_kpi,
    is_stale,
    merged_scope,
    stale_minutes,
)
from ioc.panels.charts import graph
from ioc.panels.common import drill_link

GRID = 0.002  # degrees


def _snap(value: float, step: float) -> float:
    return round(round(float(value) / step) * step, 4)


def _keep(points: list[list[float]], tolerance: float) -> list[list[float]]:
    """Douglas-Peucker: the points needed to stay within ``tolerance`` of the line (iterative)."""
    if len(points) < 3:
        return points
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    # a closed ring starts and ends on one point: split it at the point farthest from that one
    x0, y0 = points[0]
    middle = max(range(len(points)), key=lambda i: (points[i][0] - x0) ** 2 + (points[i][1] - y0) ** 2)
    keep[middle] = True
    stack = [(0, middle), (middle, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (x1, y1), (x2, y2) = points[first], points[last]
        dx, dy = x2 - x1, y2 - y1
        norm = (dx * dx + dy * dy) ** 0.5 or 1e-12
        far, index = 0.0, -1
        for i in range(first + 1, last):
            x, y = points[i]
            distance = abs(dy * (x - x1) - dx * (y - y1)) / norm
            if distance > far:
                far, index = distance, i
        if index > 0 and far > tolerance:
            keep[index] = True
            stack += [(first, index), (index, last)]
    return [p for p, k in zip(points, keep, strict=True) if k]


def _ring(ring: list[Any], step: float) -> list[list[float]]:
    out: list[list[float]] = []
    for point in ring:
        p = [_snap(point[0], step), _snap(point[1], step)]
        if not out or out[-1] != p:
            out.append(p)
    if len(out) >= 2 and out[0] != out[-1]:
        out.append(out[0])
    return _keep(out, step / 2) if len(out) > 8 else out


def simplify(geojson: dict[str, Any], step: float = GRID) -> dict[str, Any]:
    """Snap coordinates to a ``step`` grid, drop rings that collapse, keep only district code/name."""
    features = []
    for feature in geojson.get("features", []):
        geom = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        if "district_code" not in props:
            continue
        if geom.get("type") == "Polygon":
            coords: Any = [[_ring(r, step) for r in geom["coordinates"]]]
        elif geom.get("type") == "MultiPolygon":
            coords = [[_ring(r, step) for r in poly] for poly in geom["coordinates"]]
        else:
            continue
        # a polygon whose outer ring collapsed to under 4 points is smaller than the grid: drop it
        coords = [[r for r in poly if len(r) >= 4] for poly in coords if len(poly[0]) >= 4]
        if not coords:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "district_code": str(props["district_code"]),
                    "district_name": props.get("district_name", ""),
                },
                "geometry": {"type": "MultiPolygon", "coordinates": coords},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def merge_former(geojson: dict[str, Any]) -> dict[str, Any]:
    """One area per district the schools are grouped by: the areas of districts merged since the
    boundary file was drawn (geography.MERGED_DISTRICTS) join the district they became part of,
    under its name, so no part of the city is drawn as 'no data' for a code the data never uses."""
    merged: dict[str, dict[str, Any]] = {}
    for feature in geojson.get("features", []):
        code = MERGED_DISTRICTS.get(
            feature["properties"]["district_code"], feature["properties"]["district_code"]
        )
        polygons = feature["geometry"]["coordinates"]
        if code in merged:
            merged[code]["geometry"]["coordinates"] = merged[code]["geometry"]["coordinates"] + polygons
        else:
            merged[code] = {
                "type": "Feature",
                "properties": dict(feature["properties"], district_code=code),
                "geometry": {"type": "MultiPolygon", "coordinates": list(polygons)},
            }
    names = {d.code: d.name for d in districts()}
    for code, feature in merged.items():
        if code in names:
            feature["properties"]["district_name"] = names[code]
    return {"type": "FeatureCollection", "features": list(merged.values())}


@lru_cache(maxsize=4)
def _boundaries(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return merge_former(simplify(json.load(handle)))


def boundaries_file(override: str | None = None) -> tuple[str, float] | None:
    """(path, modification time) of the configured boundary file, or None when the setting is empty."""
    configured = settings.get("boundaries_file", override)
    if not configured:
        return None
    path = Path(configured).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"boundaries_file {path} does not exist (setting IOC_BOUNDARIES_FILE)")
    return str(path), path.stat().st_mtime


def boundaries(override: str | None = None) -> dict[str, Any] | None:
    """The configured district boundaries (simplified), or None when the setting is empty."""
    source = boundaries_file(override)
    return None if source is None else _boundaries(*source)


# The map of the wall, drawn: what it is drawn from is small (the boundary file's path and time, a
# value and a link per district or school, the KPI's unit, thresholds, language and theme), what it
# costs is not (the figure object and its JSON took 20-80 ms of server time at every wall refresh
# with every answer cached: 44 traces, ~150 kB; the school points ~60 ms, ~470 kB). Kept as plain
# JSON-ready data, which Dash sends as it is.
MAP_FIGURES = 64  # wall screens x languages x themes x data versions still on some wall (~0.15 MB each)


@lru_cache(maxsize=MAP_FIGURES)
def map_figure(
    source: tuple[str, float] | None,
    values: tuple[tuple[Any, ...], ...],
    unit: str,
    lang: str,
    decimals: int,
    theme: str,
    reverse: bool,
    green: float | None,
    amber: float | None,
    name: str,
) -> dict[str, Any]:
    """The map as a plain figure dict, built once per distinct argument list and shared between
    requests (never changed): the choropleth of ``values`` (code, label, value, link) over the
    boundaries of ``source`` (boundaries_file), or without a source the school points of
    ``values`` (latitude, longitude, label, value, link)."""
    draw = dict(decimals=decimals, theme_name=theme, reverse=reverse, green=green, amber=amber)
    if source is not None:
        fig = figures.choropleth(_boundaries(*source), values, unit, lang, kpi_name="", **draw)  # type: ignore[arg-type]
    else:
        fig = figures.school_points(values, unit, lang, **draw)  # type: ignore[arg-type]
    fig.update_layout(meta={"kpi": name})
    return fig.to_plotly_json()  # type: ignore[no-any-return]


@register
class DistrictMap(PanelKind):
    name = "map"
    option_types = {"points": (bool, None)}

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        kpi = effective_kpi(panel, get_kpi(panel.kpi or ""))
        scope = merged_scope(panel, ctx)
        source = None if panel.option("points", False) else boundaries_file()
        reverse = kpi.direction == "lower"
        by = "district" if source is not None else "school"
        res = ctx.metrics.result(kpi.id, by, scope=scope, date_to=ctx.date_to, snapshot=ctx.snapshot)
        as_of = max((r.as_of for r in res.rows if r.as_of), default=None)
        if not any(r.value is not None for r in res.rows):
            return PanelOutput(html.Div(className="panel-graph"), "missing", as_of)
        name = kpi.name.get(ctx.lang)
        values: tuple[tuple[Any, ...], ...]
        if source is not None:
            values = tuple(
                (r.key, r.label, r.value, drill_link("district", r.key, ctx.lang, ctx.snapshot))
                for r in res.rows
            )
        else:
            where = {s.school_id: s for s in ctx.metrics.schools(scope)}
            values = tuple(
                (
                    float(where[r.key].latitude or 0.0),
                    float(where[r.key].longitude or 0.0),
                    r.label,
                    r.value,
                    drill_link("school", r.key, ctx.lang, ctx.snapshot),
                )
                for r in res.rows
                if r.key in where and where[r.key].latitude is not None and where[r.key].longitude is not None
            )
        fig = map_figure(
            source, values, kpi.unit, ctx.lang, kpi.decimals, ctx.theme, reverse, kpi.green, kpi.amber, name
        )
        stale = is_stale(as_of, ctx.now, stale_minutes(panel, kpi))
        return PanelOutput(
            graph(
                fig, "panel-graph drill-graph", lang=ctx.lang, id={"type": "drill-graph", "index": panel.id}
            ),
            "stale" if stale else "ok",
            as_of,
        )
