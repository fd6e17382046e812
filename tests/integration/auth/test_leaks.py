"""The cross-district leaks of issue 12 ("Why" 1-5), each reproduced as an officer of one district
or a wall device limited to one screen would try it, on the real app with sign-in on.

A page drawn through Dash's router is a callback: what the browser would show is in the callback's
JSON answer, so "drawn" below means: named in that answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ioc.auth import audit, tokens

from .test_matrix import page_body

AUTH_BACKENDS = ("sqlite",)  # the guard does not depend on where accounts live (test_matrix covers both)


def draw(client: Any, csrf: str, pathname: str, search: str = "") -> Any:
    return client.post(
        "/_dash-update-component", json=page_body(pathname, search), headers={"X-CSRFToken": csrf}
    )


def last_refusal(db: Any) -> Any:
    return audit.entries(db, event="refused", limit=1)[0]


def test_a_query_key_never_replaces_a_path_variable(city: Any, signed_in: Any, db: Any) -> None:
    client, csrf = signed_in("of")
    cases = {
        f"/school/{city.own_school}": (
            "school_id",
            city.other_school,
            f'"data-school":"{city.other_school}"',
        ),
        f"/district/{city.own}": ("code", city.other, f'"data-unit":"{city.other}"'),
    }
    for path, (key, foreign, marker) in cases.items():
        before = len(audit.entries(db, event="refused", limit=5000))
        response = draw(client, csrf, path, f"?{key}={foreign}")
        text = response.get_data(as_text=True)
        assert marker.replace('"', "") not in text.replace('"', ""), f"{path}?{key}= drew {foreign}"
        # either the own page is drawn (the query key ignored) or the request is refused and audited
        if response.status_code == 403:
            assert len(audit.entries(db, event="refused", limit=5000)) == before + 1
        else:
            assert response.status_code == 200


@pytest.mark.parametrize("prefix", ["//", "///", "/./", "/%2F"])
def test_extra_slashes_are_read_the_way_dash_reads_them(
    prefix: str, city: Any, signed_in: Any, db: Any
) -> None:
    client, csrf = signed_in("of")
    response = draw(client, csrf, f"{prefix}school/{city.other_school}")
    assert "data-school" not in response.get_data(as_text=True)
    if prefix in ("//", "///"):  # Dash strips these and would draw the page: refused, audited
        assert response.status_code == 403
        refusal = last_refusal(db)
        assert refusal.actor == "user:of" and city.other_school in refusal.detail


def test_a_page_request_with_extra_slashes_is_refused(city: Any, signed_in: Any, db: Any) -> None:
    client, _ = signed_in("of")
    # the test client would read '//school' as a host name: the path goes in as the server sees it
    response = client.get("/", environ_overrides={"PATH_INFO": f"//school/{city.other_school}"})
    assert response.status_code == 403
    assert city.other_school in last_refusal(db).detail


def _kiosk(auth_app: Any, db: Any, name: str, screens: list[str]) -> tuple[Any, str]:
    secret, _ = tokens.create(db, name, "kiosk", screens, days=30)
    client = auth_app.server.test_client()
    client.get(f"/?kiosk=1&device={secret}")
    return client, client.get_cookie("_csrf_token").value


def test_a_kiosk_draws_only_its_screens_on_the_router(auth_app: Any, db: Any) -> None:
    client, csrf = _kiosk(auth_app, db, "wall-leak-1", ["control_room"])
    response = draw(client, csrf, "/screen/control_room", "?kiosk=1&name=connectivity")
    assert response.status_code in (200, 403)
    assert '"data-screen":"connectivity"' not in response.get_data(as_text=True)
    assert draw(client, csrf, "/screen/connectivity", "?kiosk=1").status_code == 403
    assert last_refusal(db).actor == "kiosk:wall-leak-1"


def refresh_body(screen: dict[str, Any], search: str = "?kiosk=1") -> dict[str, Any]:
    """The wall's refresh callback (ioc.pages._wall.refresh_grid) as Dash's renderer sends it."""
    return {
        "output": "..wall-grid.children...wall-clock.children...wall-refreshed.children..",
        "outputs": [
            {"id": "wall-grid", "property": "children"},
            {"id": "wall-clock", "property": "children"},
            {"id": "wall-refreshed", "property": "children"},
        ],
        "inputs": [{"id": "wall-refresh", "property": "n_intervals", "value": 3}],
        "changedPropIds": ["wall-refresh.n_intervals"],
        "state": [
            {"id": "wall-screen", "property": "data", "value": screen},
            {"id": "app-url", "property": "search", "value": search},
        ],
    }


def test_a_kiosk_refresh_naming_another_screen_is_refused_and_audited(auth_app: Any, db: Any) -> None:
    from ioc import ids

    assert ids.id("wall", "screen") == "wall-screen"  # the ids the crafted body uses
    client, csrf = _kiosk(auth_app, db, "wall-leak-2", ["control_room"])
    own = client.post(
        "/_dash-update-component",
        json=refresh_body({"name": "control_room", "playlist": ["control_room"]}),
        headers={"X-CSRFToken": csrf},
    )
    assert own.status_code == 200
    other = client.post(
        "/_dash-update-component",
        json=refresh_body({"name": "connectivity", "playlist": ["control_room"]}),
        headers={"X-CSRFToken": csrf},
    )
    assert other.status_code == 403
    refusal = last_refusal(db)
    assert refusal.actor == "kiosk:wall-leak-2" and "connectivity" in refusal.detail


def test_a_kiosk_playlist_holds_only_its_screens(auth_app: Any, db: Any) -> None:
    client, csrf = _kiosk(auth_app, db, "wall-leak-3", ["control_room", "connectivity"])
    drawn = draw(client, csrf, "/", "?kiosk=1").get_json()
    store = _find(drawn, "wall-screen")
    assert store["data"]["playlist"] == ["control_room", "connectivity"]


def _find(tree: Any, component_id: str) -> dict[str, Any]:
    """The props of the component with ``component_id`` in a callback's JSON answer."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return props
        for value in tree.values():
            found = _find(value, component_id)
            if found:
                return found
    elif isinstance(tree, list):
        for item in tree:
            found = _find(item, component_id)
            if found:
                return found
    return {}


@pytest.mark.parametrize(
    ("rotate", "interval", "noted"),
    [
        ("0", 10_000, True),
        ("abc", None, True),
        ("5", 10_000, True),
        ("99999", 3_600_000, True),
        ("30", 30_000, False),
        ("-3", 10_000, True),
        ("nan", None, True),
        ("1e9", 3_600_000, True),
    ],
)
def test_rotate_is_bounded_and_bad_values_are_ignored_with_a_note(
    rotate: str, interval: int | None, noted: bool, signed_in: Any
) -> None:
    from ioc import settings

    client, csrf = signed_in("le")
    response = draw(client, csrf, "/", f"?kiosk=1&rotate={rotate}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    answer = response.get_json()
    timer = _find(answer, "wall-rotate")
    expected = interval if interval is not None else int(settings.get("rotate_seconds")) * 1000
    assert timer["interval"] == expected
    assert bool(_find(answer, "wall-rotate-note")) == noted
    if noted:
        assert rotate in json.dumps(_find(answer, "wall-rotate-note"))


# -- the API: hierarchy_date and snapshot ------------------------------------------------------


@pytest.fixture
def moved(auth_store: Any, db: Any) -> dict[str, Any]:
    """A school the demo's reorganisation moved to another district, with the officer of the district
    it left (who may not see it today), the hierarchy date and a data version that place it there."""
    from datetime import date

    from ioc.auth import accounts
    from ioc.metrics import dimensions, engine

    today = {s.school_id: s for s in dimensions.versions(auth_store)}
    # the demo's first hierarchy (before its reorganisation), on a day it was in force
    first_versions = dimensions.versions(auth_store, date(1, 1, 1))
    then = min(s.valid_from for s in first_versions)
    old = {s.school_id: s for s in dimensions.versions(auth_store, then)}
    school = next(sid for sid, s in today.items() if sid in old and old[sid].district_code != s.district_code)
    left = old[school].district_code
    first, version = engine.readable_versions(auth_store)
    snapshot = next(
        n
        for n in range(first, version)
        if any(
            s.school_id == school and s.district_code == left
            for s in engine.school_versions(auth_store, None, n, n)
        )
    )
    if accounts.get(db, "left") is None:
        accounts.add(db, "left", "district_officer", "a long passphrase 2026", districts=[left])
    return {"school": school, "district": left, "then": then, "snapshot": snapshot, "version": version}


def test_an_older_hierarchy_or_version_never_widens_an_officer_s_scope(
    moved: dict[str, Any], signed_in: Any, db: Any
) -> None:
    client, _ = signed_in("left")
    base = "/api/v1/kpis/attendance_rate?by=school"
    today = client.get(base)
    assert today.status_code == 200
    assert moved["school"] not in {r["key"] for r in today.get_json()["rows"]}
    for query, param in (
        (f"&hierarchy_date={moved['then'].isoformat()}", "hierarchy_date"),
        (f"&snapshot={moved['snapshot']}", "snapshot"),
        (f"&hierarchy_date={moved['then'].isoformat()}&snapshot={moved['version']}", "hierarchy_date"),
    ):
        response = client.get(base + query)
        assert response.status_code == 403, (query, response.get_data(as_text=True)[:300])
        assert response.get_json()["param"] == param
        assert moved["school"] not in response.get_data(as_text=True)
        refusal = last_refusal(db)
        assert refusal.actor == "user:left" and param in refusal.detail and query[1:] in refusal.target
    # what shows nothing outside their districts today is answered
    assert client.get(base + f"&snapshot={moved['version']}").status_code == 200
    assert client.get(base + "&hierarchy_date=2026-12-01").status_code == 200


def test_leadership_may_group_by_any_hierarchy(moved: dict[str, Any], signed_in: Any) -> None:
    client, _ = signed_in("le")
    response = client.get(f"/api/v1/kpis/attendance_rate?by=school&hierarchy_date={moved['then']}")
    assert response.status_code == 200
    assert moved["school"] in {r["key"] for r in response.get_json()["rows"]}


def test_the_openapi_document_bounds_snapshot_to_the_versions_answered(
    signed_in: Any, auth_store: Any
) -> None:
    client, _ = signed_in("le")
    doc = client.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/kpis/{kpi_id}"]["get"]["parameters"]}
    low, high = params["snapshot"]["minimum"], params["snapshot"]["maximum"]
    assert 0 < low <= high == auth_store.data_version()
    base = "/api/v1/kpis/attendance_rate?snapshot="
    assert client.get(f"{base}{low}").status_code == 200
    assert client.get(f"{base}{high}").status_code == 200
    # just outside the published bounds: refused, as the schema says
    assert client.get(f"{base}{low - 1}").status_code == 400
    assert client.get(f"{base}{high + 1}").status_code == 400


def test_a_page_as_of_an_older_version_never_widens_an_officer_s_scope(
    moved: dict[str, Any], signed_in: Any, db: Any
) -> None:
    client, csrf = signed_in("left")
    old = moved["snapshot"]
    for path, search in (
        (f"/district/{moved['district']}", f"?asof={old}"),
        ("/explore", f"?by=school&asof={old}"),
        ("/", f"?asof=+{old}"),  # read by the page as int(' +N'): judged the same way
    ):
        response = draw(client, csrf, path, search)
        assert response.status_code == 403, (path, search, response.get_data(as_text=True)[:300])
        assert moved["school"] not in response.get_data(as_text=True)
        refusal = last_refusal(db)
        assert refusal.actor == "user:left" and "asof" in refusal.detail
    assert (
        draw(client, csrf, f"/district/{moved['district']}", f"?asof={moved['version']}").status_code == 200
    )


def test_a_page_with_a_data_version_that_does_not_exist_says_so(city: Any, signed_in: Any) -> None:
    client, csrf = signed_in("of")  # found by test_guard_properties: this was a 500
    response = draw(client, csrf, f"/district/{city.own}", "?asof=99999&lang=en")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert '"data-param":"snapshot"' in text and "99999" in text and "cannot be used" in text


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("post", "/_dash-update-component", {"json": page_body("//school/x")}, 401),
        ("get", "/_dash-layout", {}, 401),
        ("get", "/_dash-dependencies", {}, 401),
        ("get", "/api/v1/kpis", {"headers": {"Authorization": "Basic YWQ6YWQ="}}, 401),
        ("get", "/api/v1/kpis", {"headers": {"Authorization": "Bearer ioc_api_forged"}}, 401),
        ("get", "/export/svg?kpi=attendance_rate", {}, 302),
    ],
)
def test_every_unauthenticated_refusal_is_audited(
    method: str, path: str, kwargs: dict[str, Any], status: int, auth_app: Any, db: Any
) -> None:
    import uuid

    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    client = auth_app.server.test_client()
    response = getattr(client, method)(path, environ_base={"REMOTE_ADDR": address}, **kwargs)
    assert response.status_code == status
    rows = [e for e in audit.entries(db, limit=200) if e.ip == address]
    assert rows and rows[0].outcome in ("denied", "failed"), f"{method} {path} not audited"
    assert path.split("?")[0] in rows[0].target


def explain_body(question: str) -> dict[str, Any]:
    """A click on a "what is this number?" button whose pattern id carries ``question``."""
    return {
        "output": "..app-explain.className...app-explain-body.children..",
        "outputs": [
            {"id": "app-explain", "property": "className"},
            {"id": "app-explain-body", "property": "children"},
        ],
        "inputs": [
            [{"id": {"type": "explain", "index": question}, "property": "n_clicks", "value": 1}],
            {"id": "app-explain-close", "property": "n_clicks", "value": 0},
        ],
        "state": [{"id": "app-url", "property": "search", "value": ""}],
        "changedPropIds": [json.dumps({"index": question, "type": "explain"}) + ".n_clicks"],
    }


def test_a_crafted_explain_button_as_of_an_older_version_is_refused(
    moved: dict[str, Any], signed_in: Any, db: Any
) -> None:
    client, csrf = signed_in("left")
    own = f"kpi=attendance_rate&district={moved['district']}"
    assert (
        client.post(
            "/_dash-update-component", json=explain_body(own), headers={"X-CSRFToken": csrf}
        ).status_code
        == 200
    )
    old = client.post(
        "/_dash-update-component",
        json=explain_body(f"{own}&asof={moved['snapshot']}"),
        headers={"X-CSRFToken": csrf},
    )
    assert old.status_code == 403
    assert last_refusal(db).actor == "user:left" and "asof" in last_refusal(db).detail
    # a question no page makes is ignored, not a server error
    junk = client.post(
        "/_dash-update-component",
        json=explain_body(f"{own}&from=not-a-date"),
        headers={"X-CSRFToken": csrf},
    )
    assert junk.status_code in (200, 204)


def test_a_repeated_query_key_counts_once_and_each_value_is_judged(city: Any, signed_in: Any) -> None:
    client, csrf = signed_in("of")  # found by test_guard_properties: '?district=&district=' was a 500
    assert draw(client, csrf, "/explore", "?district=&district=").status_code == 200
    assert draw(client, csrf, "/explore", f"?district={city.own}&district={city.own}").status_code == 200
    assert draw(client, csrf, "/explore", f"?district={city.own}&district={city.other}").status_code == 403
