"""Lists leadership and officers asked for: the schools that have not reported today (with the
morning's progress and how many school days each one has missed) and the schools offline now.

On the wall a list shows what fits its panel and says how many it leaves out (assets/fit.js).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
from dash import dcc, html

from ioc import i18n
from ioc.metrics.registry import get_kpi
from ioc.panels import register
from ioc.panels.base import PanelConfig, PanelContext, PanelKind, PanelOutput, merged_scope
from ioc.panels.common import attrs, drill_link


def school_days_missed(last_reported: date | None, day: date) -> int | None:
    """Weekdays after the last report up to and including ``day`` (None: never reported)."""
    if last_reported is None:
        return None
    return int(np.busday_count(last_reported + timedelta(days=1), day + timedelta(days=1)))


def reporting_day(now: datetime) -> date:
    """Today on a weekday; on a weekend the Friday before (the last day schools had to report)."""
    day = now.date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


@register
class NotReported(PanelKind):
    """Schools without an attendance row today: how many have reported so far (a progress bar
    through the morning) and, longest silent first, who has not and for how many school days."""

    name = "not_reported"
    needs_kpi = False

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        lang = ctx.lang
        scope = merged_scope(panel, ctx)
        day = ctx.date_to or reporting_day(ctx.now)
        minute = ctx.now.replace(second=0, microsecond=0)  # "today" moves with the clock, not only the data
        missing = ctx.metrics.health("not_reporting", day, scope, at=minute)
        total = ctx.metrics.result("reporting_rate", "all", scope=scope, date_from=day, date_to=day)
        schools = int(total.rows[0].denominator or 0) if total.rows else 0
        schools = max(schools, len(missing))
        reported = schools - len(missing)
        share = reported / schools if schools else None
        rows = sorted(
            missing,
            key=lambda r: (-(school_days_missed(r.get("last_reported"), day) or 10_000), r["school_name"]),
        )
        items = []
        for r in rows:
            missed = school_days_missed(r.get("last_reported"), day)
            items.append(
                html.Li(
                    [
                        dcc.Link(
                            r["school_name"], href=drill_link("school", str(r["school_id"]), lang) or "#"
                        ),
                        html.Span(f" · {r.get('ward_name') or ''}", className="muted"),
                        html.Span(
                            i18n.t("lists.never", lang)
                            if missed is None
                            else i18n.plural("lists.days_missed", missed, lang),
                            className="missed" + (" missed-long" if missed is None or missed >= 2 else ""),
                        ),
                    ],
                    className="school-item",
                )
            )
        head = html.Div(
            [
                html.Div(
                    [
                        html.Span(i18n.number(len(missing), lang), className="list-count"),
                        html.Span(
                            i18n.plural(
                                "lists.not_reported_of", len(missing), lang, total=i18n.number(schools, lang)
                            )
                        ),
                    ],
                    className="list-head",
                ),
                html.Div(
                    html.Div(className="progress-done", style={"width": f"{100 * (share or 0):.1f}%"}),
                    className="progress",
                    role="progressbar",
                    **attrs(
                        {
                            "aria-valuemin": "0",
                            "aria-valuemax": str(schools),
                            "aria-valuenow": str(reported),
                            "aria-label": i18n.t("lists.progress", lang),
                        }
                    ),
                ),
                html.Div(
                    i18n.t(
                        "lists.reported_so_far",
                        lang,
                        n=i18n.number(reported, lang),
                        share=i18n.percent(share, lang),
                        date=i18n.format_date(day, lang),
                    ),
                    className="muted",
                ),
            ]
        )
        body = html.Div(
            [head, html.Ul(items, className="school-items") if items else None],
            className="school-list-panel",
            **attrs({"data-count": str(len(missing))}),
        )
        # "today" only when the day is today: on a weekend or a holiday the list is of the last
        # school day, and a wall saying "not reported today" on a Sunday would be wrong
        title = (
            None
            if day == ctx.now.date()
            else i18n.t("panel.not_reported_on", lang, day=i18n.format_date(day, lang))
        )
        return PanelOutput(body, "ok", ctx.now, title=title)


@register
class OfflineNow(PanelKind):
    """Schools whose probes have not reached the internet for at least the KPI's window (an hour)."""

    name = "offline_now"
    needs_kpi = False

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        lang = ctx.lang
        kpi = get_kpi("schools_offline_now")
        res = ctx.metrics.result(kpi.id, "school", scope=merged_scope(panel, ctx), snapshot=ctx.snapshot)
        offline = sorted((r for r in res.rows if r.value), key=lambda r: r.label)
        as_of = max((r.as_of for r in res.rows if r.as_of), default=None)
        minutes = int(kpi.formula.get("minutes") or 60)
        items = [
            html.Li(
                dcc.Link(r.label, href=drill_link("school", r.key, lang, ctx.snapshot) or "#"),
                className="school-item",
            )
            for r in offline
        ]
        body = html.Div(
            [
                html.Div(
                    [
                        html.Span(i18n.number(len(offline), lang), className="list-count"),
                        html.Span(i18n.plural("lists.offline_for", len(offline), lang, minutes=minutes)),
                    ],
                    className="list-head",
                ),
                html.Ul(items, className="school-items")
                if items
                else html.Div(i18n.t("lists.none_offline", lang), className="alerts-none"),
            ],
            className="school-list-panel",
            **attrs({"data-count": str(len(offline))}),
        )
        return PanelOutput(body, "ok" if as_of is not None else "missing", as_of)
