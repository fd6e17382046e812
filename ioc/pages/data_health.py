"""``/data-health``: ingestion runs, rejected files with their reasons, freshness per dataset and per
district, sources, and the schools that did not report. Reads ioc.metrics.health only."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import dash
import dash_ag_grid as dag
from dash import dcc, html

from ioc import clock, i18n, ids
from ioc.messages import said_rows
from ioc.metrics.front import DEFAULT_CADENCES
from ioc.pages._common import UrlState, current_metrics, grid_locale, grid_style, page_title, t
from ioc.panels.common import attrs, drill_link

PAGE = "health"
dash.register_page(__name__, path="/data-health", name="data_health", title=page_title("nav.data_health"))
DATASETS = ("attendance", "connectivity", "digital", "schools")


# columns holding a code, shown by its name: the catalog's prefix for the code's name
CODES = {"status": "runstatus", "dataset": "dataset", "kind": "sourcekind"}


def _text(value: Any, lang: str, column: str = "") -> Any:
    """A cell for a table: numbers with the locale's thousands separator, dates and times in the
    locale, yes/no and codes by their names, the rest as is."""
    if isinstance(value, bool):
        return i18n.t("common.yes" if value else "common.no", lang)
    if isinstance(value, int):
        return i18n.number(value, lang)
    if isinstance(value, float):
        return i18n.number(value, lang, 1)
    if isinstance(value, datetime):
        return i18n.format_datetime(value, lang)
    if isinstance(value, date):
        return i18n.format_date(value, lang)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(_text(v, lang, column)) for v in value)
    if isinstance(value, dict):
        return str(value)
    key = f"{CODES.get(column, '')}.{value}"
    if column in CODES and key in i18n.catalog(lang):
        return i18n.t(key, lang)
    return value


def _order(value: Any) -> Any:
    """What a column sorts by: the number or the moment itself, not its text in the locale."""
    if isinstance(value, bool) or not isinstance(value, (int, float, date)):
        return None
    return value.isoformat() if isinstance(value, date) else value


# sorts a column by its ``<field>__order`` values (numbers and ISO dates), blanks first
ORDER_BY = (
    "(a, b, x, y) => {{ const p = x.data['{f}__order'], q = y.data['{f}__order'];"
    " return p === q ? 0 : p == null ? -1 : q == null ? 1 : p < q ? -1 : 1; }}"
)


def table(
    page_id: str,
    rows: list[dict[str, Any]],
    lang: str,
    columns: list[str] | None = None,
    height_rows: int = 12,
) -> Any:
    if not rows:
        return html.P(i18n.t("health.none", lang), className="muted")
    columns = columns or list(rows[0])
    columns = [c for c in columns if c in rows[0]]
    ordered = {c for c in columns if any(_order(r.get(c)) is not None for r in rows)}
    data = [
        {
            **{c: _text(r.get(c), lang, c) for c in columns},
            **{f"{c}__order": _order(r.get(c)) for c in ordered},
        }
        for r in rows
    ]

    def column(c: str) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "field": c,
            "headerName": i18n.t(f"col.{c}", lang) if f"col.{c}" in i18n.catalog(lang) else c,
        }
        if c in ("message", "reason"):  # the reason is what the reader came for: whole, wrapped
            spec.update(
                flex=3, minWidth=360, wrapText=True, autoHeight=True, cellStyle={"lineHeight": "1.35"}
            )
        if c in ordered:
            spec["comparator"] = {"function": ORDER_BY.format(f=c)}
            if not any(isinstance(r.get(c), date) for r in rows):
                spec["type"] = "rightAligned"
        return spec

    return dag.AgGrid(
        id=ids.id(PAGE, page_id),
        rowData=data,
        columnDefs=[column(c) for c in columns],
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 110},
        dashGridOptions={
            "pagination": len(data) > height_rows,
            "paginationPageSize": height_rows,
            "paginationPageSizeSelector": [height_rows, 50, 100],  # the size shown is one of its choices
            "domLayout": "autoHeight",
            "localeText": grid_locale(lang),
        },
        className="ag-theme-alpine",
        style=grid_style(len(data), height_rows),
    )


def freshness_cards(items: list[Any], state: UrlState) -> html.Div:
    lang = state.lang
    now = clock.now()
    cards = []
    for f in items:
        status = "red" if f.stale else ("green" if f.latest_data else "no_data")
        latest = (
            i18n.format_datetime(f.latest_data, lang)
            if isinstance(f.latest_data, datetime)
            else i18n.format_date(f.latest_data, lang)
        )
        cards.append(
            html.Div(
                [
                    html.H3([html.Span(className=f"light light-{status}"), t(f"dataset.{f.dataset}", state)]),
                    html.P(t("health.latest_data", state) + ": " + latest),
                    html.P(
                        t("health.last_success", state)
                        + ": "
                        + (i18n.ago(f.last_success, now, lang) if f.last_success else "—")
                    ),
                    html.P(
                        t("health.last_failure", state)
                        + ": "
                        + (i18n.format_datetime(f.last_failure, lang) if f.last_failure else "—")
                    ),
                    html.P(t("health.cadence", state) + ": " + _cadence_text(f, state)),
                    html.P(
                        f.reason_words.text(lang) if f.reason_words else (f.reason or ""),
                        className="stale-text" if f.stale else "muted",
                    ),
                ],
                className=f"card fresh-card state-{'stale' if f.stale else 'ok'}",
                **attrs({"data-dataset": f.dataset}),
            )
        )
    return html.Div(cards, className="fresh-cards")


def layout(**params: Any) -> Any:
    state = UrlState.from_params(params)
    metrics = current_metrics()
    lang = state.lang
    dataset = params.get("dataset") if params.get("dataset") in DATASETS else "attendance"
    minute = clock.now().replace(second=0, microsecond=0)  # stale flags move with the clock

    def ask(name: str, *args: Any, **kwargs: Any) -> Any:
        return metrics.health(name, *args, at=minute, **kwargs)

    # run logs, rejected rows and sources are city-wide file records: a caller limited to some
    # districts gets none of them (ioc.metrics.health), and is told so rather than "nothing"
    city_wide_only = (
        html.P(t("health.city_wide_only", state), className="muted city-wide-only")
        if metrics.access.restricted
        else None
    )

    def city_wide(component: Any) -> Any:
        return city_wide_only if city_wide_only is not None else component

    not_reporting = [dict(row) for row in ask("not_reporting")]
    for row in not_reporting:
        row["link"] = drill_link("school", str(row.get("school_id", "")), lang)
        row["level"] = i18n.level_name(row.get("level"), lang)  # its name, not the code
    return html.Div(
        [
            html.H1(t("nav.data_health", state)),
            html.H2(t("health.freshness", state)),
            freshness_cards(ask("freshness"), state),
            html.Section(
                [
                    html.H2(t("health.by_district", state)),
                    html.Div(
                        [
                            dcc.Link(
                                t(f"dataset.{d}", state),
                                href=state.link("/data-health")
                                + ("&" if "?" in state.link("/data-health") else "?")
                                + f"dataset={d}",
                                className="screen-tab" + (" active" if d == dataset else ""),
                            )
                            for d in DATASETS
                        ],
                        className="screen-tabs light-tabs",
                    ),
                    table(
                        "by-district",
                        ask("freshness_by_district", str(dataset)),
                        lang,
                        [
                            "district_code",
                            "district_name",
                            "schools",
                            "schools_with_data",
                            "latest",
                            "oldest_latest",
                            "stale_schools",
                        ],
                    ),
                ],
                className="card",
            ),
            html.Section(
                [
                    html.H2(t("health.runs", state)),
                    city_wide(
                        table(
                            "runs",
                            said_rows(ask("runs", 200), lang),
                            lang,
                            [
                                "started_at",
                                "source",
                                "dataset",
                                "file_name",
                                "status",
                                "rows_loaded",
                                "rows_rejected",
                                "message",
                            ],
                        )
                    ),
                ],
                className="card",
            ),
            html.Section(
                [
                    html.H2(t("health.rejections", state)),
                    city_wide(
                        table(
                            "rejections",
                            said_rows(ask("rejections", limit=500), lang),
                            lang,
                            [
                                "started_at",
                                "dataset",
                                "file_name",
                                "row_number",
                                "column_name",
                                "value",
                                "rule",
                                "message",
                            ],
                        )
                    ),
                ],
                className="card",
            ),
            html.Section(
                [
                    html.H2(t("health.sources", state)),
                    city_wide(
                        table(
                            "sources",
                            said_rows(ask("sources"), lang, "reason", "reason"),
                            lang,
                            [
                                "source",
                                "kind",
                                "failing",
                                "consecutive_failures",
                                "last_success",
                                "last_failure",
                                "reason",
                                "rows_last_run",
                                "pending_files",
                            ],
                        )
                    ),
                ],
                className="card",
            ),
            html.Section(
                [
                    html.H2(t("health.not_reporting", state, n=len(not_reporting))),
                    table(
                        "not-reporting",
                        not_reporting,
                        lang,
                        ["school_id", "school_name", "level", "ward_name", "district_name", "last_reported"],
                    ),
                ],
                className="card",
            ),
        ],
        className="page health-page theme-light",
    )


def _cadence_text(f: Any, state: UrlState) -> str:
    """The expected cadence in the page's language (as configured when the setting changed it)."""
    key = f"health.cadence.{f.dataset}"
    default = DEFAULT_CADENCES.get(f.dataset)
    if default is not None and f.expected_cadence == default.label:
        return t(key, state)
    return str(f.expected_cadence or "—")
