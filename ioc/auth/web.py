"""Access control on the Dash app's Flask server: sign-in pages, the guard in front of every
route, security headers, CSRF and cookie flags. :func:`install` wires it all in.

The guard runs before every request:

- pages and exports without a session -> redirect to /login; callbacks and the API -> 401;
- a session or bearer token that may not read what the request names -> 403, audited;
- state-changing requests with a cookie session must echo the session's CSRF token (Dash's
  renderer sends the ``_csrf_token`` cookie back as ``X-CSRFToken`` by itself);
- the principal's access scope is what the request's metrics front door is built with
  (ioc.frontdoor.current_metrics), which applies it in its queries and cache keys.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from dash._pages import _parse_query_string, _path_to_page
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    g,
    has_app_context,
    has_request_context,
    jsonify,
    redirect,
    request,
)
from werkzeug.wrappers import Response as BaseResponse

from ioc import settings
from ioc.access import EVERYTHING, AccessScope, Place
from ioc.auth import accounts, audit, forms, oidc, proxies, ratelimit, rules, sessions, tokens
from ioc.auth.access import ADMIN, EXPORT_ROLES, G_KEY, RESTRICTED_ROLES
from ioc.auth.db import AuthDb, AuthDbUnreachable, open_db
from ioc.auth.principal import Principal
from ioc.messages import Message, msg
from ioc.metrics import table_versions
from ioc.metrics.errors import QueryError
from ioc.metrics.front import Metrics

log = logging.getLogger(__name__)

EXTENSION = "ioc_auth"
SESSION_COOKIE = "ioc_session"
CSRF_COOKIE = "_csrf_token"  # Dash's renderer echoes this cookie in the X-CSRFToken header
LOGIN_COOKIE = "ioc_login"
PROBE_PATHS = ("/healthz", "/readyz", "/metrics")  # ioc/observability.py (/metrics: its own token)
PUBLIC_PATHS = frozenset(
    {"/login", "/logout", "/auth/oidc/login", "/auth/oidc/callback", "/_favicon.ico", *PROBE_PATHS}
)
PUBLIC_PREFIXES = ("/assets/", "/_dash-component-suites/")  # library code and stylesheets, no data
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN = Principal("open", "demo", ADMIN)  # sign-in switched off by IOC_AUTH_REQUIRED=false


@dataclass
class AuthState:
    db: AuthDb
    required: bool
    locate: rules.Locate
    dash_app: Any = None
    store_factory: Callable[[], Any] | None = None
    oidc: Any = None  # ioc.auth.oidc.OidcClient when configured
    server: Flask | None = None  # given the secret key too once it is read
    _secret: str | None = field(default=None, repr=False)
    _secret_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def secret(self) -> str:
        """The deployment's secret key (one for every worker and node sharing the accounts
        database), read at start, or at the first use after the database answers when it did not
        at start (AuthDbUnreachable until then)."""
        secret = self._secret
        if secret is None:
            with self._secret_lock:
                if self._secret is None:
                    self._secret = self.db.secret_key()
                    if self.server is not None:
                        self.server.secret_key = self._secret
                secret = self._secret
        return secret


def store_locator(store_factory: Callable[[], Any], size: int = 4096) -> rules.Locate:
    """Where a district/ward/school code or name lies in today's hierarchy (the metrics front
    door's ``locate``, for everybody: where a unit lies is a fact about the city, not about the
    caller), remembered until the ``schools`` table changes: a probe load, which moves the data
    version every few minutes, does not make every officer's unit be looked up again."""
    memo: OrderedDict[tuple[Any, ...], Place | None] = OrderedDict()

    def locate(kind: str, value: str) -> Place | None:
        store = store_factory()
        version = store.data_version()
        key = (id(store), table_versions.tables_version(store, ("schools",), version), kind, value)
        if key in memo:
            return memo[key]
        place = Metrics(store, EVERYTHING).locate(kind, value)
        memo[key] = place
        while len(memo) > size:
            memo.popitem(last=False)
        return place

    return locate


def placement_refusal(
    metrics: Metrics, hierarchy_date: date | None, snapshot: int | None, param: str
) -> Message | None:
    """Why the caller of ``metrics`` may not ask for schools grouped by the hierarchy of
    ``hierarchy_date`` or read at data version ``snapshot`` (``param`` names the parameter asked),
    or None.

    Access is decided in today's hierarchy, while a query groups and filters schools by the
    hierarchy of its date and version: an officer whose district lost schools in a reorganisation
    would find them under the old hierarchy (the metrics layer's filter leaves them out, so the
    answer would silently differ from what was asked). So a restricted caller may ask for another
    hierarchy or an older version only when it names no school that is outside their units today.
    The reason gives a count, never the other schools' ids.
    """
    outside = metrics.moved_away(hierarchy_date, snapshot)
    if not outside:
        return None
    return msg("refusal.moved_away", param=param, n=outside)


def install(
    app: Any,
    data_dir: Path | str,
    *,
    store_factory: Callable[[], Any] | None = None,
    locate: rules.Locate | None = None,
    required: bool | None = None,
) -> AuthState:
    """Put access control and the web defaults on ``app`` (a Dash app or a Flask server).

    ``required`` (default: the auth_required setting) switches sign-in on or off. Installing twice
    on one server only updates ``required`` (the hooks and routes are in place already).
    """
    server: Flask = app.server if hasattr(app, "server") else app
    required = bool(settings.get("auth_required")) if required is None else required
    existing: AuthState | None = server.extensions.get(EXTENSION)
    if existing is not None:
        existing.required = required
        return existing
    db = open_db(data_dir)
    server.config.update(
        MAX_CONTENT_LENGTH=int(settings.get("max_upload_mb")) * 1024 * 1024,
        SESSION_COOKIE_NAME="ioc_flask",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    if locate is None:
        if store_factory is None:
            raise ValueError("install() needs store_factory or locate")
        locate = store_locator(store_factory)
    proxies.parse(str(settings.get("trusted_proxies")))  # a bad value stops the start, not each request
    state = AuthState(
        db=db,
        required=required,
        locate=locate,
        dash_app=app if hasattr(app, "server") else None,
        store_factory=store_factory,
        server=server,
    )
    state.oidc = oidc.client_from_settings()
    server.extensions[EXTENSION] = state
    try:
        _ = state.secret  # read now when the database answers
        if required and accounts.count(state.db) == 0:
            log.warning("sign-in is required but there are no accounts yet: ioc users add NAME --role admin")
    except AuthDbUnreachable as error:
        # a worker starting in an outage starts anyway: requests get a 503 until the database answers
        log.error(
            "the accounts database is not reachable at start (%s): this worker starts without it "
            "and reads it once it answers",
            " ".join(str(error).split()),
        )
    if not required:
        log.warning(
            "SIGN-IN IS SWITCHED OFF (IOC_AUTH_REQUIRED=false): anyone who reaches this server reads "
            "every school's data. Use this only for a demo on your own machine."
        )
    server.before_request(guard)
    server.after_request(secure_headers)
    server.add_url_rule("/login", "ioc_login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "ioc_logout", logout, methods=["GET", "POST"])
    server.add_url_rule("/admin/audit", "ioc_audit", audit_view)
    # always routed (404 while OpenID Connect is not configured), so settings can change at run time
    server.add_url_rule("/auth/oidc/login", "ioc_oidc_login", oidc_start)
    server.add_url_rule("/auth/oidc/callback", "ioc_oidc_callback", oidc_callback)
    return state


def auth_state() -> AuthState:
    return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]


def current_principal() -> Principal | None:
    """Who the request being served is from (None outside a request or before the guard ran)."""
    return g.get("ioc_principal") if has_app_context() else None


def home_path(principal: Principal | None, locate: rules.Locate) -> str:
    """Where ``principal``'s home opens (``/`` on a full page load and the app's home link): a
    district officer's or a school principal's own unit page, everybody else's (leadership,
    analysts, admins, kiosks) the wall. An officer of several districts opens on the first by code
    (the others are one click away in explore); an officer of wards only on the first ward's page
    (the district page is not theirs to read whole); a principal on their school's page. "/" when
    no unit of the scope is found in today's hierarchy (the wall, drawn within the scope)."""
    if principal is None or principal.kind != "user" or principal.role not in RESTRICTED_ROLES:
        return "/"
    for kind in ("district", "ward", "school"):
        for code in sorted(principal.access.codes(kind)):
            if locate(kind, code) is not None:
                return f"/{kind}/{quote(code, safe='')}"
    return "/"


def caller_home() -> str:
    """home_path of the caller of the request being served ("/" without sign-in)."""
    state = current_state_or_none()
    if state is None or not state.required:
        return "/"
    return home_path(current_principal(), state.locate)


def may_export() -> bool:
    """May the caller of the request being served export (CSV/XLSX/Parquet/PNG/SVG)? Pages use it
    to show export controls only to those the /export routes will serve (the routes refuse the
    others anyway). True when access control is not installed on this server (nothing is checked
    there) or sign-in is switched off."""
    if not has_request_context():
        return True
    state = current_state_or_none()
    if state is None or not state.required:
        return True
    principal = current_principal()
    if principal is None:
        return False
    return principal.kind == "open" or (principal.kind == "user" and principal.role in EXPORT_ROLES)


def client_ip() -> str:
    """The client's address: the connection's, or X-Forwarded-For's as far as the trusted proxies
    (the trusted_proxies setting) wrote it."""
    trusted = proxies.parse(str(settings.get("trusted_proxies")))
    return proxies.client_address(request.remote_addr or "", request.headers.get("X-Forwarded-For"), trusted)


def _target() -> str:
    query = request.query_string.decode("utf-8", "replace")
    return f"{request.method} {request.path}" + (f"?{query}" if query else "")


def _lang() -> str:
    return forms.lang_of(request.values.get("lang") if request.method != "GET" else request.args.get("lang"))


# -- the guard -------------------------------------------------------------------------------


def guard() -> BaseResponse | None:
    state = auth_state()
    g.ioc_principal = None
    if not state.required:
        g.ioc_principal = OPEN
        return None
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return None
    state.db.anonymous.sweep(state.db)  # the counts of minutes that are over (a float compare otherwise)
    if request.method == "GET" and request.args.get("device") and not path.startswith("/api/"):
        return _kiosk_sign_in(state)
    principal = _identify(state)
    if principal is None:
        if not _bearer(request.headers.get("Authorization", "")):  # a bad bearer token: audited by _identify
            expired = bool(request.cookies.get(SESSION_COOKIE))
            _audit_anonymous(
                state,
                "anonymous",
                "denied",
                ("unknown, expired or revoked session" if expired else "no session or token")
                + (
                    " -> 401"
                    if path.startswith(("/api/", "/_dash-")) or request.method != "GET"
                    else " -> sign-in"
                ),
            )
        return _unauthenticated(path)
    g.ioc_principal = principal
    setattr(g, G_KEY, principal.access)
    reason = _authorize(state, principal)
    if reason:
        return refuse(principal, reason)
    if path == "/" and request.method == "GET":
        home = home_path(principal, state.locate)
        if home != "/":  # an officer's home is their unit; the wall stays at /screen/<default>
            query = request.query_string.decode("utf-8", "replace")
            return redirect(home + (f"?{query}" if query else ""), code=302)
    if principal.kind == "api":
        audit.record(state.db, "api_token", actor=principal.label, target=_target(), ip=client_ip())
    elif path.startswith("/export/"):
        audit.record(state.db, "export", actor=principal.label, target=_target(), ip=client_ip())
    return None


def _bearer(header: str) -> bool:
    return header[:7].lower() == "bearer "


def _identify(state: AuthState) -> Principal | None:
    header = request.headers.get("Authorization", "")
    if _bearer(header):
        token = tokens.verify(state.db, header[7:].strip(), "api")
        if token is None:
            _audit_anonymous(state, "api_token", "failed", "unknown, expired or revoked token")
            return None
        return Principal("api", token.name, "api", token.access(), scopes=token.scopes)
    session = sessions.lookup(state.db, request.cookies.get(SESSION_COOKIE))
    if session is None:
        return None
    if session.username is not None:
        account = accounts.get(state.db, session.username)
        if account is None or account.disabled:
            return None
        return Principal("user", account.username, account.role, account.access(), csrf=session.csrf)
    token = tokens.get(state.db, str(session.device))
    if token is None or token.revoked or (token.expires_at is not None and token.expires_at < time.time()):
        return None
    return Principal("kiosk", token.name, "kiosk", token.access(), csrf=session.csrf)


def _authorize(state: AuthState, principal: Principal) -> Message | None:
    if principal.access.empty:
        return msg("refusal.no_units")
    if request.method not in SAFE_METHODS and principal.kind != "api":
        echoed = request.headers.get("X-CSRFToken") or ""
        if not principal.csrf or not hmac.compare_digest(echoed, principal.csrf):
            return msg("refusal.csrf")
    path = request.path
    if path.startswith("/api/"):
        return rules.api_refusal(principal, request.args, state.locate)
    if principal.kind == "api":
        return msg("refusal.api_token")
    if path.startswith("/export/"):
        return rules.export_refusal(principal, request.args, state.locate) or asof_refusal(
            state, principal, [request.args.get("asof")]
        )
    if path == "/_dash-update-component":
        body = request.get_json(silent=True)
        if body is None:
            return msg("refusal.unreadable_callback")
        return callback_refusal(state, principal, body)
    if path.startswith(rules.DASH_STATIC):
        return None
    query = request.query_string.decode("utf-8", "replace")
    url = drawn_url(path + (f"?{query}" if query else ""))
    return rules.page_refusal(principal, url, state.locate) or asof_refusal(
        state, principal, request.args.getlist("asof")
    )


# -- what Dash will draw -----------------------------------------------------------------------
# The guard decides on what the page router will draw, read the way Dash reads it: the path
# stripped of its slashes at both ends (``//school/x`` is the page of school x, not a host name)
# and matched against the registered pages' templates (ioc.app wraps every page's layout so that
# it receives its path variables only: a query key never replaces one).

WALL_SCREEN = "wall-screen"  # the wall's store naming the screen on show (ioc.pages._wall)


def route(url: str) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(page, path variables, query parameters) that Dash's router makes of ``url`` (a pathname
    with an optional query string); the page is {} when no page matches (Dash draws its 404)."""
    path, _, query = url.partition("?")
    page, variables = _path_to_page(path.strip("/"))
    return page, dict(variables or {}), _parse_query_string("?" + query if query else "")


def template_names(page: dict[str, Any]) -> tuple[str, ...]:
    """The path variables a page's template declares (``/school/<school_id>`` -> school_id)."""
    return tuple(re.findall("<(.*?)>", page.get("path_template") or ""))


def canonical_url(page: dict[str, Any], variables: dict[str, Any], params: dict[str, Any], path: str) -> str:
    """The URL of what will be drawn, as ioc.auth.rules reads URLs: the page's template filled with
    its path variables (percent-encoded whole, so a variable holding '/' or '%' stays one value and
    rules' unquoting gives back exactly what the layout receives), then the query parameters the
    layout receives besides them. ``path`` is the raw path, used when no page matches."""
    if page:
        template = page.get("path_template") or page.get("path") or "/"
        target = re.sub("<(.*?)>", lambda m: quote(str(variables.get(m.group(1), "")), safe=""), template)
    else:
        target = "/" + path.partition("?")[0].strip("/")
    names = set(template_names(page)) if page else set()
    pairs = [
        (key, item)
        for key, value in params.items()
        if key not in names
        for item in (value if isinstance(value, list) else [value])
    ]
    return target + ("?" + urlencode(pairs) if pairs else "")


def drawn_url(url: str) -> str:
    """``url`` as Dash's router will draw it (see canonical_url)."""
    page, variables, params = route(url)
    return canonical_url(page, variables, params, url)


def screen_refusal(access: AccessScope, names: list[Any]) -> Message | None:
    """Why a caller with ``access`` may not draw one of the screens ``names`` (a kiosk device shows
    only the screens it was given: AccessScope.allows_screen), or None."""
    for name in names:
        if not access.allows_screen(name):
            return msg("refusal.kiosk_screen", screen=repr(name))
    return None


def _screens_named(body: Any) -> list[Any]:
    """The screen names (shown and playlist) in the wall's store, wherever a callback carries it."""
    names: list[Any] = []
    for item in rules._walk(body):
        if item.get("id") == WALL_SCREEN and item.get("property") == "data":
            data = item.get("value")
            if isinstance(data, dict):
                names.append(data.get("name"))
                names.extend(data.get("playlist") or [])
            elif data is not None:
                names.append(data)
    return names


def callback_refusal(state: AuthState, principal: Principal, body: Any) -> Message | None:
    """May ``principal`` run this callback request? Every page URL it names is judged as Dash will
    draw it, every unit it names by the access rules, and a kiosk's screens by its token."""
    paths, units = rules.callback_references(body)
    for url in paths:
        reason = rules.page_refusal(principal, drawn_url(url), state.locate)
        if reason:
            return reason
    return (
        screen_refusal(principal.access, _screens_named(body))
        or rules.units_refusal(principal, units, state.locate)
        or asof_refusal(state, principal, _asof_named(body))
    )


def _asof_named(body: Any) -> list[Any]:
    """Every ``asof`` (data version) a callback request carries in a URL's query string."""
    found: list[Any] = []
    for item in rules._walk(body):
        value = item.get("value")
        if item.get("property") in ("pathname", "search", "href") and isinstance(value, str) and "?" in value:
            found += _values(_parse_query_string(value[value.index("?") :]).get("asof"))
        elif (
            isinstance(item.get("id"), str)
            and item["id"].endswith("-asof")
            and item.get("property") == "value"
        ):
            found.append(value)  # the "as of" picker
        for text in rules._id_strings(item.get("id")):  # a question in a pattern id (explain buttons)
            if "=" in text and not text.startswith("/"):
                found += _values(_parse_query_string("?" + text).get("asof"))
    return found


def _values(value: Any) -> list[Any]:
    """A query parameter as Dash parses it (one value, a list, or None) as a list."""
    return value if isinstance(value, list) else [] if value is None else [value]


def asof_refusal(state: AuthState, principal: Principal, values: list[Any]) -> Message | None:
    """A page or export "as of" an older data version places schools where they were then: refused
    to a restricted caller when that shows a school outside their units today (placement_refusal)."""
    if not principal.access.restricted or state.store_factory is None:
        return None
    return versions_refusal(Metrics(state.store_factory(), principal.access), values)


def versions_refusal(metrics: Metrics, values: Iterable[Any]) -> Message | None:
    """Why the caller of ``metrics`` may not read the data versions ``values`` (``asof`` as a URL,
    a picker or a question gives them; read as the page reads them), or None."""
    if not metrics.access.restricted:
        return None
    for value in values:
        try:  # read as the page reads it (UrlState: int(), which takes ' +5' and '5_0' too)
            version = int(str(value)) if value not in (None, "") else None
        except ValueError:
            version = None
        if version is None or version < 0:
            continue  # not a data version: the page ignores it, the export refuses it
        try:
            reason = placement_refusal(metrics, None, version, "asof")
        except QueryError:
            continue  # no such data version: the page says so and draws nothing from it
        if reason:
            return reason
    return None


def url_units(url: str) -> tuple[list[tuple[str, str]], list[Any]]:
    """(the (kind, code) units, the ``asof`` values) that page ``url`` names, read as Dash's router
    will draw it: the unit of its path (``/district/<code>``...) and the query's ``district=``,
    ``ward=``, ``school=`` and ``asof=``."""
    drawn = urlsplit(drawn_url(url))
    units = rules.query_units(parse_qsl(drawn.query))
    match = rules.UNIT_PATH.match(drawn.path)
    if match:
        units.insert(0, (match.group(1), unquote(match.group(2))))
    return units, [v for k, v in parse_qsl(drawn.query) if k == "asof"]


def drawing_refusal(page: dict[str, Any], args: dict[str, Any]) -> Message | None:
    """Why the caller may not see ``page`` drawn with ``args`` (what its layout receives), or None.
    The same rules as the guard, applied again where the layout runs."""
    state = current_state_or_none()
    if state is None or not state.required:
        return None
    principal = current_principal()
    if principal is None:
        return msg("refusal.not_signed_in")
    names = set(template_names(page))
    variables = {k: v for k, v in args.items() if k in names}
    params = {k: v for k, v in args.items() if k not in names}
    return rules.page_refusal(
        principal, canonical_url(page, variables, params, "/"), state.locate
    ) or asof_refusal(state, principal, _values(params.get("asof")))


def refuse_drawing(reason: Message) -> None:
    """End the request being served with a 403 for its caller, audited (raises; a server without
    access control has no audit log: a plain 403)."""
    if current_state_or_none() is None:
        abort(403, description=str(reason))
    abort(refuse(current_principal(), reason))


def _audit_anonymous(
    state: AuthState, event: str, outcome: str, detail: str, *, with_query: bool = True
) -> None:
    """Audit a request without valid credentials, aggregated per address, path and minute
    (ioc.auth.audit.AnonymousThrottle): a crawler or a wall of signed-out screens writes a few rows a
    minute, not one per request."""
    state.db.anonymous.record(
        state.db,
        event,
        outcome,
        ip=client_ip(),
        path=f"{request.method} {request.path}",
        target=_target() if with_query else f"{request.method} {request.path}",
        detail=detail,
    )


def _unauthenticated(path: str) -> BaseResponse:
    if path.startswith("/api/"):
        response = jsonify(
            {"error": "sign in or send a bearer token (Authorization: Bearer ...)", "param": None}
        )
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="ioc"'
        return response
    if request.method != "GET" or path.startswith("/_dash-"):
        response = jsonify({"error": "not signed in"})
        response.status_code = 401
        return response
    query = request.query_string.decode("utf-8", "replace")
    target = path + (f"?{query}" if query else "")
    params = {"next": target}
    if request.args.get("lang") == "en":
        params["lang"] = "en"
    if request.cookies.get(SESSION_COOKIE):
        params["m"] = "expired"
    return redirect("/login?" + urlencode(params), code=302)


def refuse(principal: Principal | None, reason: Message, param: str | None = None) -> BaseResponse:
    """403 for ``principal``, with an audit row naming the request and the reason (``param``: the
    request parameter refused, named in a JSON answer)."""
    state = auth_state()
    audit.record(
        state.db,
        "refused",
        "denied",
        actor=principal.label if principal else "",
        target=_target(),
        detail=str(reason),  # the audit log keeps English
        ip=client_ip(),
    )
    if request.path.startswith("/api/") or request.path.startswith("/_dash-") or request.method != "GET":
        response = jsonify({"error": str(reason), "param": param})
        response.status_code = 403
        return response
    return Response(forms.denied_page(_lang(), reason), status=403, mimetype="text/html")


def _kiosk_sign_in(state: AuthState) -> BaseResponse:
    token = tokens.verify(state.db, request.args.get("device"), "kiosk")
    if token is None:
        # never the query string: it holds the (wrong) device secret
        _audit_anonymous(
            state, "kiosk", "failed", "unknown, expired or revoked device token", with_query=False
        )
        return Response(
            forms.denied_page(_lang(), msg("refusal.device_token")), status=403, mimetype="text/html"
        )
    now = time.time()
    lifetime = (token.expires_at - now) if token.expires_at else float(settings.get("kiosk_days")) * 86400
    value, session = sessions.create(state.db, device=token.name, lifetime=lifetime, ip=client_ip(), now=now)
    audit.record(
        state.db,
        "kiosk",
        actor=f"kiosk:{token.name}",
        target=request.path,
        detail="device signed in",
        ip=client_ip(),
    )
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "device"]
    response = redirect(request.path + ("?" + urlencode(kept) if kept else ""), code=302)
    set_session_cookies(response, value, session.csrf, lifetime)
    return response


# -- cookies and headers -----------------------------------------------------------------------


def secure_cookies() -> bool:
    mode = str(settings.get("cookie_secure")).strip().lower()
    if mode in ("true", "1", "yes", "on"):
        return True
    if mode in ("false", "0", "no", "off"):
        return False
    if request.is_secure:
        return True
    host = (
        request.host.rsplit(":", 1)[0].strip("[]")
        if not request.host.startswith("[")
        else request.host[1:].split("]")[0]
    )
    return host not in ("127.0.0.1", "localhost", "::1")


def set_session_cookies(response: BaseResponse, value: str, csrf: str, max_age: float) -> None:
    secure = secure_cookies()
    response.set_cookie(
        SESSION_COOKIE, value, max_age=int(max_age), secure=secure, httponly=True, samesite="Lax", path="/"
    )
    # readable by the page's script (Dash echoes it); useless to another site (SameSite, same-origin reads)
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=int(max_age), secure=secure, httponly=False, samesite="Strict", path="/"
    )


def clear_session_cookies(response: BaseResponse) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure_cookies(), samesite="Lax")


def content_security_policy(state: AuthState | None) -> str:
    scripts = ["'self'"]
    if state is not None and state.dash_app is not None:
        scripts += list(
            state.dash_app.csp_hashes()
        )  # Dash's inline renderer start-up and clientside callbacks
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(scripts),
            # Plotly and AG Grid set styles at run time; inline styles cannot run code
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def secure_headers(response: BaseResponse) -> BaseResponse:
    state = current_state_or_none()
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
    headers["Content-Security-Policy"] = content_security_policy(state)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if not request.path.startswith(PUBLIC_PREFIXES):
        headers.setdefault("Cache-Control", "no-store")
    principal = g.get("ioc_principal")
    if principal is not None and principal.csrf and request.cookies.get(CSRF_COOKIE) != principal.csrf:
        response.set_cookie(
            CSRF_COOKIE, principal.csrf, secure=secure_cookies(), httponly=False, samesite="Strict", path="/"
        )
    return response


def current_state_or_none() -> AuthState | None:
    return current_app.extensions.get(EXTENSION)


# -- sign-in and sign-out ----------------------------------------------------------------------


def _login_csrf(state: AuthState, nonce: str) -> str:
    return hmac.new(state.secret.encode(), b"login:" + nonce.encode(), hashlib.sha256).hexdigest()


def _login_form(
    state: AuthState,
    status: int = 200,
    message: str | None = None,
    username: str = "",
    wait_seconds: float | None = None,
) -> BaseResponse:
    nonce = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    next_url = rules.safe_next(request.values.get("next"))
    html = forms.login_page(
        _lang(),
        csrf=_login_csrf(state, nonce),
        next_url=next_url,
        message=message,
        username=username,
        oidc=state.oidc is not None,
        wait_seconds=wait_seconds,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, secure=secure_cookies(), httponly=True, samesite="Strict", path="/"
    )
    return response


def login() -> BaseResponse:
    state = auth_state()
    if request.method == "GET":
        if state.required and sessions.lookup(state.db, request.cookies.get(SESSION_COOKIE)) is not None:
            return redirect(rules.safe_next(request.args.get("next")), code=302)
        message = request.args.get("m")
        return _login_form(
            state, message=message if message in ("expired", "signed_out", "oidc_failed") else None
        )
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    sent = request.form.get("csrf") or ""
    if not nonce or not hmac.compare_digest(sent, _login_csrf(state, nonce)):
        audit.record(
            state.db,
            "refused",
            "denied",
            target="POST /login",
            detail="missing or wrong CSRF token",
            ip=client_ip(),
        )
        return _login_form(state, 400, "csrf")
    username = (request.form.get("username") or "").strip()[:64]
    password = request.form.get("password") or ""
    ip = client_ip()
    claim = ratelimit.claim(state.db, username, ip)  # counted before the password is checked
    if not claim.allowed:
        audit.record(
            state.db,
            "sign_in",
            "denied",
            actor=username,
            detail=f"too many failed attempts ({claim.bucket})",
            ip=ip,
        )
        response = _login_form(state, 429, "blocked", username, wait_seconds=claim.retry_after)
        response.headers["Retry-After"] = str(int(claim.retry_after + 0.999))
        return response
    account = accounts.authenticate(state.db, username, password)
    if account is None:
        audit.record(
            state.db,
            "sign_in",
            "failed",
            actor=username,
            detail="wrong user name or password, or disabled",
            ip=ip,
        )
        return _login_form(state, 401, "failed", username)
    ratelimit.succeeded(state.db, username, ip, claim)
    return start_session(state, account.username, rules.safe_next(request.form.get("next")), "password")


def start_session(state: AuthState, username: str, next_url: str, method: str) -> BaseResponse:
    """A new session for ``username`` (a new value every time: no session fixation)."""
    sessions.revoke(state.db, request.cookies.get(SESSION_COOKIE))
    value, session = sessions.create(state.db, username=username, ip=client_ip())
    audit.record(state.db, "sign_in", actor=f"user:{username}", detail=method, ip=client_ip())
    response = redirect(next_url, code=302)
    set_session_cookies(response, value, session.csrf, session.expires_at - session.created_at)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


def oidc_start() -> BaseResponse:
    state = auth_state()
    return oidc.start(state.db, state.oidc, client_ip(), secure_cookies())


def oidc_callback() -> BaseResponse:
    state = auth_state()

    def signed_in(username: str, next_url: str) -> BaseResponse:
        return start_session(state, username, next_url, "oidc")

    return oidc.callback(state.db, state.oidc, client_ip(), secure_cookies(), signed_in)


def logout() -> BaseResponse:
    state = auth_state()
    value = request.cookies.get(SESSION_COOKIE)
    session = sessions.lookup(state.db, value)
    if request.method == "GET":
        if session is None:
            return redirect("/login", code=302)
        return Response(forms.logout_page(_lang(), csrf=session.csrf), mimetype="text/html")
    if session is not None:
        if not hmac.compare_digest(request.form.get("csrf") or "", session.csrf):
            audit.record(
                state.db,
                "refused",
                "denied",
                target="POST /logout",
                detail="missing or wrong CSRF token",
                ip=client_ip(),
            )
            return Response(forms.denied_page(_lang(), msg("refusal.csrf")), status=400, mimetype="text/html")
        sessions.revoke(state.db, value)
        who = f"user:{session.username}" if session.username else f"kiosk:{session.device}"
        audit.record(state.db, "sign_out", actor=who, ip=client_ip())
    # an OIDC session also ends at the provider (which then sends the browser to /login)
    at_provider = oidc.end_session_url(state.oidc, request.cookies.get(oidc.HINT_COOKIE)) if session else None
    response = redirect(
        at_provider
        or "/login?" + urlencode({"m": "signed_out", **({"lang": "en"} if _lang() == "en" else {})}),
        code=302,
    )
    clear_session_cookies(response)
    response.delete_cookie(oidc.HINT_COOKIE, path="/logout")
    return response


AUDIT_COLUMNS = ("time", "actor", "event", "outcome", "target", "detail", "ip")


def audit_view() -> BaseResponse:
    """Admins: the newest audit entries (ingestion runs included), newest first."""
    state = auth_state()
    if state.required:
        principal = current_principal()
        if principal is None or principal.role != ADMIN:
            return refuse(principal, msg("refusal.admin"))
    try:
        limit = max(1, min(int(request.args.get("limit", "500")), 5000))
    except ValueError:
        limit = 500
    event = request.args.get("event") or None
    rows: list[dict[str, Any]] = [
        {
            "at": e.at,
            "time": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at)),
            "actor": e.actor,
            "event": e.event,
            "outcome": e.outcome,
            "target": e.target,
            "detail": e.detail,
            "ip": e.ip,
        }
        for e in audit.entries(state.db, limit=limit, event=event)
    ]
    rows.sort(key=lambda r: r["at"], reverse=True)
    return Response(forms.audit_page(rows[:limit], AUDIT_COLUMNS), mimetype="text/html")
