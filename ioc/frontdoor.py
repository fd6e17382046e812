"""The metrics front door of the request being served: built once per request from the principal.

The web layer is the only reader of request state. Pages, panels, the API and exports call
:func:`current_metrics` and ask the :class:`ioc.metrics.front.Metrics` it returns; its access scope
is the signed-in principal's (ioc.auth). The warmer puts its own (one per officer scope) with
:func:`use_metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import flask

from ioc.access import EVERYTHING, NOTHING, AccessScope
from ioc.auth.web import current_principal, current_state_or_none, refuse_drawing, url_units, versions_refusal
from ioc.messages import msg
from ioc.metrics.front import Metrics

STORE_KEY = "ioc.store"  # the app's Store in flask's app.extensions (set by ioc.app.create_app)
G_METRICS = "ioc_metrics"


def current_store() -> Any:
    """The store of the app serving this request (set by create_app)."""
    return flask.current_app.extensions[STORE_KEY]


def request_access() -> AccessScope:
    """What the caller of this request may read: the principal's access scope; nothing when sign-in
    is required and nobody is signed in; everything when sign-in is off or access control is not
    installed on this server (scripts and tests that build pages without the guard)."""
    principal = current_principal()
    if principal is not None:
        return principal.access
    state = current_state_or_none()
    if state is not None and state.required:
        return NOTHING
    return EVERYTHING


def current_metrics(store: Any = None) -> Metrics:
    """The front door for this request (made on first use, then the same for the whole request);
    ``store``: the store to read when the app's is not the one (a server with only the API)."""
    found = flask.g.get(G_METRICS)
    if found is None:
        found = Metrics(store if store is not None else current_store(), request_access())
        setattr(flask.g, G_METRICS, found)
    return found  # type: ignore[no-any-return]


def use_metrics(metrics: Metrics) -> None:
    """Answer the rest of this request (or test request context) through ``metrics``: the warmer
    drawing a page as one officer sees it."""
    setattr(flask.g, G_METRICS, metrics)


def require_units(units: Iterable[tuple[str, Any]], asof: Iterable[Any] = ()) -> None:
    """Inside a callback (or a layout): end the request with an audited 403 unless the caller may
    read every unit of ``units`` ((kind, value): a district, ward or school code or name taken from
    the browser; empty values name nothing) and every data version of ``asof``. Asked of the
    request's front door, so the access value decides, whatever the guard let through. Outside a
    request (a callback called as a plain function) there is no caller to refuse."""
    if not flask.has_request_context():
        return
    metrics = current_metrics()
    if not metrics.access.restricted:
        return
    for kind, value in units:
        if value is None or value == "":
            continue
        if not isinstance(value, str) or not metrics.allows(kind, value):
            refuse_drawing(
                msg("refusal.outside", kind=msg(f"refusal.kind.{kind}"), value=repr(str(value)[:80]))
            )
    reason = versions_refusal(metrics, asof)
    if reason:
        refuse_drawing(reason)


def require_url(url: Any) -> None:
    """require_units for the units and data versions page ``url`` names (a link a callback takes
    from the browser and hands back to it); a value that is not a local path names nothing."""
    if isinstance(url, str) and url.startswith("/"):
        units, asof = url_units(url)
        require_units(units, asof)
