"""``/alerts/<id>``: one alert: why it fired (in words, with the unit's trend marking the alert's
days), its owner and state, its action log, and the actions (acknowledge, assign, comment,
resolve) for the people whose districts it concerns. Notification messages link here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, callback, dcc, html, no_update

from ioc import figures, i18n, ids
from ioc.alerts import output, records
from ioc.alerts.actions import ActionError, perform
from ioc.alerts.rules import current as current_rules
from ioc.api import alerts_db
from ioc.auth.web import client_ip, current_principal
from ioc.figures import plain
from ioc.metrics.query import KpiQuery, Scope
from ioc.pages._common import UrlState, current_metrics, page_title
from ioc.panels.common import attrs, drill_link, graph_config

PAGE = "alert"
dash.register_page(__name__, path_template="/alerts/<alert_id>", name="alert", title=page_title("page.alert"))

DRILL = {"district": "district", "ward": "ward", "school": "school"}


def tr(key: str, lang: str, **values: Any) -> str:
    """The alert pages' words (``alertpage.*`` in the locale catalogs)."""
    return i18n.t(f"alertpage.{key}", lang, **values)


def _row(alert_id: str | int | None) -> Any:
    try:
        number = int(str(alert_id))
    except ValueError:
        return None
    row = records.get(alerts_db(), number)
    if row is None or row["state"] == "pending" or not output.visible(row, current_metrics().access):
        return None
    return row


def trend(row: Any, lang: str) -> go.Figure | None:
    """The unit's daily attendance around the alert, its days marked (anomaly and missing reports)."""
    if (
        row["kind"] not in ("anomaly", "missing_report", "threshold")
        or (row["kpi"] or "attendance_rate") != "attendance_rate"
    ):
        return None
    start = date.fromisoformat(row["start_day"])
    end = date.fromisoformat(row["end_day"] or row["last_day"])
    scope = Scope() if row["level"] == "city" else Scope(**{row["level"]: row["unit"]})
    query = KpiQuery(
        "attendance_rate",
        by="date",
        date_from=start - timedelta(days=42),
        date_to=end + timedelta(days=14),
        scope=scope,
    )
    result = current_metrics().answer(query)
    points = [(date.fromisoformat(r.key[:10]), r.value) for r in result.rows if r.value is not None]
    if not points:
        return None
    # the app's trend figure: dates and numbers in the page's language (no English month names)
    figure = figures.trend([(plain(row["unit_name"]), points)], "ratio", lang, height=320)
    marked = [(d, v) for d, v in points if start <= d <= end]
    if marked:
        figure.add_trace(
            go.Scatter(
                x=[d.isoformat() for d, _ in marked],
                y=[v for _, v in marked],
                mode="markers",
                name="",
                marker={"color": "#c0392b", "size": 12, "symbol": "diamond"},
                hovertext=[
                    f"{i18n.format_date(d, lang)}: {i18n.kpi_value(v, 'ratio', lang)}" for d, v in marked
                ],
                hoverinfo="text",
            )
        )
    figure.add_vrect(
        x0=f"{start - timedelta(days=1)}T12:00",
        x1=f"{end}T12:00",
        fillcolor="#c0392b",
        opacity=0.12,
        line_width=0,
    )
    figure.update_layout(
        title={"text": tr("trend", lang)}, showlegend=False, margin={"l": 50, "r": 20, "t": 50, "b": 40}
    )
    return figure


def details(row: Any, lang: str, state: UrlState) -> Any:
    rule = next((r for r in current_rules() if r.id == row["rule"]), None)
    alert = output.alert_json(
        row, lang, records.actions(alerts_db(), [int(row["id"])]).get(int(row["id"]), [])
    )
    status = tr("open" if alert["status"] == "open" else "resolved", lang)
    period = (
        tr("since", lang, start=_day(alert["start"], lang))
        if alert["end"] is None
        else tr("from_to", lang, start=_day(alert["start"], lang), end=_day(alert["end"], lang))
    )
    facts = [
        html.P(
            [
                html.Span(status, className=f"badge badge-{alert['status']}"),
                " ",
                html.Span(
                    i18n.severity_name(alert["severity"], lang),
                    className=f"badge severity-{alert['severity']}",
                ),
                " ",
                period,
            ]
        ),
        html.H2(tr("why", lang)),
        html.P(alert["message"], className="alert-why", **attrs({"data-alert-message": "1"})),
    ]
    if rule:
        facts.append(
            html.Table(
                html.Tbody(
                    [
                        html.Tr([html.Th(tr("rule", lang)), html.Td(rule.name[lang])]),
                        html.Tr([html.Th(tr("owner_rule", lang)), html.Td(rule.owner)]),
                        html.Tr([html.Th(tr("expected_action", lang)), html.Td(rule.action[lang])]),
                    ]
                ),
                className="kv-table",
            )
        )
    people = [
        tr("acknowledged", lang, who=alert["acknowledged_by"])
        if alert["acknowledged_by"]
        else tr("not_acknowledged", lang)
    ]
    if alert["owner"]:
        people.append(tr("assigned", lang, who=alert["owner"]))
    if alert["resolved_reason"]:
        people.append(tr("reason", lang, why=alert["resolved_reason"]))
    if alert["silenced"]:
        people.append(tr("silenced", lang))
    facts.append(html.Ul([html.Li(p) for p in people], className="alert-people"))
    figure = trend(row, lang)
    if figure is not None:
        facts.append(dcc.Graph(figure=figure, config=graph_config(lang), id=ids.id(PAGE, "trend")))
    link = drill_link(DRILL.get(alert["level"], ""), alert["unit"], lang) if alert["level"] in DRILL else None
    if link:
        facts.append(dcc.Link(tr("unit_page", lang), href=link, className="export-button"))
    log = alert.get("actions") or []
    facts += [
        html.H2(tr("log", lang)),
        html.Table(
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(_when(a["at"], lang)),
                            html.Td(a["actor"]),
                            html.Td(tr(a["action"], lang)),
                            html.Td(a["detail"]),
                        ]
                    )
                    for a in log
                ]
            ),
            className="alert-log",
        )
        if log
        else html.P(tr("log_empty", lang), className="muted"),
    ]
    return facts


def _day(text: str, lang: str) -> str:
    day = date.fromisoformat(text)
    return day.strftime("%d/%m/%Y") if lang == "vi" else day.isoformat()


def _when(text: str | None, lang: str) -> str:
    if not text:
        return ""
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.strftime("%d/%m/%Y %H:%M UTC") if lang == "vi" else moment.strftime("%Y-%m-%d %H:%M UTC")


def layout(alert_id: str | None = None, **params: Any) -> Any:
    state = UrlState.from_params(params)
    lang = state.lang
    row = _row(alert_id)
    back = dcc.Link(tr("all_alerts", lang), href=state.link("/alerts"))
    if row is None:
        return html.Div(
            [html.Div([html.H1(tr("missing", lang, id=alert_id)), back], className="card")],
            className="page alert-page theme-light",
        )
    head = html.H1(f"{row['unit_name']} · {tr('title', lang)} #{row['id']}")
    actions = None
    if not state.kiosk:
        actions = html.Div(
            [
                dcc.Textarea(
                    id=ids.id(PAGE, "text"),
                    placeholder=tr("text", lang),
                    maxLength=2000,
                    className="alert-text",
                ),
                html.Div(
                    [
                        html.Button(tr(a, lang), id=ids.id(PAGE, a), n_clicks=0, className="export-button")
                        for a in records.ACTIONS
                    ],
                    className="alert-buttons",
                ),
                html.Div(id=ids.id(PAGE, "result"), role="status"),
            ],
            className="alert-actions",
        )
    return html.Div(
        [
            dcc.Store(id=ids.id(PAGE, "id"), data={"id": int(row["id"]), "lang": lang}),
            html.Div(
                [back, head, html.Div(details(row, lang, state), id=ids.id(PAGE, "details")), actions],
                className="card alert-card",
            ),
        ],
        className="page alert-page theme-light",
    )


@callback(
    Output(ids.id(PAGE, "details"), "children"),
    Output(ids.id(PAGE, "result"), "children"),
    Output(ids.id(PAGE, "text"), "value"),
    *(Input(ids.id(PAGE, a), "n_clicks") for a in records.ACTIONS),
    State(ids.id(PAGE, "text"), "value"),
    State(ids.id(PAGE, "id"), "data"),
    prevent_initial_call=True,
)
def act(*values: Any) -> tuple[Any, Any, Any]:
    """A click on one of the action buttons: record it as the signed-in person, show the result."""
    text, meta = values[-2], values[-1]
    lang = meta.get("lang", "vi")
    action = (dash.ctx.triggered_id or "").removeprefix(f"{PAGE}-")
    if action not in records.ACTIONS:
        return no_update, no_update, no_update
    principal = current_principal()
    if principal is not None and principal.kind not in ("user", "open"):
        return (
            no_update,
            "✖ " + ("Thiết bị này không được thao tác." if lang == "vi" else "This device may not act."),
            no_update,
        )
    try:
        perform(
            alerts_db(),
            int(meta["id"]),
            action,
            principal.label if principal else "web",
            text or "",
            access=current_metrics().access,
            ip=client_ip(),
        )
    except ActionError as error:
        return no_update, "✖ " + str(error), no_update
    row = _row(meta["id"])
    return (details(row, lang, UrlState(lang=lang)) if row is not None else no_update), tr("done", lang), ""
