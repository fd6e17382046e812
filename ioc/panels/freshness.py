"""The data-freshness panel: per dataset, the newest data, the last successful load, stale or not."""

from __future__ import annotations

from datetime import datetime

from dash import html

from ioc import clock, i18n
from ioc.panels import register
from ioc.panels.base import PanelConfig, PanelContext, PanelKind, PanelOutput
from ioc.panels.common import status_light


@register
class Freshness(PanelKind):
    name = "freshness"
    needs_kpi = False

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        lang = ctx.lang
        rows = []
        any_stale = False
        newest = None
        # stale flags depend on the clock (the real one, also for an "as of" page): one entry per
        # data version and minute
        minute = clock.now().astimezone(ctx.now.tzinfo).replace(second=0, microsecond=0)
        items = ctx.metrics.health("freshness", at=minute)
        # overdue datasets first: a panel that shows what fits must show what needs action
        for f in sorted(items, key=lambda f: (not f.stale, f.latest_data is None)):
            any_stale = any_stale or bool(f.stale)
            if f.last_success and (newest is None or f.last_success > newest):
                newest = f.last_success
            status = "red" if f.stale else ("green" if f.latest_data else "no_data")
            rows.append(
                html.Tr(
                    [
                        # the state is the light and, when overdue, a word: no column of its own,
                        # which left the names three lines high on the wall
                        html.Td(
                            [
                                status_light(status, lang),
                                html.Span(
                                    [
                                        i18n.t(f"dataset.{f.dataset}", lang),
                                        html.Span(" · " + i18n.t("fresh.stale", lang), className="stale-text")
                                        if f.stale
                                        else None,
                                    ]
                                ),
                            ]
                        ),
                        html.Td(
                            i18n.format_datetime(f.latest_data, lang)
                            if isinstance(f.latest_data, datetime)
                            else i18n.format_date(f.latest_data, lang)
                        ),
                        html.Td(i18n.ago(f.last_success, ctx.now, lang) if f.last_success else "—"),
                    ],
                    className="fresh-stale" if f.stale else "",
                )
            )
        head = html.Tr(
            [
                html.Th(i18n.t(k, lang))
                for k in ("health.dataset", "health.latest_data", "health.last_success")
            ]
        )
        body = html.Table([html.Thead(head), html.Tbody(rows)], className="fresh-table")
        return PanelOutput(body, "ok", newest, i18n.t("fresh.some_stale", lang) if any_stale else "")
