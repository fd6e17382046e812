"""``/kpi/<kpi_id>``: the definition of a KPI (``/kpi`` lists them all)."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

from ioc import i18n
from ioc.metrics.registry import KPIS
from ioc.pages._common import UrlState, page_title, t
from ioc.panels.common import attrs

PAGE = "kpi"
dash.register_page(__name__, path_template="/kpi/<kpi_id>", name="kpi", title=page_title("page.kpi"))


def definition(kpi_id: str, state: UrlState, listed: bool = False) -> Any:
    """A KPI's card: its definition, formula, target, thresholds, owner and action (``listed``:
    one of the index's cards, its title a link to the KPI's own page)."""
    kpi = KPIS[kpi_id]
    lang = state.lang
    other = "en" if lang == "vi" else "vi"

    def row(key: str, value: Any) -> html.Tr:
        return html.Tr([html.Th(t(key, state)), html.Td(value)])

    def threshold(value: float | None) -> str:
        return i18n.kpi_value(value, kpi.unit, lang, kpi.decimals)

    better = t("kpi.higher_better" if kpi.direction == "higher" else "kpi.lower_better", state)
    formula = ", ".join(f"{k} = {v}" for k, v in kpi.formula.parts)
    title = kpi.name.get(lang)
    return html.Div(
        [
            html.H2(dcc.Link(title, href=state.link(f"/kpi/{kpi.id}"))) if listed else html.H1(title),
            html.P(kpi.name.get(other), className="muted", lang=other),
            html.P(kpi.description.get(lang), className="kpi-definition"),
            html.Table(
                html.Tbody(
                    [
                        row("kpi.id", html.Code(kpi.id)),
                        row("kpi.unit", t(f"unitname.{kpi.unit}", state)),
                        row("kpi.direction", better),
                        row("kpi.target", threshold(kpi.target)),
                        row(
                            "kpi.thresholds",
                            t(
                                "kpi.thresholds_text",
                                state,
                                green=threshold(kpi.green),
                                amber=threshold(kpi.amber),
                            ),
                        ),
                        row(
                            "kpi.period",
                            t("kpi.window", state, n=kpi.window_days)
                            if kpi.window_days
                            else t("kpi.period_text", state),
                        ),
                        row("kpi.datasets", ", ".join(t(f"dataset.{d}", state) for d in kpi.datasets)),
                        row("kpi.formula", html.Code(f"{kpi.formula.kind}({formula})")),
                        row("kpi.owner", kpi.owner or "—"),
                        row("kpi.action", kpi.action.get(lang) or "—"),
                        row("kpi.api", html.A(f"/api/v1/kpis/{kpi.id}", href=f"/api/v1/kpis/{kpi.id}")),
                    ]
                ),
                className="kv-table",
            ),
            dcc.Link(
                t("kpi.explore", state),
                href=state.link("/explore")
                + ("&" if "?" in state.link("/explore") else "?")
                + f"kpi={kpi.id}",
                className="export-button",
            ),
        ],
        className="card kpi-card",
        **attrs({"data-kpi": kpi.id}),
    )


def layout(kpi_id: str | None = None, **params: Any) -> Any:
    state = UrlState.from_params(params)
    index = html.Ul(
        [
            html.Li(
                dcc.Link(k.name.get(state.lang), href=state.link(f"/kpi/{k.id}")),
                className="active" if k.id == kpi_id else "",
            )
            for k in KPIS.values()
        ],
        className="kpi-index",
    )
    if kpi_id is not None and kpi_id in KPIS:
        body, kind = definition(kpi_id, state), "kpi-one"
    elif kpi_id:
        body, kind = html.Div([html.H1(t("kpi.unknown", state, id=kpi_id))], className="card"), "kpi-one"
    else:
        # the page's heading above both columns, so a phone (one column) shows it first, not the
        # index; every definition below is its own entry of the index
        body = html.Div([definition(k, state, listed=True) for k in KPIS], className="kpi-list")
        return html.Div(
            [html.H1(t("nav.kpis", state)), html.Div(index, className="kpi-side"), body],
            className="page kpi-page kpi-all theme-light",
        )
    return html.Div(
        [html.Div(index, className="kpi-side"), body], className=f"page kpi-page {kind} theme-light"
    )
