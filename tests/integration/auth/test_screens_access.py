"""Kiosk screens are part of the access value: the router guard, the wall's refresh callback, its
rotation and its playlist all ask ``AccessScope.allows_screen`` (through the metrics front door
where a page or callback asks), whoever the caller is."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.exceptions import HTTPException

from ioc.access import EVERYTHING, NOTHING
from ioc.auth import audit, rules
from ioc.auth.principal import Principal
from ioc.frontdoor import use_metrics
from ioc.metrics.front import Metrics

AUTH_BACKENDS = ("sqlite",)  # no account is involved: the value alone decides

ONE = EVERYTHING.with_screens(["control_room"])
TWO = EVERYTHING.with_screens(["control_room", "connectivity"])


def _no_place(kind: str, value: str) -> None:
    return None


def test_the_value_holds_the_screens_and_nothing_holds_none() -> None:
    assert ONE.allows_screen("control_room") and not ONE.allows_screen("connectivity")
    assert not ONE.allows_screen(None) and not ONE.allows_screen(["control_room"])
    assert EVERYTHING.allows_screen("connectivity") and not EVERYTHING.screens_only
    assert NOTHING.screens_only and not NOTHING.allows_screen("control_room")
    assert ONE.key() == EVERYTHING.key()  # screens change what is drawn, never an answer


def test_the_router_guard_asks_the_value_not_the_kind_of_caller() -> None:
    # a caller of any kind whose value names screens is a wall device: its screens, no other page
    for kind in ("kiosk", "user"):
        caller = Principal(kind, "wall", "kiosk", ONE)
        assert rules.page_refusal(caller, "/screen/control_room?kiosk=1", _no_place) is None
        assert rules.page_refusal(caller, "/?kiosk=1", _no_place) is None
        for url in ("/screen/connectivity", "/screen/control%5Froom/x", "/explore", "/district/760"):
            assert rules.page_refusal(caller, url, _no_place), f"{kind} {url}"
    assert (
        rules.page_refusal(Principal("user", "le", "leadership", EVERYTHING), "/screen/x", _no_place) is None
    )


def test_the_refresh_callback_asks_the_value(auth_app: Any, auth_store: Any, db: Any) -> None:
    from ioc.pages import _wall

    with auth_app.server.test_request_context("/_dash-update-component", method="POST"):
        use_metrics(Metrics(auth_store, ONE))
        drawn = _wall.refresh_grid(1, {"name": "control_room", "playlist": ["control_room"]}, "?kiosk=1")
        assert drawn[0], "its own screen is drawn"
        with pytest.raises(HTTPException) as refused:
            _wall.refresh_grid(1, {"name": "connectivity", "playlist": ["control_room"]}, "?kiosk=1")
        assert refused.value.response is not None and refused.value.response.status_code == 403
    last = audit.entries(db, event="refused", limit=1)[0]
    assert "connectivity" in last.detail and last.outcome == "denied"


def test_the_rotation_callback_asks_the_value(auth_app: Any, auth_store: Any) -> None:
    from ioc.pages import _wall

    crafted = {"name": "control_room", "playlist": ["control_room", "connectivity"]}
    with auth_app.server.test_request_context("/_dash-update-component", method="POST"):
        use_metrics(Metrics(auth_store, ONE))
        assert _wall.next_screen(1, crafted, "?kiosk=1") == "/?kiosk=1"  # never to connectivity
    with auth_app.server.test_request_context("/_dash-update-component", method="POST"):
        use_metrics(Metrics(auth_store, TWO))
        assert _wall.next_screen(1, crafted, "?kiosk=1") == "/screen/connectivity?kiosk=1"


def _store_of(tree: Any) -> Any:
    """The wall's dcc.Store (its screen and playlist) in a drawn layout."""
    if getattr(tree, "id", None) == "wall-screen":
        return tree.data
    for child in getattr(tree, "children", None) or []:
        if not isinstance(child, (str, int, float)):
            found = _store_of(child)
            if found is not None:
                return found
    return None


def test_the_playlist_and_the_tabs_ask_the_value(auth_app: Any, auth_store: Any) -> None:
    from ioc.pages import _wall

    with auth_app.server.test_request_context("/screen/control_room"):
        use_metrics(Metrics(auth_store, ONE))
        drawn = _wall.wall_layout("control_room", {})
        assert _store_of(drawn)["playlist"] == ["control_room"]
        assert "/screen/connectivity" not in str(drawn)  # no tab to a screen it may not draw
    with auth_app.server.test_request_context("/screen/control_room"):
        use_metrics(Metrics(auth_store, EVERYTHING))
        drawn = _wall.wall_layout("control_room", {})
        assert "connectivity" in _store_of(drawn)["playlist"]
        assert "/screen/connectivity" in str(drawn)
