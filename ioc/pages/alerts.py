"""``/alerts``: the alerts the reader may see, new (not yet acknowledged) first, then acknowledged
ones with their owner; ``?status=open|resolved|all`` (default open). Each links to its page."""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
from dash import dcc, html

from ioc import i18n
from ioc.alerts import output
from ioc.api import alerts_db
from ioc.pages._common import UrlState, current_metrics, page_title
from ioc.pages.alert import tr

PAGE = "alerts"
dash.register_page(__name__, path="/alerts", name="alerts", title=page_title("nav.alerts"))


def day(value: str | None, lang: str) -> str:
    """An alert's date ('YYYY-MM-DD' in the answer) in the page's language ('—' when open)."""
    return i18n.format_date(date.fromisoformat(value), lang) if value else "—"


def layout(**params: Any) -> Any:
    state = UrlState.from_params(params)
    lang = state.lang
    status = str(params.get("status")) if params.get("status") in output.STATUSES else "open"
    rows = output.ordered(
        output.answer(alerts_db(), output.ListQuery(status=status, lang=lang), current_metrics().access)[
            "alerts"
        ]
    )
    title, start, end, unit, what, owner = (
        tr(f"list_{name}", lang) for name in ("title", "start", "end", "unit", "what", "owner")
    )
    tabs = html.Nav(
        [
            dcc.Link(
                tr(f"status_{s}", lang),
                href=state.link("/alerts") + ("&" if "?" in state.link("/alerts") else "?") + f"status={s}",
                className="tab active" if s == status else "tab",
            )
            for s in output.STATUSES
        ],
        className="alert-tabs",
    )
    table = html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in (start, end, unit, what, owner)])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(day(a["start"], lang), className="alert-start"),
                            html.Td(
                                day(a["end"], lang), className="alert-end" + ("" if a["end"] else " empty")
                            ),
                            html.Td(
                                dcc.Link(a["unit_name"], href=state.link(f"/alerts/{a['id']}")),
                                className="alert-unit",
                            ),
                            html.Td(a["message"], className="alert-what"),
                            html.Td(
                                a["owner"]
                                or (
                                    tr("acknowledged", lang, who=a["acknowledged_by"])
                                    if a["acknowledged_by"]
                                    else "—"
                                ),
                                className="alert-who"
                                + ("" if a["owner"] or a["acknowledged_by"] else " empty"),
                            ),
                        ],
                        className=f"alert-row severity-{a['severity']}"
                        + (" alert-new" if a["status"] == "open" and not a["acknowledged_by"] else ""),
                    )
                    for a in rows
                ]
            ),
        ],
        className="alert-table",
    )
    return html.Div(
        html.Div([html.H1(f"{title} ({len(rows)})"), tabs, table], className="card"),
        className="page alerts-page theme-light",
    )
