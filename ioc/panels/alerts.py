"""The alert panel: the open alerts (ioc/alerts), new ones first, acknowledged ones with their owner.

Each line is the alert's own explanation ("Xã Bình Khánh: 64 % so với thường lệ 95 % vào thứ
Tư; 5/5 trường thấp hơn"), its severity as a light and, once someone took it, who. The head says
how many are open and how many are new, so a panel too small for the list still tells the truth
(and assets/fit.js says how many lines it could not show). Scoped like every other datum: the
panel's and the URL's district or ward, and the reader's access scope.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from ioc import i18n
from ioc.alerts import output
from ioc.alerts.rules import KINDS, LEVELS
from ioc.api import alerts_db
from ioc.figures import plain
from ioc.frontdoor import current_metrics
from ioc.panels import register
from ioc.panels.base import PanelConfig, PanelContext, PanelKind, PanelOutput, merged_scope
from ioc.panels.common import attrs, with_query

SEVERITY_LIGHT = {"critical": "red", "warning": "amber", "info": "green"}


@register
class Alerts(PanelKind):
    name = "alerts"
    needs_kpi = False
    option_types = {
        "kinds": (str, None),  # only these kinds, comma-separated (default: every kind)
        "kpis": (list, None),  # only alerts about these KPIs (threshold and anomaly rules)
        "by": (str, LEVELS),  # the finest level listed (default: school, i.e. every level)
        "limit": (int, None),
    }

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        lang = ctx.lang
        scope = merged_scope(panel, ctx)
        finest = LEVELS.index(panel.option("by", "school"))
        kinds = {k.strip() for k in str(panel.option("kinds") or ",".join(KINDS)).split(",") if k.strip()}
        if kinds - set(KINDS):
            raise ValueError(
                f"option kinds: {', '.join(sorted(kinds - set(KINDS)))} not among {', '.join(KINDS)}"
            )
        kpis = set(panel.option("kpis") or ())
        query = output.ListQuery(date_to=ctx.date_to, status="open", lang=lang)
        alerts = [
            a
            for a in output.answer(alerts_db(), query, ctx.metrics.access)["alerts"]
            if a["kind"] in kinds
            and (not kpis or a["kpi"] in kpis)
            and LEVELS.index(a["level"]) <= finest
            and (scope.district is None or a["district"] == scope.district)
            and (scope.ward is None or a["ward"] == scope.ward)
            and (scope.school is None or a["unit"] == scope.school)
        ]
        if not alerts:
            return PanelOutput(html.Div(i18n.t("alertpanel.none", lang), className="alerts-none"), "ok")
        alerts = output.ordered(alerts)
        new = sum(1 for a in alerts if not (a["acknowledged_by"] or a["owner"]))
        items = []
        for a in alerts[: int(panel.option("limit", 8))]:
            taken = a["owner"] or a["acknowledged_by"]
            text = [
                html.Span(
                    className=f"light light-{SEVERITY_LIGHT.get(a['severity'], 'amber')}",
                    title=i18n.severity_name(a["severity"], lang),
                ),
                html.Span(i18n.t("alertpanel.taken", lang, who=taken), className="alert-owner")
                if taken
                else html.Span(i18n.t("alertpanel.new", lang), className="alert-new-tag"),
                html.Span(a["message"], className="alert-message"),
            ]
            link = with_query(f"/alerts/{a['id']}", lang=None if lang == "vi" else lang)
            items.append(
                html.Li(
                    dcc.Link(text, href=link) if not ctx.kiosk else text,
                    className="alert " + ("alert-taken" if taken else "alert-new"),
                    **attrs({"data-alert": str(a["id"])}),
                )
            )
        head = html.Div(i18n.plural("alertpanel.head", len(alerts), lang, new=new), className="alerts-count")
        return PanelOutput(html.Div([head, html.Ul(items, className="alert-list")]), "ok")


NEAR = {
    "city": ("city", "district"),
    "district": ("district", "ward"),
    "ward": ("ward", "school"),
    "school": ("school",),
}


def mark_alert_days(fig: Any, kpi_id: str, scope: Any, series: Any, lang: str) -> Any:
    """Mark on a trend chart of ``kpi_id`` over ``scope`` the days with alerts about it: the chart's
    own unit's alerts and those of the level just below (a city chart shows its districts' floods),
    each mark saying the alert in words. Returns ``fig``."""
    points = {d: v for d, v in series if v is not None}
    if not points:
        return fig
    level, unit = next(
        ((name, getattr(scope, name)) for name in ("school", "ward", "district") if getattr(scope, name)),
        ("city", "all"),
    )
    query = output.ListQuery(date_from=min(points), date_to=max(points), lang=lang)
    marks: dict[Any, list[str]] = {}
    for a in output.answer(alerts_db(), query, current_metrics().access)["alerts"]:
        if a["kpi"] != kpi_id or a["level"] not in NEAR[level]:
            continue
        if level != "city" and not (
            a["unit"] == unit or a[level] == unit or (level == "school" and a["unit"] == unit)
        ):
            continue
        first = date.fromisoformat(a["start"])
        last = date.fromisoformat(a["end"]) if a["end"] else max(points)
        for day in points:
            if first <= day <= last:
                marks.setdefault(day, []).append(a["message"])
    if marks:
        days = sorted(marks)
        fig.add_trace(
            go.Scatter(
                x=[d.isoformat() for d in days],
                y=[points[d] for d in days],
                mode="markers",
                name=i18n.t("alertpanel.marks", lang),
                marker={
                    "symbol": "diamond",
                    "size": 12,
                    "color": "#e5484d",
                    "line": {"width": 1, "color": "#ffffff"},
                },
                hovertext=["<br>".join(plain(m) for m in marks[d][:4]) for d in days],
                hoverinfo="text",
                showlegend=False,
            )
        )
    return fig
