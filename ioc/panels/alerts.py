"""The alert list: districts (or wards) whose KPI is red, worst gap to target first."""

from __future__ import annotations

from datetime import datetime

from dash import dcc, html

from ioc import i18n
from ioc.metrics.registry import KPIS, get_kpi
from ioc.panels import register
from ioc.panels.base import PanelConfig, PanelContext, PanelKind, PanelOutput, merged_scope
from ioc.panels.common import drill_link, status_light
from ioc.panels.data import result

DEFAULT_KPIS = ("attendance_rate", "reporting_rate", "bandwidth_coverage", "uptime", "digital_readiness")


@register
class Alerts(PanelKind):
    name = "alerts"
    needs_kpi = False
    option_types = {
        "kpis": (list, None),
        "by": (str, ("district", "ward", "school")),
        "limit": (int, None),
        "include_amber": (bool, None),
    }

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        by = panel.option("by", "district")
        wanted = ("red", "amber") if panel.option("include_amber", False) else ("red",)
        kpi_ids = panel.option("kpis") or (
            [panel.kpi] if panel.kpi else [k for k in DEFAULT_KPIS if k in KPIS]
        )
        entries = []
        as_of: datetime | None = None
        for kid in kpi_ids:
            kpi = get_kpi(kid)
            res = result(
                ctx.store, kid, by, scope=merged_scope(panel, ctx), date_to=ctx.date_to, snapshot=ctx.snapshot
            )
            for row in res.rows:
                if row.as_of and (as_of is None or row.as_of > as_of):
                    as_of = row.as_of
                status = kpi.status(row.value)
                if status in wanted and row.value is not None:
                    goal = kpi.target if kpi.target is not None else kpi.green
                    gap = abs(goal - row.value) / (goal or 1)
                    entries.append((status != "red", -gap, kpi, row, status))
        entries.sort(key=lambda e: (e[0], e[1]))
        limit = int(panel.option("limit", 8))
        lang = ctx.lang
        items = []
        for _, _, kpi, row, status in entries[:limit]:
            link = drill_link(by, row.key, lang, ctx.snapshot)
            text = [
                status_light(status, lang),
                html.Strong(row.label),
                html.Span(" · " + kpi.name.get(lang) + " "),
                html.Span(i18n.kpi_value(row.value, kpi.unit, lang, kpi.decimals), className="alert-value"),
            ]
            if kpi.target is not None:
                text.append(
                    html.Span(
                        " ("
                        + i18n.t("kpi.target", lang)
                        + " "
                        + i18n.kpi_value(kpi.target, kpi.unit, lang, kpi.decimals)
                        + ")",
                        className="muted",
                    )
                )
            items.append(
                html.Li(
                    dcc.Link(text, href=link) if link and not ctx.kiosk else text,
                    className=f"alert alert-{status}",
                )
            )
        if not items:
            body = html.Div(i18n.t("alerts.none", lang), className="alerts-none")
        else:
            more = len(entries) - limit
            body = html.Div(
                [
                    html.Ul(items, className="alert-list"),
                    html.Div(i18n.t("alerts.more", lang, n=more), className="muted") if more > 0 else None,
                ]
            )
        return PanelOutput(body, "ok", as_of)
