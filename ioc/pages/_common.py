"""What every page shares: the state read from the URL, the filter bar, breadcrumbs, and the frame
around a panel. No SQL here: data comes from the metrics front door (ioc.frontdoor.current_metrics).

The leading underscore keeps Dash's page loader from importing this module as a page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl

import dash
from dash import dcc, html
from dash.exceptions import MissingCallbackContextException
from flask import has_request_context, request

from ioc import clock, i18n, ids
from ioc.auth.web import caller_home
from ioc.frontdoor import current_metrics
from ioc.metrics.query import Scope
from ioc.panels.base import PanelConfig, PanelContext, PanelOutput
from ioc.panels.common import attrs, with_query
from ioc.panels.screens import DEFAULT_SCREEN

LEVELS = ("preschool", "primary", "lower_secondary", "upper_secondary", "continuing", "multi_level")
OWNERSHIPS = ("public", "private")


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class UrlState:
    """Everything a page's URL says besides its path: language, filters, period, "as of", kiosk."""

    lang: str = "vi"
    level: str | None = None
    ownership: str | None = None
    date_to: date | None = None
    asof: int | None = None
    kiosk: bool = False
    theme: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> UrlState:
        level = params.get("level")
        ownership = params.get("ownership")
        return cls(
            lang=i18n.lang_of(params.get("lang")),
            level=level if level in LEVELS else None,
            ownership=ownership if ownership in OWNERSHIPS else None,
            date_to=_date(params.get("to")),
            asof=_int(params.get("asof")),
            kiosk=str(params.get("kiosk", "")) in ("1", "true"),
            theme=params.get("theme") if params.get("theme") in ("dark", "light") else None,
        )

    def scope(self, **units: str | None) -> Scope:
        return Scope(level=self.level, ownership=self.ownership, **units)

    def query(self, **changes: Any) -> dict[str, Any]:
        """The URL parameters of this state (after ``changes``), defaults left out."""
        state = replace(self, **changes)
        return {
            "lang": None if state.lang == "vi" else state.lang,
            "level": state.level,
            "ownership": state.ownership,
            "to": state.date_to.isoformat() if state.date_to else None,
            "asof": state.asof,
            "kiosk": "1" if state.kiosk else None,
            "theme": state.theme,
        }

    def link(self, path: str, **changes: Any) -> str:
        return with_query(path, **self.query(**changes))


def panel_context(state: UrlState, theme: str, **units: str | None) -> PanelContext:
    metrics = current_metrics()
    now = clock.now()
    if state.asof is not None:
        moment = metrics.snapshot_time(state.asof)
        if moment is not None:
            now = moment.astimezone(now.tzinfo) if moment.tzinfo else moment.replace(tzinfo=now.tzinfo)
    return PanelContext(
        metrics=metrics,
        lang=state.lang,
        theme=theme,
        now=now,
        snapshot=state.asof,
        scope=state.scope(**units),
        date_to=state.date_to,
        kiosk=state.kiosk,
    )


def grid_locale(lang: str) -> dict[str, str]:
    """AG Grid's own words (pager, filters) in the page's language."""
    return {key: i18n.t(f"grid.{key}", lang) for key in GRID_WORDS}


GRID_WORDS = (
    "page",
    "of",
    "to",
    "pageSizeSelectorLabel",
    "ariaPageSizeSelectorLabel",
    "noRowsToShow",
    "contains",
    "equals",
    "filterOoo",
    "firstPage",
    "lastPage",
    "nextPage",
    "previousPage",
)


# an auto-height AG Grid (ag-theme-alpine) is its header, its rows (at least 150 px of them) and,
# when it pages, the paging bar (measured in Chromium)
GRID_HEADER_PX, GRID_ROW_PX, GRID_MIN_ROWS_PX, GRID_PAGING_PX = 48, 42, 150, 45


def grid_style(rows: int, page_size: int | None = None) -> dict[str, str]:
    """The style of an auto-height grid that holds its height from the first paint: until AG Grid's
    code has loaded the grid is an empty box, and what is below it would jump when it is drawn."""
    pages = page_size is not None and rows > page_size
    shown = min(rows, page_size) if page_size else rows
    height = GRID_HEADER_PX + max(shown * GRID_ROW_PX, GRID_MIN_ROWS_PX) + (GRID_PAGING_PX if pages else 0)
    return {"width": "100%", "minHeight": f"{height}px"}


def page_title(key: str) -> Callable[..., str]:
    """A page's ``title`` for ``dash.register_page``: the browser tab says the page in the reader's
    language ("IOC · Chất lượng dữ liệu"). Dash calls it with the path's variables only, so the
    language comes from the query of the request: the page callback's ``search`` input, or the
    address of a first load."""

    def title(**_path: Any) -> str:
        try:
            inputs = dash.ctx.inputs  # the page callback's: its search is the address's query
        except (LookupError, MissingCallbackContextException):  # a first load: the request's address
            inputs = None
        if inputs:
            search = str(inputs.get("_pages_location.search") or "")
        elif has_request_context():
            search = request.query_string.decode("utf-8", "replace")
        else:
            search = ""
        lang = i18n.lang_of(dict(parse_qsl(search.lstrip("?"))).get("lang"))
        return i18n.t("page.title", lang, page=i18n.t(key, lang))

    return title


def t(key: str, state: UrlState, **values: Any) -> str:
    return i18n.t(key, state.lang, **values)


def home_path() -> str:
    """Where "/" leads the caller, as the guard answers it: a district officer's own unit page, the
    city wall for everybody else. Links labelled home or city go there: Dash's links change pages
    in the browser without passing the guard, so a link to "/" drew the city wall for an officer."""
    return caller_home() if has_request_context() else "/"


def screen_path(name: str) -> str:
    """A wall screen's path: "/" for the default screen where "/" is the wall for the caller, its
    own URL (/screen/control_room) for those whose "/" leads home."""
    return "/" if name == DEFAULT_SCREEN and home_path() == "/" else f"/screen/{name}"


def opens(path: str) -> bool:
    """Whether the caller may open the unit page ``path`` (``/district/<code>``, ``/ward/<code>``;
    any other page: yes): a link the caller would only meet a refusal behind is not drawn (a
    principal's school page names its ward and district, whose pages are not theirs)."""
    kind, _, code = path.lstrip("/").partition("/")
    if kind not in ("district", "ward") or not code:
        return True
    return current_metrics().allows(kind, code)


def unit_link(state: UrlState, label: str, path: str, class_name: str | None = None) -> Any:
    """A link to the unit page ``path``, or its label alone when the caller may not open it."""
    if not opens(path):
        return html.Span(label, className=class_name)
    return dcc.Link(label, href=state.link(path), className=class_name)


def breadcrumbs(state: UrlState, trail: list[tuple[str, str | None]]) -> html.Nav:
    """City > district > ward > school; the last crumb is the current page (no link). The city
    crumb leads where "/" leads the caller (home_path); a unit the caller may not open is named,
    not linked."""
    items: list[Any] = []
    crumbs = [(t("nav.city", state), home_path()), *trail]
    for i, (label, path) in enumerate(crumbs):
        if i:
            items.append(html.Span("›", className="crumb-sep"))
        last = i == len(crumbs) - 1
        items.append(
            html.Span(label, className="crumb current")
            if last or path is None
            else unit_link(state, label, path, "crumb")
        )
    return html.Nav(items, className="breadcrumbs", **attrs({"aria-label": t("nav.breadcrumbs", state)}))


def filter_bar(page: str, state: UrlState, snapshots: list[Any]) -> html.Div:
    """Level, ownership, period end ('to') and "as of" pickers; a callback writes them to the URL."""
    lang = state.lang
    return html.Div(
        [
            html.Label(
                [
                    t("filter.level", state),
                    dcc.Dropdown(
                        id=ids.id(page, "level"),
                        value=state.level,
                        clearable=True,
                        placeholder=t("filter.all", state),
                        options=[{"label": i18n.level_name(lv, lang), "value": lv} for lv in LEVELS],
                    ),
                ]
            ),
            html.Label(
                [
                    t("filter.ownership", state),
                    dcc.Dropdown(
                        id=ids.id(page, "ownership"),
                        value=state.ownership,
                        clearable=True,
                        placeholder=t("filter.all", state),
                        options=[{"label": i18n.ownership_name(o, lang), "value": o} for o in OWNERSHIPS],
                    ),
                ]
            ),
            html.Label(
                [
                    t("filter.to", state),
                    dcc.DatePickerSingle(
                        id=ids.id(page, "to"),
                        date=state.date_to.isoformat() if state.date_to else None,
                        clearable=True,
                        display_format="DD/MM/YYYY" if lang == "vi" else "YYYY-MM-DD",
                        placeholder=t("filter.latest", state),
                    ),
                ]
            ),
            html.Label(
                [
                    t("filter.asof", state),
                    dcc.Dropdown(
                        id=ids.id(page, "asof"),
                        value=state.asof,
                        clearable=True,
                        placeholder=t("filter.now", state),
                        options=[
                            {
                                "label": f"{i18n.format_datetime(s.time, lang)} (v{s.version})",
                                "value": s.version,
                            }
                            for s in snapshots
                        ],
                    ),
                ]
            ),
        ],
        className="filter-bar",
    )


def filters_to_search(
    state: UrlState, level: str | None, ownership: str | None, to: str | None, asof: int | None
) -> str:
    """The query string after the filter bar changed (kept as a pure function for tests)."""
    changed = replace(
        state, level=level or None, ownership=ownership or None, date_to=_date(to), asof=_int(asof)
    )
    link = changed.link("")
    return link[link.index("?") :] if "?" in link else ""


# The banners' signs are drawn by CSS around a letter every font has (.banner-icon): the symbols
# once used ("ⓘ") are missing from the fonts of many machines and showed as an empty box.
BANNER_ICONS = {"stale": "!", "missing": "i", "error": "×"}


def panel_banner(kind: str, text: str) -> html.Div:
    """A panel's warning line: stale (amber), missing (grey) or error (red), with its sign."""
    return html.Div(
        [
            html.Span(BANNER_ICONS[kind], className="banner-icon", **attrs({"aria-hidden": "true"})),
            html.Span(text, className="banner-text"),
        ],
        className=f"panel-banner banner-{kind}",
        role="alert" if kind == "error" else "status",
    )


def frame(
    panel: PanelConfig, title: str, output: PanelOutput, state: UrlState, now: datetime, body_id: Any = None
) -> html.Section:
    """The frame around a panel's body, with a warning banner when its data is stale/missing/failing."""
    banner = None
    if output.state == "stale":
        banner = panel_banner(
            "stale",
            t(
                "panel.stale",
                state,
                when=i18n.format_datetime(output.as_of, state.lang),
                ago=i18n.ago(output.as_of, now, state.lang),
            ),
        )
    elif output.state == "missing":
        # a panel may say why it has nothing (a school that has not reported since a date)
        banner = panel_banner("missing", output.message or t("panel.missing", state))
    elif output.state == "error":
        banner = panel_banner("error", t("panel.error", state, reason=output.message))
    elif output.message:
        banner = panel_banner("stale", output.message)
    return html.Section(
        [
            html.H2(title, className="panel-title"),
            banner,
            html.Div(output.body, className="panel-body", id=body_id)
            if body_id is not None
            else html.Div(output.body, className="panel-body"),
        ],
        className=f"panel panel-{panel.type} state-{output.state}",
        **attrs({"data-state": output.state, "data-panel": panel.id}),
    )
