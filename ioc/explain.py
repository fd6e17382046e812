"""What is this number?": the body of the explain box (definition, numerator, denominator,
period, scope, as-of, target, data version), the access check of a question (it comes from the
browser) and the wiring that opens the box from a table's value cell. The app (ioc/app.py) opens
it from the value buttons; pages wire their tables with :func:`register_explain_cell` when they
are imported. It lives apart from the app so that pages can use it without importing the app,
which imports pages (the warmer draws them).
"""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, State, dcc, html, no_update
from dash._pages import _parse_query_string

from ioc import i18n, ids
from ioc.frontdoor import current_metrics, require_units
from ioc.metrics.registry import get_kpi
from ioc.pages._common import UrlState
from ioc.panels.common import attrs, parse_explain_ref


def require_question(question: dict[str, Any]) -> None:
    """A "what is this number?" question comes from the browser (a button's id, a table row): its
    units and data version go through the caller's access (an audited 403 otherwise)."""
    scope = question["scope"]
    require_units(
        [(kind, getattr(scope, kind)) for kind in ("district", "ward", "school")], [question["snapshot"]]
    )


def explain_cell(cell: dict[str, Any] | None, rows: list[dict[str, Any]] | None, search: str | None) -> Any:
    """A click on a table's value cell opens "what is this number?" for that row (rows carry 'ref')."""
    if not cell or cell.get("colId") != "shown":
        return no_update, no_update
    row_id = cell.get("rowId")
    row = next((r for r in rows or [] if row_id in (r.get("link"), r.get("key"), r.get("ref"))), None)
    if row is None or not isinstance(row.get("ref"), str) or not row["ref"]:
        return no_update, no_update
    try:
        question = parse_explain_ref(row["ref"])
    except ValueError:  # a crafted row: its question is not one the pages make
        return no_update, no_update
    require_question(question)  # the rows are the browser's: a crafted one may name any unit
    lang = UrlState.from_params(_parse_query_string(search or "")).lang
    return "explain", explanation(row["ref"], lang)


def register_explain_cell(table_id: str) -> None:
    """Wire a page's AG Grid so that clicking a value explains it (pages call this at import)."""
    dash.callback(
        Output(ids.EXPLAIN_BOX, "className", allow_duplicate=True),
        Output(ids.EXPLAIN_BODY, "children", allow_duplicate=True),
        Input(table_id, "cellClicked"),
        State(table_id, "rowData"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(explain_cell)


def explanation(ref: str, lang: str) -> Any:
    """The body of the "what is this number?" box: definition, numerator, denominator, period, as-of."""
    q = parse_explain_ref(ref)
    kpi = get_kpi(q["kpi"])
    res = current_metrics().result(
        kpi.id,
        "all",
        scope=q["scope"],
        date_from=q["date_from"],
        date_to=q["date_to"],
        snapshot=q["snapshot"],
    )
    row = res.rows[0] if res.rows else None

    def line(key: str, value: str) -> html.Tr:
        return html.Tr(
            [html.Th(i18n.t(key, lang)), html.Td(value, **attrs({"data-field": key.split(".")[-1]}))]
        )

    scope_text = ", ".join(f"{i18n.t('filter.' + k, lang)}: {v}" for k, v in q["scope"].items()) or i18n.t(
        "nav.city", lang
    )
    period = (
        i18n.format_date(res.date_from, lang) + " – " + i18n.format_date(res.date_to, lang)
        if res.date_from and res.date_from != res.date_to
        else i18n.format_date(res.date_to, lang)
    )
    num_decimals = 0 if kpi.unit in ("ratio", "count") else 2
    rows = [
        line("explain.value", i18n.kpi_value(row.value if row else None, kpi.unit, lang, kpi.decimals)),
        line("explain.numerator", i18n.number(row.numerator if row else None, lang, num_decimals)),
        line("explain.denominator", i18n.number(row.denominator if row else None, lang, num_decimals)),
        line(
            "explain.period",
            period + (f" ({i18n.t('explain.window', lang, n=kpi.window_days)})" if kpi.window_days else ""),
        ),
        line("explain.scope", scope_text),
        line("explain.as_of", i18n.format_datetime(row.as_of if row else None, lang)),
        line("explain.schools_reporting", i18n.number(row.schools_reporting if row else None, lang)),
        line("explain.target", i18n.kpi_value(kpi.target, kpi.unit, lang, kpi.decimals)),
        line(
            "explain.data_version",
            str(res.data_version) + (f" ({i18n.t('filter.asof', lang)})" if q["snapshot"] else ""),
        ),
    ]
    return html.Div(
        [
            html.H2(kpi.name.get(lang)),
            html.P(kpi.description.get(lang), className="explain-definition"),
            html.Table(html.Tbody(rows), className="explain-table"),
            dcc.Link(
                i18n.t("explain.more", lang), href=f"/kpi/{kpi.id}" + ("?lang=en" if lang == "en" else "")
            ),
        ],
        className="explain-content",
        **attrs({"data-kpi": kpi.id}),
    )
