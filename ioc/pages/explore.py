"""``/explore``: any KPI by any dimension, filters, period and chart type; the same numbers as the
API (both ask the metrics front door); export buttons for PNG, SVG, CSV, XLSX,
Parquet. Every choice is in the URL (``?kpi=&by=&district=&ward=&level=&ownership=&from=&to=&chart=&asof=
&order=&top=&compare=``). Each row is shown beside its previous period (ioc.metrics.compare) unless
``compare=none``: hollow markers on the chart, the previous value and the change in the table.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, dcc, html, no_update
from dash._pages import _parse_query_string

from ioc import clock, exports, i18n, ids
from ioc.auth.web import may_export
from ioc.export_image import IMAGE_SIZES, SCALES
from ioc.figures import time_label
from ioc.frontdoor import require_units
from ioc.metrics.compare import BETTER, SAME, UNKNOWN, WORSE, Comparison, bucket_start
from ioc.metrics.query import BY, FILTERS, TIME_BY, KpiResult, QueryError, Scope
from ioc.metrics.registry import KPIS, Kpi, get_kpi
from ioc.pages._common import (
    LEVELS,
    OWNERSHIPS,
    UrlState,
    current_metrics,
    grid_locale,
    grid_style,
    page_title,
    t,
)
from ioc.panels.charts import page_graph
from ioc.panels.common import attrs, explain_ref

PAGE = "explore"
dash.register_page(__name__, path="/explore", name="explore", title=page_title("nav.explore"))

CONTROLS = (
    "kpi",
    "by",
    "district",
    "ward",
    "level",
    "ownership",
    "from",
    "to",
    "chart",
    "asof",
    "order",
    "top",
    "compare",
)


def _date(raw: Any) -> date | None:
    try:
        return date.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def request_of(params: dict[str, Any]) -> exports.ExportRequest:
    """The explore state of a URL (unknown values fall back to defaults instead of failing)."""
    kpi = params.get("kpi") if params.get("kpi") in KPIS else next(iter(KPIS))
    by = params.get("by") if params.get("by") in BY else "district"
    chart = (
        params.get("chart")
        if params.get("chart") in exports.CHARTS
        else ("line" if by in ("date", "week", "month") else "bar")
    )
    scope = Scope(**{k: params[k] for k in FILTERS if params.get(k)})
    if "chart" not in params and by == "school" and not (scope.district or scope.ward or scope.school):
        chart = "histogram"  # thousands of schools: their distribution, and the table below
    asof = params.get("asof")
    date_to = _date(params.get("to"))
    date_from = _date(params.get("from"))
    if date_from is None and by in DEFAULT_SPAN:
        date_from = default_start(str(by), date_to or clock.now().date())
    top = str(params.get("top") or "")
    return exports.ExportRequest(
        kpi=str(kpi),
        by=str(by),
        scope=scope,
        date_from=date_from,
        date_to=date_to,
        snapshot=int(str(asof)) if str(asof or "").isdigit() else None,
        chart=str(chart),
        lang=i18n.lang_of(params.get("lang")),
        order="best" if params.get("order") == "best" else "worst",
        top=int(top) if top.isdigit() and int(top) > 0 else (None if top == "all" else _default_top(str(by))),
        compare="none" if params.get("compare") == "none" else "previous",
        size=str(params.get("size")) if params.get("size") in IMAGE_SIZES else "slide",
        scale=int(str(params.get("scale"))) if str(params.get("scale")) in ("2", "3") else 1,
    )


def default_start(by: str, date_to: date) -> date:
    """Where a time grouping starts when no start is chosen: several whole periods, not the
    latest day alone, and never a partial first period: 12 months from the first of the month,
    16 weeks from a Monday, 60 days."""
    if by == "month":
        year, month = divmod(date_to.year * 12 + date_to.month - 1 - (DEFAULT_SPAN["month"] - 1), 12)
        return date(year, month + 1, 1)
    if by == "week":
        return bucket_start("week", date_to) - timedelta(weeks=DEFAULT_SPAN["week"] - 1)
    return date_to - timedelta(days=DEFAULT_SPAN[by] - 1)


# how many periods a time grouping shows when no start is chosen: a year of months, 16 weeks, 60 days
DEFAULT_SPAN = {"month": 12, "week": 16, "date": 60}
TOP_CHOICES = (10, 20, 50)


def _default_top(by: str) -> int | None:
    """A ranking of many units shows its first 20 (the worst, by default); 'all' shows all."""
    return 20 if by in ("ward", "school") else None


def query_string(req: exports.ExportRequest, *, explicit: bool = False) -> str:
    """``req`` as a query string; a grouping's default start is left out (it follows the grouping
    and the end) unless ``explicit`` (the export links: the file holds what the page shows)."""
    parts = [("kpi", req.kpi), ("by", req.by), *req.scope.items()]
    if req.date_from and (
        explicit
        or not (
            req.by in DEFAULT_SPAN
            and req.date_from == default_start(req.by, req.date_to or clock.now().date())
        )
    ):
        parts.append(("from", req.date_from.isoformat()))
    if req.date_to:
        parts.append(("to", req.date_to.isoformat()))
    parts.append(("chart", req.chart))
    if req.order != "worst":
        parts.append(("order", req.order))
    if req.top != _default_top(req.by):
        parts.append(("top", str(req.top) if req.top else "all"))
    if req.compare != "previous":
        parts.append(("compare", req.compare))
    if req.size != "slide":
        parts.append(("size", req.size))
    if req.scale != 1:
        parts.append(("scale", str(req.scale)))
    if req.snapshot is not None:
        parts.append(("asof", str(req.snapshot)))
    if req.lang != "vi":
        parts.append(("lang", req.lang))
    return urlencode(parts)


def controls(req: exports.ExportRequest, state: UrlState) -> html.Div:
    metrics = current_metrics()
    lang = state.lang
    districts = metrics.districts()
    district = req.scope.district
    wards = metrics.wards(district) if district else []

    def pick(name: str, value: Any, options: list[dict[str, Any]], clearable: bool = True) -> html.Label:
        return html.Label(
            [
                t(f"explore.{name}", state),
                dcc.Dropdown(
                    id=ids.id(PAGE, name),
                    value=value,
                    options=options,
                    clearable=clearable,
                    placeholder=t("filter.all", state),
                ),
            ]
        )

    fmt = "DD/MM/YYYY" if lang == "vi" else "YYYY-MM-DD"
    return html.Div(
        [
            pick("kpi", req.kpi, [{"label": k.name.get(lang), "value": k.id} for k in KPIS.values()], False),
            pick("by", req.by, [{"label": t(f"by.{b}", state), "value": b} for b in BY], False),
            pick("district", req.scope.district, [{"label": d.name, "value": d.code} for d in districts]),
            pick("ward", req.scope.ward, [{"label": w.name, "value": w.code} for w in wards]),
            pick("level", req.scope.level, [{"label": i18n.level_name(v, lang), "value": v} for v in LEVELS]),
            pick(
                "ownership",
                req.scope.ownership,
                [{"label": i18n.ownership_name(v, lang), "value": v} for v in OWNERSHIPS],
            ),
            html.Label(
                [
                    t("explore.period", state),
                    dcc.DatePickerRange(
                        id=ids.id(PAGE, "period"),
                        start_date=req.date_from.isoformat() if req.date_from else None,
                        end_date=req.date_to.isoformat() if req.date_to else None,
                        display_format=fmt,
                        clearable=True,
                        start_date_placeholder_text=t("filter.from", state),
                        end_date_placeholder_text=t("filter.latest", state),
                    ),
                ]
            ),
            pick(
                "chart",
                req.chart,
                [{"label": t(f"chart.{c}", state), "value": c} for c in exports.CHARTS],
                False,
            ),
            pick(
                "order",
                req.order,
                [{"label": t(f"order.{o}", state), "value": o} for o in exports.ORDERS],
                False,
            ),
            pick(
                "top",
                str(req.top) if req.top else "all",
                [{"label": t("explore.top_n", state, n=n), "value": str(n)} for n in TOP_CHOICES]
                + [{"label": t("explore.top_all", state), "value": "all"}],
                False,
            ),
            pick(
                "compare",
                req.compare,
                [{"label": t(f"compare.{c}", state), "value": c} for c in exports.COMPARES],
                False,
            ),
            pick(
                "asof",
                req.snapshot,
                [
                    {"label": f"{i18n.format_datetime(s.time, lang)} (v{s.version})", "value": s.version}
                    for s in metrics.snapshots(50)
                ],
            ),
        ],
        className="filter-bar explore-controls",
    )


def layout(**params: Any) -> Any:
    state = UrlState.from_params(params)
    req = request_of(params)
    kpi = get_kpi(req.kpi)
    lang = state.lang
    qs = query_string(req, explicit=True)
    metrics = current_metrics()
    try:
        res = metrics.answer(req.query())
        comparison = metrics.compare(req.query(), res) if req.compare == "previous" else None
    except QueryError as error:
        return html.Div(
            [
                html.H1(t("nav.explore", state)),
                controls(req, state),
                html.Div(
                    t("explore.bad_query", state, reason=str(error)), className="panel-banner banner-error"
                ),
            ],
            className="page explore-page theme-light",
        )
    fig = exports.chart(kpi, page_ranking(req, len(res.rows)), res, links=True, comparison=comparison)
    period = exports.period_text(res.date_from, res.date_to, lang)
    rows = table_rows(kpi, req, res, comparison)
    return html.Div(
        [
            html.H1(t("nav.explore", state)),
            controls(req, state),
            html.Div(
                [
                    html.Div(
                        [
                            html.Strong(kpi.name.get(lang)),
                            html.Span(" · " + kpi.description.get(lang), className="muted"),
                        ]
                    ),
                    html.Div(
                        [
                            t("explore.period_label", state, period=period),
                            " · ",
                            i18n.plural("explore.rows", len(res.rows), lang),
                            " · ",
                            *(
                                [exports.previous_caption(req, comparison), " · "]
                                if comparison is not None
                                else []
                            ),
                            dcc.Link(t("explain.more", state), href=state.link(f"/kpi/{kpi.id}")),
                        ]
                    ),
                ],
                className="explore-summary",
            ),
            html.Div(
                [
                    *(
                        html.A(
                            t(f"export.{fmt}", state),
                            href=f"/export/{fmt}?{qs}",
                            className="export-button",
                            id=ids.id(PAGE, f"export-{fmt}"),
                            download="",
                        )
                        for fmt in exports.FORMATS
                    ),
                    *image_options(req, state),
                ]
                # only for roles the /export routes serve (ioc.auth; the routes refuse the others too)
                if may_export()
                else [],
                className="export-bar",
            ),
            html.Section(
                page_graph(
                    fig,
                    _chart_height(req, len(res.rows)),
                    "page-graph drill-graph",
                    lang=lang,
                    id={"type": "drill-graph", "index": PAGE},
                ),
                className="card",
            ),
            html.Section(
                [
                    dag.AgGrid(
                        id=ids.id(PAGE, "table"),
                        rowData=rows,
                        columnDefs=[
                            # minimum widths: on a phone the grid scrolls inside itself, never
                            # shrinking a number to "2…" (the page itself does not scroll sideways)
                            {
                                "field": "label",
                                "headerName": t(f"by.{req.by}", state),
                                "flex": 2,
                                "minWidth": 170,
                            },
                            # a level or ownership is its name: its code is for machines (exports)
                            {
                                "field": "key",
                                "headerName": t("table.code", state),
                                "flex": 1,
                                "minWidth": 90,
                                "hide": req.by in ("level", "ownership", *TIME_BY),
                            },
                            {"field": "shown", "headerName": kpi.name.get(lang), "flex": 1, "minWidth": 170},
                            *(compare_columns(kpi, req.by, lang) if comparison is not None else []),
                            *(
                                number_column(name, t(header, state))
                                for name, header in (
                                    ("numerator", "explain.numerator"),
                                    ("denominator", "explain.denominator"),
                                    ("schools_reporting", "table.schools_reporting"),
                                )
                            ),
                        ],
                        # a long header wraps onto a second line, never cut to "Attend…"
                        defaultColDef={
                            "sortable": True,
                            "filter": True,
                            "resizable": True,
                            "wrapHeaderText": True,
                            "autoHeaderHeight": True,
                        },
                        getRowId="params.data.key",
                        dashGridOptions={
                            "domLayout": "autoHeight",
                            "pagination": len(rows) > 30,
                            "paginationPageSize": 30,
                            "paginationPageSizeSelector": [30, 60, 120],  # the size shown is a choice
                            "localeText": grid_locale(lang),
                        },
                        className="ag-theme-alpine",
                        style=grid_style(len(rows), 30),
                    ),
                    html.P(t("table.hint", state), className="muted"),
                ],
                className="card",
            ),
            dcc.Location(id=ids.id(PAGE, "go"), refresh="callback-nav"),
        ],
        className="page explore-page theme-light",
        **attrs({"data-rows": str(len(res.rows))}),
    )


def image_options(req: exports.ExportRequest, state: UrlState) -> list[html.Label]:
    """The image exports' canvas (slide, A4 landscape, square, fit) and pixel scale (1x-3x)."""

    def option(name: str, value: str, choices: list[dict[str, str]]) -> html.Label:
        return html.Label(
            [
                t(f"export.{name}", state),
                dcc.Dropdown(id=ids.id(PAGE, name), value=value, options=choices, clearable=False),
            ],
            className="export-option",
        )

    return [
        option("size", req.size, [{"label": t(f"size.{n}", state), "value": n} for n in IMAGE_SIZES]),
        option("scale", str(req.scale), [{"label": f"{n}x", "value": str(n)} for n in SCALES]),
    ]


def table_rows(
    kpi: Kpi, req: exports.ExportRequest, res: KpiResult, comparison: Comparison | None
) -> list[dict[str, Any]]:
    """The table's rows: the numbers (for sorting) and their texts in the locale; with a
    comparison the previous value and the change, coloured by whether it is good for the KPI."""
    lang = req.lang
    changes = comparison.changes if comparison is not None else [None] * len(res.rows)
    partial = exports.partial_words(res, lang)  # the last period is not over: said in its label
    rows = []
    for i, (r, change) in enumerate(zip(res.rows, changes, strict=True)):
        row: dict[str, Any] = {
            "key": r.key,
            "label": time_label(r.key, req.by, lang)
            + (f" ({partial})" if partial and i == len(res.rows) - 1 else "")
            if req.by in TIME_BY
            else i18n.group_label(req.by, r.label, lang),
            "value": r.value,
            "ref": row_ref(req, r.key, res),
            "shown": i18n.kpi_value(r.value, kpi.unit, lang, kpi.decimals),
            "numerator": r.numerator,
            "denominator": r.denominator,
            "schools_reporting": r.schools_reporting,
            # shown with the locale's thousands separators; sorted by the numbers (NUMBER_COLUMN)
            **{
                f"{name}_shown": i18n.number(
                    getattr(r, name), lang, 0 if kpi.unit in ("ratio", "count") else 2
                )
                for name in ("numerator", "denominator")
            },
            "schools_reporting_shown": i18n.number(r.schools_reporting, lang),
        }
        if change is not None:
            before = change.previous.value if change.previous and change.previous.schools_reporting else None
            row |= {
                "previous": before,
                "previous_shown": i18n.kpi_value(before, kpi.unit, lang, kpi.decimals),
                "change": change.change,
                "change_shown": i18n.kpi_delta(change.change, kpi.unit, lang, kpi.decimals),
                "change_class": CHANGE_CLASSES[change.sense],
            }
            if change.previous_key and req.by in TIME_BY:
                row["previous_shown"] += f" ({time_label(change.previous_key, req.by, lang)})"
        rows.append(row)
    if req.by in TIME_BY:
        return rows
    # units in the ranking's order (worst first, or best first), those without a value last
    valued = sorted(
        (r for r in rows if r["value"] is not None),
        key=lambda r: (r["value"], r["label"]),
        reverse=(req.order == "best") == (kpi.direction == "higher"),
    )
    return valued + sorted((r for r in rows if r["value"] is None), key=lambda r: str(r["label"]))


CHANGE_CLASSES = {BETTER: "delta delta-good", WORSE: "delta delta-bad", SAME: "delta", UNKNOWN: "delta"}


def compare_columns(kpi: Kpi, by: str, lang: str) -> list[dict[str, Any]]:
    """The previous value and the change (coloured: good or bad news for this KPI, never red for
    ±0), both sorted by their numbers."""
    names = exports.headers(kpi, by, lang)
    return [  # "Kỳ trước" beside the KPI's column (its full name in the tooltip): never cut to "…"
        number_column("previous", names["previous_key"]) | {"headerTooltip": names["previous_value"]},
        number_column("change", names["change"]) | {"cellClass": {"function": "params.data.change_class"}},
    ]


def number_column(name: str, header: str) -> dict[str, Any]:
    """A table column showing ``{name}_shown`` (thousands separated) and sorting by ``name``."""
    return {
        "field": f"{name}_shown",
        "headerName": header,
        "flex": 1,
        "minWidth": 150,
        "type": "rightAligned",
        "comparator": {
            "function": f"(a, b, nodeA, nodeB) => (nodeA.data.{name} ?? -1) - (nodeB.data.{name} ?? -1)"
        },
    }


def row_ref(req: exports.ExportRequest, key: str, res: Any) -> str | None:
    """The "what is this number?" question of one row: the row's unit or day within the request."""
    if req.by in FILTERS:
        return explain_ref(
            req.kpi, replace(req.scope, **{req.by: key}), res.date_to, req.snapshot, res.date_from
        )
    if req.by == "all":
        return explain_ref(req.kpi, req.scope, res.date_to, req.snapshot, res.date_from)
    if req.by == "date":
        day = _date(key)
        return explain_ref(req.kpi, req.scope, day, req.snapshot, day) if day else None
    return None  # weeks and months: the table's numerator and denominator say it


# the most rows a ranking on the page draws: 3,472 schools as dots froze Chromium for minutes and
# could not be read; beyond this the chart says '200 of 3,472' and the table below holds them all
RANKING_MAX_ROWS = 200


def page_ranking(req: exports.ExportRequest, rows: int) -> exports.ExportRequest:
    """``req`` as the page draws it: a ranking of at most RANKING_MAX_ROWS rows."""
    if req.chart == "bar" and req.by not in TIME_BY and (req.top or rows) > RANKING_MAX_ROWS:
        return replace(req, top=RANKING_MAX_ROWS)
    return req


def _chart_height(req: exports.ExportRequest, rows: int) -> int:
    if req.chart == "bar" and req.by not in TIME_BY:
        return max(260, 26 * min(rows, req.top or rows, RANKING_MAX_ROWS) + 70)
    return 460


def explore_url(
    kpi: str | None,
    by: str | None,
    district: str | None,
    ward: str | None,
    level: str | None,
    ownership: str | None,
    start: str | None,
    end: str | None,
    chart: str | None,
    asof: int | None,
    order: str | None,
    top: str | None,
    compare: str | None,
    size: str | None,
    scale: str | None,
    search: str | None,
) -> Any:
    """The explore URL for the chosen controls (a pure function, tested without a browser)."""
    require_units([("district", district), ("ward", ward)], [asof])  # the pickers' values are the browser's
    current = _parse_query_string(search or "")
    lang = i18n.lang_of(current.get("lang"))
    params = {
        "kpi": kpi,
        "by": by,
        "district": district,
        "ward": ward if district else None,
        "level": level,
        "ownership": ownership,
        "from": start,
        "to": end,
        "chart": chart,
        "asof": asof,
        "order": order,
        "top": top,
        "compare": compare,
        "size": size,
        "scale": scale,
        "lang": lang,
    }
    shown = request_of(current)
    # a start or end the picker shows because it is the grouping's default was not chosen: a new
    # grouping gets its own default (months -> a year of months; a ranking -> the latest day)
    if "from" not in current and start == (shown.date_from.isoformat() if shown.date_from else None):
        params["from"] = None
    if "to" not in current and end == (shown.date_to.isoformat() if shown.date_to else None):
        params["to"] = None
    if by in ("date", "week", "month") and chart == "bar":
        params["chart"] = "line"
    wanted = request_of({k: v for k, v in params.items() if v not in (None, "")})
    if wanted == request_of(current):
        return no_update  # a control reporting its initial value: not a new state (keeps history clean)
    return "/explore?" + query_string(wanted)


callback(
    Output(ids.id(PAGE, "go"), "href"),
    *(Input(ids.id(PAGE, name), "value") for name in ("kpi", "by", "district", "ward", "level", "ownership")),
    Input(ids.id(PAGE, "period"), "start_date"),
    Input(ids.id(PAGE, "period"), "end_date"),
    Input(ids.id(PAGE, "chart"), "value"),
    Input(ids.id(PAGE, "asof"), "value"),
    Input(ids.id(PAGE, "order"), "value"),
    Input(ids.id(PAGE, "top"), "value"),
    Input(ids.id(PAGE, "compare"), "value"),
    Input(ids.id(PAGE, "size"), "value"),
    Input(ids.id(PAGE, "scale"), "value"),
    State(ids.URL, "search"),
    prevent_initial_call=True,
)(explore_url)

from ioc.explain import register_explain_cell  # noqa: E402 - after the page's own callbacks

register_explain_cell(ids.id(PAGE, "table"))
