"""The Dash app: control room, drill-down, school pages, explore, data health, KPI definitions.

:func:`create_app` builds one app around one store. The store and the cache hang off the Flask
server (``server.extensions``), never off module globals, so several worker processes (gunicorn)
behave like one: all state is in the URL, the store or the cache.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dash
from dash import ALL, Input, Output, State, callback_context, ctx, dcc, html, no_update
from dash._pages import _parse_query_string
from dash.exceptions import MissingCallbackContextException
from prometheus_client import Counter

from ioc import exports, i18n, ids, observability, settings
from ioc.access import EVERYTHING, AccessScope
from ioc.api import register_api
from ioc.auth import web as auth_web
from ioc.auth.web import install as install_auth
from ioc.delivery import App, install_caching, install_compression
from ioc.explain import explanation, require_question
from ioc.frontdoor import STORE_KEY, require_url, use_metrics
from ioc.metrics.cache import (
    WARM_ROUNDS,
    WARM_SECONDS,
    claim_warm,
    init_cache,
    mark_warmed,
    recently_opened,
    warming,
)
from ioc.metrics.errors import QueryError
from ioc.metrics.front import Metrics
from ioc.pages import _unit
from ioc.pages._common import UrlState, screen_path
from ioc.pages._wall import grid
from ioc.panels.common import attrs, parse_explain_ref, with_query
from ioc.panels.screens import DEFAULT_SCREEN, load_screens
from ioc.pending import open_store_or_pending
from ioc.store import one_version, pin_versions, unpin_versions
from ioc.visitors import VISITORS_KEY, Visitors, node_share

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent
ASSETS = ROOT.parent / "assets"


def create_app(data_dir: str | Path | None = None, *, store: Any = None) -> dash.Dash:
    """A Dash app serving ``store`` (or the store in ``data_dir`` / IOC_DATA_DIR)."""
    if store is None:  # a catalog that does not answer yet: 503s until it does (ioc.pending)
        store = open_store_or_pending(data_dir)
    app = App(
        "ioc",
        use_pages=True,
        pages_folder=str(ROOT / "pages"),
        assets_folder=str(ASSETS),
        title="IOC Giáo dục TP.HCM",
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # no "Updating..." flicker in the tab title on every refresh
    )
    server = app.server
    server.extensions[STORE_KEY] = store
    # the requests being answered, which the cache warmer gives way to (start_warmer)
    # (under gunicorn: of every worker of the node, whose cores they share)
    visitors = server.extensions[VISITORS_KEY] = Visitors(node=node_share())
    server.wsgi_app = visitors.middleware(server.wsgi_app)  # type: ignore[method-assign]
    install_compression(server)  # brotli/gzip for JS, CSS, JSON, HTML (ioc.delivery)
    install_caching(app)  # year-long Cache-Control for versioned bundles and assets (ioc.delivery)
    # one data version per request: every answer of a page is of the same data, and the catalog
    # is asked once per request instead of once per answer (Store.data_version)
    server.before_request(pin_versions)
    server.teardown_request(lambda _error: unpin_versions())
    init_cache(server)
    register_api(server, lambda: store)
    exports.register_routes(server)
    observability.register(server, lambda: store)  # /healthz, /readyz, /metrics, request timing
    install_auth(app, store.layout.root, store_factory=lambda: store)  # sign-in, scoping, headers (ioc/auth)
    app.layout = shell
    for page in dash.page_registry.values():
        guard_layout(page)
    app.callback(
        Output(ids.HEADER, "children"),
        Output(ids.HEADER, "className"),
        Input(ids.URL, "pathname"),
        Input(ids.URL, "search"),
    )(header)
    app.callback(
        Output(ids.EXPLAIN_BOX, "className"),
        Output(ids.EXPLAIN_BODY, "children"),
        Input(ids.explain(ALL), "n_clicks"),
        Input(ids.EXPLAIN_CLOSE, "n_clicks"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(explain)
    app.callback(
        Output(ids.NAVIGATE, "href"),
        Input({"type": "drill-graph", "index": ALL}, "clickData"),
        prevent_initial_call=True,
    )(drill)
    return app


ROUTER_PATHNAME = "_pages_location.pathname"  # the input of Dash's page router naming the path


def guard_layout(page: dict[str, Any]) -> None:
    """Make ``page``'s layout receive its path variables only, and only what its caller may see.

    Dash's router calls ``layout(**path_variables, **query_parameters)``, so ``?school_id=`` would
    replace the school of ``/school/<school_id>``. The wrapped layout takes the path variables from
    the router's pathname (read the way Dash reads it) and drops query keys of the same names; then
    the arguments it will draw with are judged by the guard's rules (ioc.auth.web.drawing_refusal)
    once more, and a refusal is a 403 with an audit row. Called directly (not by the router: the
    warmer, tests), the layout gets its arguments as given. A query key given twice counts once
    (its first value). Wrapped once per process (the page registry is Dash's, shared by every app of
    the process).
    """
    layout = page.get("layout")
    if not callable(layout) or getattr(layout, "ioc_guarded", False):
        return
    names = auth_web.template_names(page)

    @functools.wraps(layout)
    def guarded(**params: Any) -> Any:
        try:
            pathname = callback_context.inputs.get(ROUTER_PATHNAME)
        except MissingCallbackContextException:
            return layout(**params)
        if not isinstance(pathname, str):
            return layout(**params)
        _, variables, _ = auth_web.route(pathname)
        # a repeated query key (Dash passes a list) counts once, as Flask's args.get reads it; the
        # guard has judged every one of its values
        args = {k: v[0] if isinstance(v, list) and v else v for k, v in params.items() if k not in names}
        args.update({k: v for k, v in variables.items() if k in names})
        reason = auth_web.drawing_refusal(page, args)
        if reason:
            auth_web.refuse_drawing(reason)
        try:
            return layout(**args)
        except QueryError as error:  # a parameter of the URL the page could not use: say which
            return bad_parameter_page(error, args)

    guarded.ioc_guarded = True  # type: ignore[attr-defined]
    page["layout"] = guarded


def bad_parameter_page(error: QueryError, args: dict[str, Any]) -> html.Div:
    """What a page shows instead of a server error when a URL parameter cannot be used (a data
    version that does not exist, a date out of range): the parameter and why."""
    state = UrlState.from_params({"lang": args.get("lang")})
    return html.Div(
        [
            html.H1(i18n.t("page.bad_parameter", state.lang, param=error.param)),
            html.P(error.message, className="muted"),
            dcc.Link(i18n.t("nav.control_room", state.lang), href=state.link(screen_path(DEFAULT_SCREEN))),
        ],
        className="page error-page",
        **attrs({"data-param": error.param}),
    )


def warm_units(
    app: dash.Dash,
    store: Any,
    version: int,
    stop: threading.Event | None = None,
    pause: Callable[[], object] | None = None,
) -> int | None:
    """Draw the page of every school opened in the last half hour (ioc.metrics.cache.recently_opened),
    the most recent first (none opened: one school's, for the city's answers by school every school
    page cuts its tiles from); then every district's page, then every ward's, once each (those
    opened in the last half hour first), as the district officer of that district sees it: the tiles, the ranking of its children, the trends.
    Answers about a unit the officer may wholly read are shared with everybody
    (ioc.metrics.cache.widest_access), so this also warms leadership's and other officers' pages
    of those units; a school's answers are everybody's, so school pages are drawn unrestricted.
    Before each page, and within it before each answer not cached yet, ``pause()`` is called
    (start_warmer's waits for the worker's visitors to be served; without it a short sleep between
    pages). Returns how many pages were drawn, or None when a new data
    version (or ``stop``) came first: the next round starts over.
    """
    # a page module registers itself with Dash when imported: only once the app exists
    from ioc.pages import school as school_page

    city = Metrics(store, EVERYTHING)
    with app.server.test_request_context("/"):
        # schools first: their answers are their own (a district or ward page after a probe load
        # is mostly cut from the city's answers the wall has just computed), and somebody who
        # opened one in the last half hour is likely to open it again
        opened = recently_opened(store, "school")
        if not opened:
            # a school page's tiles are cut from the city's answers by school (ioc.metrics.slices),
            # the costliest part of the first school page drawn after a start or a probe load
            # (2-9 s): one school's page computes them for every school's first visitor
            opened = [s.school_id for s in city.schools() if s.active][:1]
        pages: list[tuple[str, str, AccessScope]] = [("school", code, EVERYTHING) for code in opened]
        # the districts and wards opened lately first (most recent first), then the others
        districts = _opened_first([u for u in city.districts() if u.code], recently_opened(store, "district"))
        wards = _opened_first([u for u in city.wards() if u.code], recently_opened(store, "ward"))
        pages += [("district", u.code, AccessScope.limited([u.code])) for u in districts]
        pages += [
            ("ward", u.code, AccessScope.limited([u.parent_code]) if u.parent_code else EVERYTHING)
            for u in wards
        ]
    drawn = 0
    for kind, code, officer in pages:
        if pause is None:
            time.sleep(UNIT_PAUSE)  # let the requests being served have the interpreter in between
        else:
            pause()
        if (stop is not None and stop.is_set()) or store.data_version() != version:
            return None
        with app.server.test_request_context(f"/{kind}/{code}"), warming(pause), one_version():
            use_metrics(Metrics(store, officer))  # the page as the officer of its district sees it
            if kind == "school":
                school_page.layout(code)
            else:
                _unit.unit_layout(kind, kind, code, {})
        drawn += 1
    return drawn


def _opened_first(units: list[Any], opened: list[str]) -> list[Any]:
    """``units`` with those whose code is in ``opened`` first, in its order; the others after them
    in their own order."""
    rank = {code: i for i, code in enumerate(opened)}
    return sorted(units, key=lambda u: rank.get(u.code, len(rank)))


UNIT_PAUSE = 0.05  # seconds between two pages of the warmer without visitors to wait for
VERSION_POLL = 1.0  # seconds between two looks of the warmer at the data version


WARM_YIELD_SECONDS = Counter(
    "ioc_cache_warm_yield_seconds",
    "Seconds the cache warmer waited for the node's requests to be answered (at most "
    "IOC_CACHE_WARM_YIELD_SECONDS per data version)",
)


class GiveWay:
    """One warm-up round's waits for the people a node serves: each call blocks until none of the
    requests of the node's workers is in flight and the grace after the last one has passed
    (Visitors.wait_idle),
    until the round has waited ``budget`` seconds in all (IOC_CACHE_WARM_YIELD_SECONDS); after that
    it no longer waits, so a worker that is never idle is still warmed, at most that much later.
    The warmer looks before each page and wall screen, and within them before each answer it
    computes (ioc.metrics.cache.warming): one answer being computed is not interrupted."""

    def __init__(self, visitors: Visitors, budget: float, stop: threading.Event | None = None) -> None:
        self.visitors = visitors
        self.budget = budget
        self.stop = stop
        self.waited = 0.0  # seconds this round has waited so far
        self.waits = 0  # how many times it waited

    def __call__(self) -> float:
        """Wait for the visitors (within what is left of the budget); seconds waited."""
        left = self.budget - self.waited
        if left <= 0:
            return 0.0
        waited = self.visitors.wait_idle(left, self.stop)
        if waited > 0:
            self.waited += waited
            self.waits += 1
            WARM_YIELD_SECONDS.inc(waited)
        return waited


def _lower_priority() -> None:
    """Give the calling thread (only) the lowest CPU priority, where the OS allows it."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: the pauses still yield
        pass


def start_warmer(app: dash.Dash, interval: float | None = None) -> threading.Thread:
    """Keep what is opened most in the cache: after every new data version, in the background,
    draw every wall screen once, then the school pages opened in the last half hour, then every
    district page and every ward page as the district's officer sees it (warm_units), so the wall's
    refresh callbacks and the first officer (or leader) opening a district, a ward or a school
    they follow find the answers computed.

    The thread runs at the lowest CPU priority and gives way to the node's visitors: before each
    page, each wall screen and each answer it computes, it waits until none of the requests of the
    node's workers is in flight and a second has passed since the last one ended (their browsers are still drawing), for at most
    IOC_CACHE_WARM_YIELD_SECONDS per round in all (GiveWay). A new data version arriving during a
    round ends it and starts the next. With Redis one worker of all nodes
    warms each version (claim_warm) and the others find the answers there. Started by ``ioc serve``
    and the WSGI entry point (one thread per process), not by create_app, so tests and scripts stay
    single-threaded.
    """
    store = app.server.extensions[STORE_KEY]
    visitors: Visitors = app.server.extensions[VISITORS_KEY]
    budget = float(settings.get("cache_warm_yield_seconds"))
    # how often the data version is looked at (a stat or one indexed query): a probe load is
    # warmed for within about a second, before most officers ask for its answers
    pause = float(interval if interval is not None else VERSION_POLL)

    stop = threading.Event()
    outage = observability.Outage(lambda: store)  # is a failure the store being down?

    def loop() -> None:
        _lower_priority()
        seen: int | None = None
        down: float | None = None  # since when the store has not answered the warmer
        while not stop.is_set():
            try:
                version = store.data_version()
                if down is not None:
                    log.info(
                        "the cache warmer goes on after %.0f s without the store", time.monotonic() - down
                    )
                    down = None
                if version != seen and not claim_warm(store, version):
                    seen = version  # another worker (with Redis: of any node) warms this version
                elif version != seen:
                    give_way = GiveWay(visitors, budget, stop)
                    started = time.perf_counter()
                    with app.server.test_request_context("/"), warming(give_way):
                        for screen in load_screens().values():
                            give_way()
                            grid(screen, UrlState(), "dark")
                    wall = time.perf_counter() - started
                    drawn = warm_units(app, store, version, stop, give_way)
                    seen = version
                    WARM_ROUNDS.labels("stopped" if drawn is None else "complete").inc()
                    if drawn is not None:
                        mark_warmed(store, version)  # no answer older than this version is served now
                        WARM_SECONDS.observe(time.perf_counter() - started)
                    log.info(
                        "cache warmed for data version %s in %.1fs (wall %.1fs, district and ward pages: %s;"
                        " gave way to visitors %.1fs, %d time%s)",
                        version,
                        time.perf_counter() - started,
                        wall,
                        "stopped by a newer version" if drawn is None else drawn,
                        give_way.waited,
                        give_way.waits,
                        "" if give_way.waits == 1 else "s",
                    )
            except Exception as error:  # noqa: BLE001 - a failed warm-up must not stop the next one
                reason = outage.reason(error)
                if reason is None:
                    log.exception("warming the cache failed")
                elif down is None:  # an outage: one line when it starts, one when it ends
                    down = time.monotonic()
                    log.warning("the cache warmer waits for the store (%s)", reason)
            stop.wait(pause)

    thread = threading.Thread(target=loop, name="ioc-cache-warmer", daemon=True)
    thread.start()

    def finish() -> None:
        # let a warm-up in progress end its query: a daemon thread killed inside DuckDB aborts the process
        stop.set()
        thread.join(timeout=30)

    atexit.register(finish)
    return thread


def shell() -> html.Div:
    """The frame of every page: header (hidden in kiosk mode), the page, the explain box."""
    return html.Div(
        [
            dcc.Location(id=ids.URL),
            dcc.Location(id=ids.NAVIGATE, refresh="callback-nav"),
            html.Header(id=ids.HEADER, className="app-header"),
            html.Main(dash.page_container, className="app-main"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Button(
                                "×",
                                id=ids.EXPLAIN_CLOSE,
                                className="explain-close",
                                n_clicks=0,
                                **attrs({"aria-label": "close"}),
                            ),
                            html.Div(id=ids.EXPLAIN_BODY),
                        ],
                        className="explain-card",
                        role="dialog",
                    ),
                ],
                id=ids.EXPLAIN_BOX,
                className="explain hidden",
            ),
        ],
        className="app",
    )


def _params(search: str | None) -> dict[str, Any]:
    return _parse_query_string(search or "")


NAV = (
    ("nav.control_room", "/"),
    ("nav.explore", "/explore"),
    ("nav.data_health", "/data-health"),
    ("nav.alerts", "/alerts"),
    ("nav.kpis", "/kpi"),
)


WALL_URL = f"/screen/{DEFAULT_SCREEN}"  # the wall's own URL, for those whose "/" leads elsewhere


def header(pathname: str | None, search: str | None) -> tuple[Any, str]:
    """Navigation and the language switch; hidden entirely in kiosk mode."""
    params = _params(search)
    state = UrlState.from_params(params)
    if state.kiosk:
        return [], "app-header hidden"
    path = pathname or "/"
    other = "en" if state.lang == "vi" else "vi"
    switched = dict(params, lang=other)
    home = auth_web.caller_home()  # a district officer's unit page; the wall for everybody else
    # with a home of their own, the wall is reached by its screen URL (/ leads home)
    nav = [(key, WALL_URL if href == "/" and home != "/" else href) for key, href in NAV]
    links = [
        dcc.Link(
            i18n.t(key, state.lang),
            href=state.link(href),
            className="nav-link"
            + (" active" if (path == href or href != "/" and path.startswith(href)) else ""),
        )
        for key, href in nav
    ]
    who = auth_web.current_principal()
    account = (
        [
            html.A(
                ("Đăng xuất" if state.lang == "vi" else "Sign out") + f" ({who.name})",
                href="/logout" + ("?lang=en" if state.lang == "en" else ""),
                className="nav-link sign-out",
            )
        ]
        if who is not None and who.kind == "user"
        else []
    )
    return [
        dcc.Link(i18n.t("app.name", state.lang), href=state.link(home), className="brand"),
        html.Nav([*links, *account], className="nav"),
        dcc.Link(
            i18n.t("app.switch_lang", state.lang),
            href=with_query(path, **switched),
            className="lang-switch",
            id="app-lang",
            refresh=True,
        ),
    ], "app-header"


def explain(_clicks: list[int | None], _close: int | None, search: str | None) -> Any:
    """Open the "what is this number?" box for the clicked value (or close it)."""
    trigger = ctx.triggered_id
    if trigger == ids.EXPLAIN_CLOSE or trigger is None:
        return "explain hidden", no_update
    if not any(t.get("value") for t in ctx.triggered):
        return no_update, no_update  # new numbers appeared on the page: not a click
    lang = UrlState.from_params(_params(search)).lang
    try:
        question = parse_explain_ref(trigger["index"])
    except ValueError:  # a crafted button: its question is not one the pages make
        return no_update, no_update
    require_question(question)
    return "explain", explanation(trigger["index"], lang)


def drill(click_data: list[dict[str, Any] | None]) -> Any:
    """A click on a map area, bar or point whose customdata is a link: go there."""
    trigger = ctx.triggered_id
    if trigger is None:
        return no_update
    for item in ctx.triggered:
        data = item.get("value") or {}
        points = data.get("points") or []
        if points and points[0].get("customdata"):
            require_url(points[0]["customdata"])  # a crafted click may name any unit's page
            return points[0]["customdata"]
    return no_update
