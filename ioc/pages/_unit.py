"""District and ward pages: each KPI vs target, a trend, the ranking of the units below, the table
of those units, and the schools that did not report on the latest school day.

Everything the page shows is decided by its URL (unit code, ``kpi``, filters, ``to``, ``asof``,
``lang``); the only callbacks turn a filter change or a click into a new URL.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import dash_ag_grid as dag
from dash import Input, Output, State, callback, dcc, html, no_update
from dash._pages import _parse_query_string

from ioc import clock, figures, i18n, ids
from ioc.explain import register_explain_cell
from ioc.frontdoor import require_units, require_url
from ioc.metrics.front import OutsideAccess
from ioc.metrics.query import QueryError, Scope
from ioc.metrics.registry import KPIS, get_kpi
from ioc.pages._common import (
    UrlState,
    breadcrumbs,
    current_metrics,
    filter_bar,
    filters_to_search,
    frame,
    grid_locale,
    grid_style,
    panel_context,
    t,
)
from ioc.pages._wall import render_panel
from ioc.panels.base import GridPos, PanelConfig
from ioc.panels.charts import ordered, page_graph
from ioc.panels.common import attrs, drill_link, explain_ref, series_grain, status_light, value_button

CITY = Scope()  # no filter: the whole city
# the KPIs a district or ward page shows as tiles (all KPIs are available in the selector)
CORE_KPIS = (
    "attendance_rate",
    "unexcused_absence_rate",
    "reporting_rate",
    "bandwidth_coverage",
    "uptime",
    "digital_readiness",
)
CHILD = {"district": "ward", "ward": "school"}


def kpi_tiles(state: UrlState, scope: Scope, theme: str = "light") -> html.Div:
    ctx = replace(panel_context(state, theme), scope=scope)
    tiles = []
    for i, kid in enumerate(k for k in CORE_KPIS if k in KPIS):
        panel = PanelConfig(
            id=kid, type="kpi_tile", grid=GridPos(i, 0, 1, 1), kpi=kid, options=(("series_days", 30),)
        )
        tiles.append(
            frame(panel, get_kpi(kid).name.get(state.lang), render_panel(panel, ctx), state, ctx.now)
        )
    return html.Div(tiles, className="tile-row")


def kpi_picker(page: str, state: UrlState, kpi: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=ids.id(page, "kpi"),
        value=kpi,
        clearable=False,
        className="kpi-picker",
        options=[{"label": k.name.get(state.lang), "value": k.id} for k in KPIS.values()],
    )


def units_list(state: UrlState, kind: str, rows: list[Any], kpi_id: str) -> html.Ul:
    """The units table as a list, for phones (CSS shows one or the other): name, light, value."""
    kpi = get_kpi(kpi_id)
    lang = state.lang
    return html.Ul(
        [
            html.Li(
                [
                    dcc.Link(r.label, href=drill_link(kind, r.key, lang, state.asof) or "#"),
                    html.Span(
                        [
                            status_light(kpi.status(r.value), lang),
                            html.Strong(i18n.kpi_value(r.value, kpi.unit, lang, kpi.decimals)),
                        ],
                        className="unit-list-value",
                    ),
                ]
            )
            for r in rows
        ],
        className="unit-list",
    )


def units_table(
    page: str,
    state: UrlState,
    kind: str,
    rows: list[Any],
    kpi_id: str,
    scope: Scope = CITY,
    period: tuple[Any, Any] = (None, None),
) -> dag.AgGrid:
    kpi = get_kpi(kpi_id)
    lang = state.lang
    data = [
        {
            "label": r.label,
            "key": r.key,
            "value": r.value,
            "ref": explain_ref(kpi.id, replace(scope, **{kind: r.key}), period[1], state.asof, period[0]),
            "shown": i18n.kpi_value(r.value, kpi.unit, lang, kpi.decimals),
            "status": i18n.t(f"status.{r.status if r.value is not None else 'no_data'}", lang),
            "schools": r.schools_reporting,
            "link": drill_link(kind, r.key, lang, state.asof) or "",
        }
        for r in rows
    ]
    return dag.AgGrid(
        id=ids.id(page, "table"),
        rowData=data,
        columnDefs=[
            {"field": "label", "headerName": t(f"by.{kind}", state), "flex": 2},
            {"field": "key", "headerName": t("table.code", state), "flex": 1},
            {
                "field": "shown",
                "headerName": kpi.name.get(lang),
                "flex": 1,
                "comparator": {
                    "function": "(a, b, nodeA, nodeB) => (nodeA.data.value ?? -1) - (nodeB.data.value ?? -1)"
                },
            },
            {"field": "status", "headerName": t("table.status", state), "flex": 1},
            {"field": "schools", "headerName": t("table.schools_reporting", state), "flex": 1},
        ],
        getRowId="params.data.link || params.data.key",
        defaultColDef={"sortable": True, "filter": True, "resizable": True},
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "checkboxes": False},
            "domLayout": "autoHeight",
            "localeText": grid_locale(state.lang),
            "pagination": len(data) > 25,
            "paginationPageSize": 25,
            "paginationPageSizeSelector": [25, 50, 100],  # the size shown is one of its choices
        },
        className="ag-theme-alpine units-table",
        style=grid_style(len(data), 25),
    )


def not_reporting(state: UrlState, scope: Scope) -> html.Div:
    """Schools of the scope with no attendance row on the latest school day (reporting rate 0)."""
    metrics = current_metrics()
    res = metrics.result("reporting_rate", "school", scope=scope, date_to=state.date_to, snapshot=state.asof)
    day = res.date_to
    res = metrics.result(
        "reporting_rate", "school", scope=scope, date_from=day, date_to=day, snapshot=state.asof
    )
    missing = [r for r in res.rows if r.value is not None and r.value == 0]
    title = t("unit.not_reporting", state, date=i18n.format_date(day, state.lang), n=len(missing))
    if not missing:
        return html.Div(
            [html.H2(title), html.P(t("unit.all_reported", state), className="muted")],
            className="card not-reporting",
        )
    return html.Div(
        [
            html.H2(title),
            html.Ul(
                [
                    html.Li(
                        dcc.Link(
                            f"{r.label} ({r.key})", href=drill_link("school", r.key, state.lang, state.asof)
                        )
                    )
                    for r in missing[:100]
                ],
                className="school-list",
            ),
        ],
        className="card not-reporting",
        **attrs({"data-count": str(len(missing))}),
    )


def unit_layout(page: str, kind: str, code: str, params: dict[str, Any]) -> Any:
    state = UrlState.from_params(params)
    metrics = current_metrics()
    kpi_id = params.get("kpi") if params.get("kpi") in KPIS else "attendance_rate"
    kpi = get_kpi(str(kpi_id))
    try:
        resolved = metrics.resolve(Scope(**{kind: code}))
        if not metrics.allows(kind, str(getattr(resolved, kind))):
            raise OutsideAccess(kind, code)
    except QueryError as error:
        return html.Div(
            [
                breadcrumbs(state, [(code, None)]),
                html.H1(t("unit.unknown", state, code=code)),
                html.P(str(error)),
            ],
            className="page unit-page error-page",
        )
    if state.asof is None:  # the warmer draws the units opened lately first after the next load
        metrics.note_opened(kind, str(getattr(resolved, kind)))
    scope = state.scope(**{kind: getattr(resolved, kind)})
    units = metrics.wards() if kind == "ward" else metrics.districts()
    unit = next((u for u in units if u.code == getattr(resolved, kind)), None)
    name = unit.name if unit else code
    trail: list[tuple[str, str | None]] = []
    if kind == "ward" and unit is not None and unit.parent_code:
        trail.append((unit.parent_name or unit.parent_code, f"/district/{unit.parent_code}"))
    trail.append((name, None))
    child = CHILD[kind]
    lang = state.lang
    ranking_res = metrics.result(kpi.id, child, scope=scope, date_to=state.date_to, snapshot=state.asof)
    worst = ordered(ranking_res.rows, kpi, "worst")
    bars = [
        figures.Bar(r.key, r.label, r.value, kpi.status(r.value), drill_link(child, r.key, lang, state.asof))
        for r in worst[:15]
    ]
    s = metrics.summary(kpi.id, scope=scope, date_to=state.date_to, snapshot=state.asof, series_days=60)
    city = metrics.summary(
        kpi.id, scope=state.scope(), date_to=state.date_to, snapshot=state.asof, series_days=60
    )
    trend = figures.trend(
        [(name, s.series), (t("nav.city", state), city.series)],
        kpi.unit,
        lang,
        decimals=kpi.decimals,
        target=kpi.target,
        height=320,
        partial_day=clock.now().date(),
        grain=series_grain(kpi),
    )
    rank_fig = figures.ranking(
        bars,
        kpi.unit,
        lang,
        decimals=kpi.decimals,
        target=kpi.target,
        higher_better=kpi.direction == "higher",
        total=len(worst),  # "15 of 19": the worst 15 are drawn
    )
    snaps = metrics.snapshots(50)
    return html.Div(
        [
            breadcrumbs(state, trail),
            html.Div(
                [html.H1(name), html.Span(t(f"by.{kind}", state) + f" · {code}", className="muted")],
                className="page-head",
            ),
            filter_bar(page, state, snaps),
            not_reporting(state, scope),
            kpi_tiles(state, scope),
            html.Div(
                [
                    html.Label(
                        [t("unit.kpi", state), kpi_picker(page, state, kpi.id)], className="kpi-picker-label"
                    ),
                    html.Div(
                        [
                            status_light(kpi.status(s.current.value), lang),
                            value_button(
                                i18n.kpi_value(s.current.value, kpi.unit, lang, kpi.decimals),
                                explain_ref(kpi.id, scope, s.date_to, state.asof, s.date_from),
                                lang,
                                "big-value",
                            ),
                        ],
                        className="headline",
                    ),
                ],
                className="kpi-bar",
            ),
            html.Div(
                [
                    html.Section(
                        [
                            html.H2(t("unit.trend", state, kpi=kpi.name.get(lang))),
                            page_graph(trend, 340, lang=lang),
                        ],
                        className="card",
                    ),
                    html.Section(
                        [
                            html.H2(t(f"unit.ranking_{child}", state, kpi=kpi.name.get(lang))),
                            page_graph(
                                rank_fig,
                                int(rank_fig.layout.height),
                                "page-graph drill-graph",
                                lang=lang,
                                id={"type": "drill-graph", "index": f"{page}-ranking"},
                            ),
                        ],
                        className="card",
                    ),
                ],
                className="two-col",
            ),
            html.Section(
                [
                    html.H2(t(f"unit.table_{child}", state)),
                    units_table(
                        page,
                        state,
                        child,
                        sorted(ranking_res.rows, key=lambda r: r.label),
                        kpi.id,
                        scope,
                        (ranking_res.date_from, ranking_res.date_to),
                    ),
                    units_list(state, child, ordered(ranking_res.rows, kpi, "worst"), kpi.id),
                    html.P(t("table.hint", state), className="muted"),
                ],
                className="card",
            ),
            dcc.Location(id=ids.id(page, "go"), refresh="callback-nav"),
        ],
        className="page unit-page theme-light",
        **attrs({"data-unit": code}),
    )


def register_callbacks(page: str) -> None:
    """The page's two callbacks: filters/KPI picker -> new URL; table row click -> drill down."""
    callback(
        Output(ids.id(page, "go"), "href"),
        Input(ids.id(page, "level"), "value"),
        Input(ids.id(page, "ownership"), "value"),
        Input(ids.id(page, "to"), "date"),
        Input(ids.id(page, "asof"), "value"),
        Input(ids.id(page, "kpi"), "value"),
        State(ids.URL, "search"),
        State(ids.URL, "pathname"),
        prevent_initial_call=True,
    )(
        lambda level, ownership, to, asof, kpi, search, pathname: unit_search(
            search, level, ownership, to, asof, kpi, pathname
        )
    )
    callback(
        Output(ids.id(page, "go"), "href", allow_duplicate=True),
        Input(ids.id(page, "table"), "cellClicked"),
        prevent_initial_call=True,
    )(row_link)
    register_explain_cell(ids.id(page, "table"))


def unit_search(
    state_search: str | None,
    level: str | None,
    ownership: str | None,
    to: str | None,
    asof: int | None,
    kpi: str | None,
    pathname: str | None,
) -> Any:
    """The new URL after a filter or the KPI picker changed."""
    require_url(pathname)  # the page's unit, as the browser says it
    require_units([], [asof])
    params = _parse_query_string(state_search or "")
    state = UrlState.from_params(params)
    search = filters_to_search(state, level, ownership, to, asof)
    if kpi and kpi != "attendance_rate":
        search += ("&" if search else "?") + f"kpi={kpi}"
    current = UrlState.from_params(params), params.get("kpi") or "attendance_rate"
    if current == (UrlState.from_params(_parse_query_string(search)), kpi or "attendance_rate"):
        # a picker reporting its initial value is not a change: pushing the same URL again
        # would add a duplicate history entry and break the back button
        return no_update
    return (pathname or "/") + search


def row_link(cell: dict[str, Any] | None) -> Any:
    """A click on a table row: the row id is the unit's drill link."""
    if not cell or cell.get("colId") == "shown" or not str(cell.get("rowId") or "").startswith("/"):
        return no_update  # the value column explains the number instead (app.explain_cell)
    require_url(cell["rowId"])  # a crafted click may name any unit's page
    return cell["rowId"]
