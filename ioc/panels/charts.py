"""Trend (a KPI over the last days) and ranking (worst or best districts, wards or schools)."""

from __future__ import annotations

from dash import dcc, html

from ioc import figures
from ioc.metrics.query import KpiRow
from ioc.metrics.registry import Kpi, get_kpi
from ioc.panels import register
from ioc.panels.alerts import mark_alert_days
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
from ioc.panels.common import drill_link, graph_config, series_grain


def graph(fig, class_name: str = "panel-graph", *, lang: str, **extra) -> dcc.Graph:
    """A graph that fills its wall panel (the panel's grid cell decides the size)."""
    return dcc.Graph(figure=fig, config=graph_config(lang), className=class_name, responsive=True, **extra)


def page_graph(fig, height: int = 360, class_name: str = "page-graph", *, lang: str, **extra) -> html.Div:
    """A graph on a scrolling page: as wide as its card, ``height`` pixels high. Its frame holds
    the height from the first paint: until dcc's graph code has loaded, the graph is an empty
    placeholder without its style, and the page below it would jump when it is drawn."""
    fig.layout.height = height
    graph = dcc.Graph(
        figure=fig,
        config=graph_config(lang),
        className=class_name,
        style={"height": f"{height}px"},
        responsive=True,
        **extra,
    )
    return html.Div(graph, className="graph-frame", style={"minHeight": f"{height}px"})


@register
class Trend(PanelKind):
    name = "trend"
    option_types = {"days": (int, None)}

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        kpi = effective_kpi(panel, get_kpi(panel.kpi or ""))
        s = ctx.metrics.summary(
            kpi.id,
            scope=merged_scope(panel, ctx),
            date_to=ctx.date_to,
            snapshot=ctx.snapshot,
            series_days=int(panel.option("days", 30)),
        )
        if not any(v is not None for _, v in s.series):
            return PanelOutput(html.Div(className="panel-graph"), "missing", s.as_of)
        fig = figures.trend(
            [(kpi.name.get(ctx.lang), s.series)],
            kpi.unit,
            ctx.lang,
            decimals=kpi.decimals,
            target=kpi.target,
            theme_name=ctx.theme,
            partial_day=ctx.now.date(),
            grain=series_grain(kpi),
        )
        mark_alert_days(fig, kpi.id, merged_scope(panel, ctx), s.series, ctx.lang)
        stale = is_stale(s.as_of, ctx.now, stale_minutes(panel, kpi))
        return PanelOutput(graph(fig, lang=ctx.lang), "stale" if stale else "ok", s.as_of)


def ordered(rows: tuple[KpiRow, ...] | list[KpiRow], kpi: Kpi, order: str) -> list[KpiRow]:
    """Rows with a value, worst first (order='worst') or best first, by the KPI's direction."""
    valued = [r for r in rows if r.value is not None]
    best_first = kpi.direction == "higher"
    if order == "worst":
        best_first = not best_first
    return sorted(valued, key=lambda r: (r.value, r.label), reverse=best_first)


# A kiosk wall at 1920x1080 (everything scales with the screen, so the proportions hold at 4K):
# the panels' grid is about 1,020 px high; a panel loses ~55 px to its title and padding, ~45 px
# to a one-line stale-data banner, and its ranking ~45 px to the target's note and the axis; each
# row needs 32 px (20 px text with room between lines; 8 rows once filled 22 px each and touched).
WALL_GRID_PX, PANEL_CHROME_PX, BANNER_PX, RANKING_MARGINS_PX, ROW_PX = 1020, 55, 45, 45, 32


def rows_that_fit(share: float, *, banner: bool = False) -> int:
    """How many rows of a ranking a wall panel ``share`` of the grid high shows legibly (3 at least)."""
    room = WALL_GRID_PX * share - PANEL_CHROME_PX - RANKING_MARGINS_PX - (BANNER_PX if banner else 0)
    return max(3, int(room // ROW_PX))


@register
class Ranking(PanelKind):
    name = "ranking"
    option_types = {
        "by": (str, ("district", "ward", "school")),
        "order": (str, ("worst", "best")),
        "limit": (int, None),
    }

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        kpi = effective_kpi(panel, get_kpi(panel.kpi or ""))
        by = panel.option("by", "district")
        res = ctx.metrics.result(
            kpi.id, by, scope=merged_scope(panel, ctx), date_to=ctx.date_to, snapshot=ctx.snapshot
        )
        valued = ordered(res.rows, kpi, panel.option("order", "worst"))
        as_of = max((r.as_of for r in res.rows if r.as_of), default=None)
        stale = is_stale(as_of, ctx.now, stale_minutes(panel, kpi))
        limit = int(panel.option("limit", 10))
        if ctx.grid_rows:  # on a wall: no more rows than the panel holds legibly
            limit = min(limit, rows_that_fit(panel.grid.h / ctx.grid_rows, banner=stale))
        rows = valued[:limit]
        if not rows:
            return PanelOutput(html.Div(className="panel-graph"), "missing", as_of)
        bars = [
            figures.Bar(
                r.key, r.label, r.value, kpi.status(r.value), drill_link(by, r.key, ctx.lang, ctx.snapshot)
            )
            for r in rows
        ]
        fig = figures.ranking(
            bars,
            kpi.unit,
            ctx.lang,
            decimals=kpi.decimals,
            target=kpi.target,
            theme_name=ctx.theme,
            higher_better=kpi.direction == "higher",
            order=panel.option("order", "worst"),
            total=len(valued),
        )
        fig.update_layout(height=None)
        return PanelOutput(
            graph(
                fig, "panel-graph drill-graph", lang=ctx.lang, id={"type": "drill-graph", "index": panel.id}
            ),
            "stale" if stale else "ok",
            as_of,
        )
