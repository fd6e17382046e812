"""The control-room wall: one screen file drawn as a grid of panels, refreshed on an interval,
rotating through the playlist in kiosk mode. Used by the pages ``/`` and ``/screen/<name>``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

from dash import Input, Output, State, callback, dcc, html, no_update
from dash._pages import _parse_query_string

from ioc import clock, i18n, ids, settings
from ioc.auth.web import refuse_drawing, screen_refusal
from ioc.frontdoor import require_units
from ioc.metrics.registry import get_kpi
from ioc.pages._common import UrlState, current_metrics, frame, panel_context, screen_path, t
from ioc.panels import load_plugins
from ioc.panels.base import PanelConfig, PanelContext, PanelOutput
from ioc.panels.common import attrs
from ioc.panels.screens import DEFAULT_SCREEN, Screen, ScreenConfigError, load_screens, playlist

log = logging.getLogger(__name__)
PAGE = "wall"
ROTATE_BOUNDS = (10, 3600)  # seconds a kiosk shows a screen: never a request storm, never stuck for hours


def scope_names(m: Any, limit: int = 3) -> str | None:
    """The units a restricted caller's wall covers, by name ('Quận 3', or 'Quận 1, Quận 3 +2'), or
    None for a caller who sees the whole city: the wall's titles ('Citywide overview', 'Wards with
    the lowest attendance') then describe only these units, and the header says so."""
    access = m.access
    if not access.restricted:
        return None
    names = [u.name for u in m.districts() if u.code in access.codes("district")]
    names += [u.name for u in m.wards() if u.code in access.codes("ward")]
    if access.codes("school"):
        names += [s.school_name for s in m.schools() if s.school_id in access.codes("school")]
    shown = ", ".join(names[:limit]) or "-"
    return shown if len(names) <= limit else f"{shown} +{len(names) - limit}"


def rotate_seconds(value: Any) -> tuple[int, bool]:
    """(seconds per screen, whether ``value`` was ignored or bounded): ``?rotate=`` within
    ROTATE_BOUNDS; a value that is not a finite number gives the rotate_seconds setting."""
    default = min(max(int(settings.get("rotate_seconds")), ROTATE_BOUNDS[0]), ROTATE_BOUNDS[1])
    if value is None or value == "":
        return default, False
    try:
        seconds = float(str(value))
    except ValueError:
        return default, True
    if not math.isfinite(seconds):
        return default, True
    bounded = min(max(seconds, ROTATE_BOUNDS[0]), ROTATE_BOUNDS[1])
    return round(bounded), bounded != seconds


def panel_title(panel: PanelConfig, lang: str) -> str:
    if panel.title is not None:
        return panel.title.get(lang)
    if panel.kpi:
        return get_kpi(panel.kpi).name.get(lang)
    return i18n.t(f"panel.{panel.type}", lang)


def render_panel(panel: PanelConfig, ctx: PanelContext) -> PanelOutput:
    """The panel's output; an exception becomes an 'error' output so the panel never goes blank."""
    try:
        return load_plugins()[panel.type].render(panel, ctx)
    except Exception as error:  # noqa: BLE001 - any failure must show in place, not break the wall
        log.exception("panel %s (%s) failed", panel.id, panel.type)
        reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
        return PanelOutput(html.Div(className="panel-graph"), "error", None, reason)


def grid(screen: Screen, state: UrlState, theme: str) -> list[Any]:
    ctx = replace(panel_context(state, theme), grid_rows=screen.rows)
    out = []
    for panel in screen.panels:
        g = panel.grid
        output = render_panel(panel, ctx)
        title = output.title if panel.title is None and output.title else panel_title(panel, state.lang)
        section = frame(panel, title, output, state, ctx.now)
        section.style = {"gridColumn": f"{g.x + 1} / span {g.w}", "gridRow": f"{g.y + 1} / span {g.h}"}  # type: ignore[attr-defined]
        out.append(section)
    return out


def wall_layout(name: str | None, params: dict[str, Any]) -> Any:
    state = UrlState.from_params(params)
    theme = state.theme or "dark"
    try:
        screens = load_screens()
        order = current_metrics().screens(playlist(screens))  # a kiosk rotates through its own screens only
    except ScreenConfigError as error:
        return html.Div(
            [html.H1(t("wall.config_error", state)), html.Pre(str(error))], className="page error-page"
        )
    name = name or DEFAULT_SCREEN
    if name not in screens:
        return html.Div(
            [
                html.H1(t("wall.unknown_screen", state, name=name)),
                html.Ul(
                    [
                        html.Li(dcc.Link(s.title.get(state.lang), href=state.link(f"/screen/{n}")))
                        for n, s in screens.items()
                    ]
                ),
            ],
            className="page error-page",
        )
    reason = screen_refusal(current_metrics().access, [name])
    if reason:
        refuse_drawing(reason)  # the guard refused it already; this is the second lock
    screen = screens[name]
    refresh = int(screen.refresh_seconds or settings.get("refresh_seconds"))
    rotate, rotate_ignored = rotate_seconds(params.get("rotate"))
    if rotate_ignored:
        log.info("rotate=%r ignored or bounded: %s s per screen", params.get("rotate"), rotate)
    tabs = (
        None
        if state.kiosk
        else html.Div(
            [
                dcc.Link(
                    s.title.get(state.lang),
                    href=state.link(screen_path(n)),
                    className="screen-tab" + (" active" if n == name else ""),
                )
                for n, s in screens.items()
                if current_metrics().allows_screen(n)  # a wall device's tabs: its own screens
            ],
            className="screen-tabs",
        )
    )
    now = panel_context(state, theme).now
    scope = scope_names(current_metrics())
    return html.Div(
        [
            html.Div(
                [
                    html.H1(screen.title.get(state.lang), className="wall-title"),
                    html.Span(
                        i18n.format_datetime(now, state.lang),
                        className="wall-clock",
                        id=ids.id(PAGE, "clock"),
                    ),
                    html.Span(
                        refreshed_text(state), className="wall-refreshed", id=ids.id(PAGE, "refreshed")
                    ),
                    html.Span(
                        t("wall.scope", state, units=scope),
                        className="wall-asof wall-note",  # the amber pill: not the whole city
                        id=ids.id(PAGE, "scope"),
                    )
                    if scope
                    else None,
                    html.Span(t("wall.asof", state, version=state.asof), className="wall-asof")
                    if state.asof
                    else None,
                    html.Span(
                        t(
                            "wall.rotate_ignored",
                            state,
                            value=str(params.get("rotate"))[:40],
                            low=ROTATE_BOUNDS[0],
                            high=ROTATE_BOUNDS[1],
                            seconds=rotate,
                        ),
                        className="wall-asof wall-note",  # the same amber pill as "data as of"
                        id=ids.id(PAGE, "rotate-note"),
                    )
                    if rotate_ignored
                    else None,
                    tabs,
                ],
                className="wall-head",
            ),
            html.Div(
                grid(screen, state, theme),
                id=ids.id(PAGE, "grid"),
                className="wall-grid",
                style={
                    "gridTemplateColumns": f"repeat({screen.columns}, minmax(0, 1fr))",
                    "gridTemplateRows": f"repeat({screen.rows}, minmax(0, 1fr))",
                },
            ),
            dcc.Store(id=ids.id(PAGE, "screen"), data={"name": name, "playlist": order}),
            dcc.Interval(id=ids.id(PAGE, "refresh"), interval=refresh * 1000),
            dcc.Interval(
                id=ids.id(PAGE, "rotate"), interval=rotate * 1000, disabled=not state.kiosk or len(order) < 2
            ),
            dcc.Location(id=ids.id(PAGE, "go"), refresh="callback-nav"),
        ],
        className=f"page wall theme-{theme}"
        + (" kiosk" if state.kiosk else "")
        + f" density-{screen.density}",
        # assets/fit.js: a list longer than its panel shows what fits and says how many it hides
        **attrs({"data-screen": name, "data-fit-more": t("wall.fit_more", state)}),
    )


def refreshed_text(state: UrlState) -> str:
    """When the panels were last drawn (wall time, to the second): proof the wall is alive."""
    return t("wall.refreshed", state, time=clock.now().strftime("%H:%M:%S"))


def refresh_grid(_n: int | None, screen: dict[str, Any] | None, search: str | None) -> Any:
    """Redraw the panels with fresh data (same components, so the browser updates them in place)."""
    if not screen:
        return no_update
    reason = screen_refusal(current_metrics().access, [screen.get("name")])
    if reason:
        refuse_drawing(reason)  # the guard refused it already; this is the second lock
    params = _parse_query_string(search or "")
    state = UrlState.from_params(params)
    require_units([], [state.asof])  # the data version is the browser's; the wall names no unit
    screens = load_screens()
    if screen["name"] not in screens:
        return no_update
    now = panel_context(state, state.theme or "dark").now
    return (
        grid(screens[screen["name"]], state, state.theme or "dark"),
        i18n.format_datetime(now, state.lang),
        refreshed_text(state),
    )


def next_screen(_n: int | None, screen: dict[str, Any] | None, search: str | None) -> Any:
    """The URL of the next screen of the playlist (kiosk rotation), query string kept."""
    if not screen or not screen.get("playlist"):
        return no_update
    order = current_metrics().screens([n for n in screen["playlist"] if isinstance(n, str)])
    if not order:
        return no_update
    i = order.index(screen["name"]) if screen["name"] in order else -1
    following = order[(i + 1) % len(order)]
    return screen_path(following) + (search or "")


def register_callbacks() -> None:
    """Register the wall's callbacks (called by the page module ``control_room``, once per app)."""
    callback(
        Output(ids.id(PAGE, "grid"), "children"),
        Output(ids.id(PAGE, "clock"), "children"),
        Output(ids.id(PAGE, "refreshed"), "children"),
        Input(ids.id(PAGE, "refresh"), "n_intervals"),
        State(ids.id(PAGE, "screen"), "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(refresh_grid)
    callback(
        Output(ids.id(PAGE, "go"), "href"),
        Input(ids.id(PAGE, "rotate"), "n_intervals"),
        State(ids.id(PAGE, "screen"), "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(next_screen)
