"""The map panel: districts coloured by a KPI (boundary GeoJSON from settings) or school points.

The boundary file is read once per (path, modification time) and simplified at load time
(coordinates rounded to 3 decimals, about 100 m, and consecutive duplicates dropped) so a map
sends tens of kilobytes, not the file's full geometry. No map tiles: it works offline.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from dash import html

from ioc import figures, settings
from ioc.metrics import dimensions
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
from ioc.panels.data import result


def _ring(ring: list[Any], digits: int) -> list[list[float]]:
    out: list[list[float]] = []
    for point in ring:
        p = [round(float(point[0]), digits), round(float(point[1]), digits)]
        if not out or out[-1] != p:
            out.append(p)
    if len(out) >= 2 and out[0] != out[-1]:
        out.append(out[0])
    return out


def simplify(geojson: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    """Round coordinates and keep only the district_code/district_name properties."""
    features = []
    for feature in geojson.get("features", []):
        geom = feature.get("geometry") or {}
        props = feature.get("properties") or {}
        if "district_code" not in props:
            continue
        if geom.get("type") == "Polygon":
            coords: Any = [_ring(r, digits) for r in geom["coordinates"]]
        elif geom.get("type") == "MultiPolygon":
            coords = [[_ring(r, digits) for r in poly] for poly in geom["coordinates"]]
        else:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "district_code": str(props["district_code"]),
                    "district_name": props.get("district_name", ""),
                },
                "geometry": {"type": geom["type"], "coordinates": coords},
            }
        )
    return {"type": "FeatureCollection", "features": features}


@lru_cache(maxsize=4)
def _boundaries(path: str, mtime: float) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        return simplify(json.load(handle))


def boundaries(override: str | None = None) -> dict[str, Any] | None:
    """The configured district boundaries (simplified), or None when the setting is empty."""
    configured = settings.get("boundaries_file", override)
    if not configured:
        return None
    path = Path(configured).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"boundaries_file {path} does not exist (setting IOC_BOUNDARIES_FILE)")
    return _boundaries(str(path), path.stat().st_mtime)


@register
class DistrictMap(PanelKind):
    name = "map"
    option_types = {"points": (bool, None)}

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        kpi = effective_kpi(panel, get_kpi(panel.kpi or ""))
        scope = merged_scope(panel, ctx)
        geo = None if panel.option("points", False) else boundaries()
        reverse = kpi.direction == "lower"
        by = "district" if geo is not None else "school"
        res = result(ctx.store, kpi.id, by, scope=scope, date_to=ctx.date_to, snapshot=ctx.snapshot)
        as_of = max((r.as_of for r in res.rows if r.as_of), default=None)
        if not any(r.value is not None for r in res.rows):
            return PanelOutput(html.Div(className="panel-graph"), "missing", as_of)
        name = kpi.name.get(ctx.lang)
        if geo is not None:
            values = [
                (r.key, r.label, r.value, drill_link("district", r.key, ctx.lang, ctx.snapshot))
                for r in res.rows
            ]
            fig = figures.choropleth(
                geo,
                values,
                kpi.unit,
                ctx.lang,
                decimals=kpi.decimals,
                kpi_name="",
                theme_name=ctx.theme,
                reverse=reverse,
            )
        else:
            from ioc.metrics.views import cached

            where = cached(
                ctx.store,
                "schools",
                (scope,),
                lambda: {s.school_id: s for s in dimensions.schools(ctx.store, scope)},
            )
            points: list[tuple[float, float, str, float | None, str | None]] = [
                (
                    float(where[r.key].latitude or 0.0),
                    float(where[r.key].longitude or 0.0),
                    r.label,
                    r.value,
                    drill_link("school", r.key, ctx.lang, ctx.snapshot),
                )
                for r in res.rows
                if r.key in where and where[r.key].latitude is not None and where[r.key].longitude is not None
            ]
            fig = figures.school_points(
                points, kpi.unit, ctx.lang, decimals=kpi.decimals, theme_name=ctx.theme, reverse=reverse
            )
        fig.update_layout(meta={"kpi": name})
        stale = is_stale(as_of, ctx.now, stale_minutes(panel, kpi))
        return PanelOutput(
            graph(fig, "panel-graph drill-graph", id={"type": "drill-graph", "index": panel.id}),
            "stale" if stale else "ok",
            as_of,
        )
