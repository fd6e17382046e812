"""``/school/<school_id>``: profile, every KPI with its trend, attendance calendar, connectivity
timeline of the last 14 days (speed and outages), latest digital snapshot."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import dash
from dash import html

from ioc import figures, i18n, ids
from ioc.metrics.query import Scope
from ioc.metrics.registry import KPIS
from ioc.pages._common import (
    UrlState,
    breadcrumbs,
    current_metrics,
    frame,
    page_title,
    panel_context,
    t,
    unit_link,
)
from ioc.pages._wall import render_panel
from ioc.panels.base import GridPos, PanelConfig
from ioc.panels.charts import page_graph
from ioc.panels.common import attrs
from ioc.panels.lists import school_days_missed

if TYPE_CHECKING:
    from ioc.metrics import dimensions

PAGE = "school"
dash.register_page(
    __name__, path_template="/school/<school_id>", name="school", title=page_title("page.school")
)

# KPIs that count schools: for one school each is a yes or a no (shown as "Có"/"Không" with the
# reason), never "0 %" or "100 %"
SHARES_OF_SCHOOLS = (
    "reporting_rate",
    "bandwidth_coverage",
    "chronic_absence_risk",
    "schools_offline_now",
    "e_transcript_adoption",
)

DIGITAL_FIELDS = (
    "student_devices",
    "teacher_devices",
    "smart_classrooms",
    "teachers_trained",
    "lms_active_students",
    "e_transcript",
    "cashless_share",
)


def profile_card(info: dimensions.SchoolInfo, versions: int, state: UrlState) -> html.Section:
    lang = state.lang

    def row(key: str, value: Any) -> html.Tr:
        return html.Tr([html.Th(t(key, state)), html.Td(value)])

    coords = (
        f"{i18n.number(info.latitude, lang, 4)}, {i18n.number(info.longitude, lang, 4)}"
        if info.latitude is not None and info.longitude is not None
        else "—"
    )
    return html.Section(
        [
            html.H2(t("school.profile", state)),
            html.Table(
                html.Tbody(
                    [
                        row("school.id", info.school_id),
                        row("school.level", i18n.level_name(info.level, lang)),
                        row("school.ownership", i18n.ownership_name(info.ownership, lang)),
                        row(
                            "school.ward",
                            unit_link(state, info.ward_name, f"/ward/{info.ward_code}"),
                        ),
                        row(
                            "school.district",
                            unit_link(state, info.district_name, f"/district/{info.district_code}"),
                        ),
                        row("school.students", i18n.number(info.students, lang)),
                        row("school.teachers", i18n.number(info.teachers, lang)),
                        row("school.classrooms", i18n.number(info.classrooms, lang)),
                        row("school.coordinates", coords),
                        row("school.active", t("common.yes" if info.active else "common.no", state)),
                        row(
                            "school.versions",
                            t(
                                "school.versions_text",
                                state,
                                n=versions,
                                date=i18n.format_date(info.valid_from, lang),
                            ),
                        ),
                    ]
                ),
                className="kv-table",
            ),
        ],
        className="card profile",
    )


def digital_card(
    snapshot: dict[str, Any] | None, info: dimensions.SchoolInfo, state: UrlState
) -> html.Section:
    lang = state.lang
    if not snapshot:
        return html.Section(
            [html.H2(t("school.digital", state)), html.P(t("panel.missing", state), className="muted")],
            className="card",
        )
    rows = []
    for name in DIGITAL_FIELDS:
        value = snapshot.get(name)
        if name == "e_transcript":
            shown = t("common.yes" if value else "common.no", state)
        elif name == "cashless_share":
            shown = i18n.percent(value, lang)
        else:
            shown = i18n.number(value, lang)
        rows.append(html.Tr([html.Th(t(f"digital.{name}", state)), html.Td(shown)]))
    return html.Section(
        [
            html.H2(t("school.digital", state) + " · " + i18n.format_date(snapshot.get("as_of"), lang)),
            html.Table(html.Tbody(rows), className="kv-table"),
        ],
        className="card",
    )


def silence(state: UrlState, school_id: str) -> str | None:
    """ "Has not reported since 03/12 (latest school day 04/12)" when the school sent no attendance
    on the latest school day (the newest day any school of the city reported, up to the page's
    date; on a Saturday that is Friday, not today), or None when it did."""
    metrics = current_metrics()
    day = metrics.result("attendance_rate", scope=Scope(school=school_id), date_to=state.date_to).date_to
    if day is None:
        return None
    silent = metrics.health("not_reporting", day, Scope(school=school_id))
    if not silent:
        return None
    last = silent[0].get("last_reported")
    if last is None:
        return t("school.never_reported", state, day=i18n.format_date(day, state.lang))
    missed = school_days_missed(last, day) or 0
    return t(
        "school.silent_since",
        state,
        last=i18n.format_date(last, state.lang),
        day=i18n.format_date(day, state.lang),
        missed=i18n.plural("lists.days_missed", missed, state.lang),
    )


def kpi_grid(state: UrlState, school_id: str, silent: str | None = None) -> html.Div:
    """Every KPI's tile for the school; a KPI of attendance that has nothing for the latest school
    day says why (``silent``: the school has not reported since ...)."""
    ctx = replace(panel_context(state, "light"), scope=Scope(school=school_id))
    tiles = []
    for i, kpi in enumerate(KPIS.values()):
        # a "now" KPI (schools offline now) has no meaningful daily trend for one school
        options = (
            (("yes_no", True),)  # a share of schools, for one school: yes or no, and why
            if kpi.id in SHARES_OF_SCHOOLS
            else (("series_days", 30),)
        )
        panel = PanelConfig(id=kpi.id, type="kpi_tile", grid=GridPos(i, 0, 1, 1), kpi=kpi.id, options=options)
        output = render_panel(panel, ctx)
        if silent and output.state == "missing" and "attendance" in kpi.datasets:
            output = replace(output, message=silent)
        tiles.append(frame(panel, kpi.name.get(state.lang), output, state, ctx.now))
    return html.Div(tiles, className="tile-row school-kpis")


def layout(school_id: str | None = None, **params: Any) -> Any:
    state = UrlState.from_params(params)
    metrics = current_metrics()
    sid = school_id or ""
    # None too for a school the caller may not read; the page shows no single probe
    profile = metrics.school(sid, newest_probe=False)
    if profile is None:
        return html.Div(
            [
                breadcrumbs(state, [(school_id or "?", None)]),
                html.H1(t("school.unknown", state, id=school_id)),
            ],
            className="page error-page",
        )
    if state.asof is None:
        metrics.note_opened("school", sid)  # the warmer draws it again after the next data version
    info = profile.info
    lang = state.lang
    calendar = metrics.attendance_calendar(sid, state.date_to, snapshot=state.asof)
    until = None
    if state.date_to is not None:
        until = datetime.combine(state.date_to, datetime.max.time())
    timeline = metrics.connectivity_timeline(sid, 14, until, snapshot=state.asof)
    outage_spans = metrics.outages(timeline)
    outage_text = (
        t(
            "school.outages",
            state,
            outages=i18n.plural("school.outage_count", len(outage_spans), lang),
            hours=i18n.plural(
                "school.outage_hours",
                sum(int((b - a).total_seconds() // 3600) for a, b in outage_spans),
                lang,
            ),
        )
        if timeline
        else t("panel.missing", state)
    )
    silent = silence(state, sid)
    conn_fig = figures.connectivity_timeline(
        [(h.hour, h.median_download, h.offline_share) for h in timeline],
        lang,
        threshold=metrics.bandwidth_threshold(),
    )
    return html.Div(
        [
            breadcrumbs(
                state,
                [
                    (info.district_name, f"/district/{info.district_code}"),
                    (info.ward_name, f"/ward/{info.ward_code}"),
                    (info.school_name, None),
                ],
            ),
            html.Div(
                [
                    html.H1(info.school_name),
                    html.Span(info.school_id, className="muted"),
                    html.Span(silent, className="silent-badge", role="status") if silent else None,
                ],
                className="page-head",
            ),
            html.Div(
                [
                    profile_card(info, len(profile.history), state),
                    digital_card(profile.latest_digital, info, state),
                ],
                className="two-col",
            ),
            html.H2(t("school.kpis", state)),
            kpi_grid(state, info.school_id, silent),
            html.Section(
                [
                    html.H2(t("school.calendar", state)),
                    page_graph(figures.attendance_calendar(calendar, lang), 260, lang=lang)
                    if calendar
                    else html.P(t("panel.missing", state), className="muted"),
                ],
                className="card",
                id=ids.id(PAGE, "calendar"),
            ),
            html.Section(
                [
                    html.H2(t("school.connectivity", state)),
                    html.P(outage_text, className="muted"),
                    page_graph(conn_fig, 300, lang=lang) if timeline else None,
                ],
                className="card",
                id=ids.id(PAGE, "connectivity"),
            ),
        ],
        className="page school-page theme-light",
        **attrs({"data-school": info.school_id}),
    )
