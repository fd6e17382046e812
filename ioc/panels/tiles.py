"""The KPI tile: value, target, change vs the previous period, traffic light, sparkline, freshness."""

from __future__ import annotations

from typing import Any

from dash import html

from ioc import figures, i18n
from ioc.metrics.registry import get_kpi
from ioc.panels import register
from ioc.panels.base import (
    PanelConfig,
    PanelContext,
    PanelKind,
    PanelOutput,
    effective_kpi,
    is_stale,
    merged_scope,
    stale_minutes,
)
from ioc.panels.common import attrs, explain_ref, series_grain, status_light, value_button


@register
class KpiTile(PanelKind):
    name = "kpi_tile"
    # yes_no: the KPI is a share of schools and the tile shows one school: "Có"/"Không" and why
    option_types = {"series_days": (int, None), "sparkline": (bool, None), "yes_no": (bool, None)}

    def render(self, panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
        kpi = effective_kpi(panel, get_kpi(panel.kpi or ""))
        scope = merged_scope(panel, ctx)
        yes_no = bool(panel.option("yes_no", False))
        spark = bool(panel.option("sparkline", True)) and not yes_no
        s = ctx.metrics.summary(
            kpi.id,
            scope=scope,
            date_to=ctx.date_to,
            snapshot=ctx.snapshot,
            series_days=int(panel.option("series_days", 30)) if spark else 0,
        )
        lang = ctx.lang
        value = s.current.value
        status = kpi.status(value)
        ref = explain_ref(kpi.id, scope, s.date_to, ctx.snapshot, s.date_from) if ctx.explainable else None
        target = (
            i18n.t("kpi.target", lang) + " " + i18n.kpi_value(kpi.target, kpi.unit, lang, kpi.decimals)
            if kpi.target is not None
            else ""
        )
        # a yes/no has no "change in points": "−100,0 điểm %" would only restate it
        delta_text = "" if yes_no else i18n.kpi_delta(s.delta, kpi.unit, lang, kpi.decimals)
        delta_class = "delta"
        if s.delta is not None and delta_text and not delta_text.startswith("±"):  # "±0,0": not red
            better = (s.delta > 0) == (kpi.direction == "higher")
            delta_class += " delta-good" if better else " delta-bad"
        shown = i18n.kpi_value(value, kpi.unit, lang, kpi.decimals)
        if yes_no and value is not None:
            shown = i18n.t("common.yes" if value else "common.no", lang)
        children: list[Any] = [
            html.Div(
                [status_light(status, lang), value_button(shown, ref, lang, "tile-value")],
                className="tile-main",
            ),
            html.Div(
                [
                    html.Span(target, className="tile-target"),
                    html.Span(
                        delta_text,
                        className=delta_class,
                        title=i18n.t("kpi.delta_hint", lang),
                    ),
                ],
                className="tile-sub",
            ),
        ]
        if yes_no and value is not None:
            reason = f"yesno.{kpi.id}_{'yes' if value else 'no'}"
            children.append(
                html.Div(
                    i18n.t(reason, lang, date=i18n.format_date(s.date_to, lang))
                    if reason in i18n.catalog(lang)
                    else "",
                    className="tile-reason",
                )
            )
        points = figures.spark_points(s.series, partial_day=ctx.now.date(), grain=series_grain(kpi))
        if spark and len(points) > 1:
            spread = i18n.t(
                "kpi.spark_range", lang, range=figures.spark_range(points, kpi.unit, lang, kpi.decimals)
            )
            line = figures.sparkline(points, ctx.theme, figures.STATUS_COLOURS.get(status), target=kpi.target)
            children += [
                # an image, not a Plotly graph: a first screen of tiles needs none of Plotly's code
                html.Div(
                    html.Img(src=figures.svg_uri(line), alt=spread, className="tile-spark-graph"),
                    className="tile-spark",
                ),
                html.Div(spread, className="tile-range", **attrs({"aria-hidden": "true"})),
            ]
        children.append(
            html.Div(
                [
                    html.Span(
                        i18n.plural("kpi.schools_reporting", int(s.current.schools_reporting or 0), lang)
                    ),
                    html.Span(i18n.ago(s.as_of, ctx.now, lang), className="tile-fresh"),
                ],
                className="tile-foot",
            )
        )
        if value is None:
            return PanelOutput(html.Div(children, className="tile"), "missing", s.as_of)
        stale = is_stale(s.as_of, ctx.now, stale_minutes(panel, kpi))
        return PanelOutput(
            html.Div(children, className=f"tile tile-{status}"), "stale" if stale else "ok", s.as_of
        )
