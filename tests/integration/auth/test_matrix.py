"""Role x route x district on the real app: pages, Dash callbacks, the JSON API and exports.

Every refusal is a 403 with an audit row naming the request."""

from __future__ import annotations

from typing import Any

import pytest

from ioc.auth import audit

# leadership, analyst, admin, officer of `own`, officer of `own_ward`, principal of `own_school`
ROLES = ("le", "an", "ad", "of", "wo", "pr")


def page_body(pathname: str, search: str = "") -> dict[str, Any]:
    """The request Dash's renderer sends to draw a page (dash.page_container's callback)."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [
            {"id": "_pages_content", "property": "children"},
            {"id": "_pages_store", "property": "data"},
        ],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [],
    }


def urls(city: Any) -> dict[str, tuple[str, dict[str, bool]]]:
    """name -> (url, allowed per role)."""
    everyone = dict.fromkeys(ROLES, True)
    broad = {"le": True, "an": True, "ad": True, "of": False, "wo": False, "pr": False}
    own_district = {**broad, "of": True}
    own_ward = {**own_district, "wo": True}  # a principal reads their school, not its ward whole
    return {
        "wall": ("/screen/control_room", everyone),  # "/" leads officers home: test_home
        "explore": ("/explore", everyone),
        "own district": (f"/district/{city.own}", own_district),
        "other district": (f"/district/{city.other}", broad),
        "own ward": (f"/ward/{city.own_ward}", own_ward),
        "other ward": (f"/ward/{city.other_ward}", broad),
        "own school": (f"/school/{city.own_school}", everyone),
        "other school": (f"/school/{city.other_school}", broad),
        "explore other district": (f"/explore?district={city.other}", broad),
        "data health": ("/data-health", everyone),  # scoped to their schools (test_scoping)
        "data health of another district": (f"/data-health?district={city.other}", broad),
        "audit": ("/admin/audit", {**broad, "le": False, "an": False}),
    }


@pytest.mark.parametrize("role", ROLES)
def test_pages_and_page_callbacks(role: str, city: Any, signed_in: Any, db: Any) -> None:
    client, csrf = signed_in(role)
    for name, (url, allowed) in urls(city).items():
        expected = 200 if allowed[role] else 403
        assert client.get(url).status_code == expected, f"{role} GET {name}"
        if url.startswith("/admin"):
            continue
        path, _, query = url.partition("?")
        response = client.post(
            "/_dash-update-component",
            json=page_body(path, "?" + query if query else ""),
            headers={"X-CSRFToken": csrf},
        )
        assert response.status_code == expected, (
            f"{role} callback {name}: {response.get_data(as_text=True)[:300]}"
        )
        if not allowed[role]:
            last = audit.entries(db, event="refused", limit=1)[0]
            assert last.actor == f"user:{role}" and last.outcome == "denied"
            assert "/_dash-update-component" in last.target


def test_crafted_callback_naming_another_district_is_refused_and_audited(
    city: Any, signed_in: Any, db: Any
) -> None:
    client, csrf = signed_in("of")
    crafted = {
        "output": "app-explain.className...app-explain-body.children..",
        "outputs": [
            {"id": "app-explain", "property": "className"},
            {"id": "app-explain-body", "property": "children"},
        ],
        "inputs": [
            [
                {
                    "id": {"type": "explain", "index": f"kpi=attendance_rate&district={city.other}"},
                    "property": "n_clicks",
                    "value": 1,
                }
            ],
            {"id": "app-explain-close", "property": "n_clicks", "value": 0},
        ],
        "state": [{"id": "app-url", "property": "search", "value": ""}],
        "changedPropIds": [],
    }
    response = client.post("/_dash-update-component", json=crafted, headers={"X-CSRFToken": csrf})
    assert response.status_code == 403
    last = audit.entries(db, event="refused", limit=1)[0]
    assert last.actor == "user:of" and city.other in last.detail


@pytest.mark.parametrize("role", ROLES)
def test_api(role: str, city: Any, signed_in: Any) -> None:
    client, _ = signed_in(role)
    broad = role in ("le", "an", "ad")
    cases = {
        "/api/v1/kpis": True,
        "/api/v1/kpis/attendance_rate?by=district": True,
        f"/api/v1/kpis/attendance_rate?district={city.own}": role not in ("wo", "pr"),
        f"/api/v1/kpis/attendance_rate?ward={city.own_ward}": role != "pr",
        f"/api/v1/kpis/attendance_rate?district={city.other}": broad,
        f"/api/v1/kpis/attendance_rate?ward={city.other_ward}&by=school": broad,
        f"/api/v1/kpis/attendance_rate?school={city.other_school}": broad,
        f"/api/v1/kpis/attendance_rate?school={city.own_school}": True,
        "/api/v1/kpis/attendance_rate?format=csv": role in ("an", "ad"),
    }
    for url, allowed in cases.items():
        assert client.get(url).status_code == (200 if allowed else 403), f"{role} {url}"


@pytest.mark.parametrize("role", ROLES)
def test_exports(role: str, city: Any, signed_in: Any, db: Any) -> None:
    client, _ = signed_in(role)
    exporter = role in ("an", "ad")
    for district in (city.own, city.other):
        response = client.get(f"/export/csv?kpi=attendance_rate&by=school&district={district}")
        assert response.status_code == (200 if exporter else 403), f"{role} export {district}"
    if exporter:
        last = audit.entries(db, event="export", limit=1)[0]
        assert last.actor == f"user:{role}" and "/export/csv" in last.target


@pytest.mark.parametrize("role", ROLES)
def test_export_buttons_show_only_for_roles_that_may_export(role: str, signed_in: Any) -> None:
    client, csrf = signed_in(role)
    response = client.post(
        "/_dash-update-component",
        json=page_body("/explore", "?kpi=attendance_rate&by=district"),
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    exporter = role in ("an", "ad")
    assert ("explore-export-csv" in text) == exporter and ("explore-export-xlsx" in text) == exporter, role
    # the route refuses whoever has no button (the button is a convenience, not the control)
    refused = client.get("/export/csv?kpi=attendance_rate&by=district")
    assert refused.status_code == (200 if exporter else 403)


# -- issue 12: query keys naming path variables, hierarchy_date and snapshot, kiosk screens ------


def drawn_marker(response: Any, attribute: str) -> str | None:
    """The value of ``data-<attribute>`` the router's answer draws (the page's unit or screen)."""
    import re

    found = re.findall(rf'"data-{attribute}":"([^"]+)"', response.get_data(as_text=True))
    return found[0] if found else None


@pytest.mark.parametrize("role", ROLES)
def test_a_query_key_naming_a_path_variable_never_replaces_it(role: str, city: Any, signed_in: Any) -> None:
    client, csrf = signed_in(role)
    broad = role in ("le", "an", "ad")
    cases = [
        # (path, query key, foreign value, attribute, may the role open the path's own unit)
        (f"/school/{city.own_school}", "school_id", city.other_school, "school", True),
        (f"/school/{city.other_school}", "school_id", city.own_school, "school", broad),
        (f"/district/{city.own}", "code", city.other, "unit", role not in ("wo", "pr")),
        (f"/ward/{city.own_ward}", "code", city.other_ward, "unit", role != "pr"),
        (f"/ward/{city.other_ward}", "code", city.own_ward, "unit", broad),
    ]
    for path, key, value, attribute, allowed in cases:
        response = client.post(
            "/_dash-update-component",
            json=page_body(path, f"?{key}={value}"),
            headers={"X-CSRFToken": csrf},
        )
        assert response.status_code == (200 if allowed else 403), f"{role} {path}?{key}={value}"
        if allowed:  # the path's unit is drawn, whoever may see the query's
            assert drawn_marker(response, attribute) == path.rsplit("/", 1)[1], f"{role} {path}?{key}="


def lost_schools(auth_store: Any, districts: set[str], wards: set[str], then: Any) -> bool:
    """Did any school placed in these districts/wards at ``then`` leave them since?"""
    from ioc.metrics import dimensions

    today = {s.school_id: s for s in dimensions.versions(auth_store)}
    for s in dimensions.versions(auth_store, then):
        was = s.district_code in districts or s.ward_code in wards
        now = today[s.school_id].district_code in districts or today[s.school_id].ward_code in wards
        if was and not now:
            return True
    return False


@pytest.mark.parametrize("role", ROLES)
def test_api_hierarchy_date_and_snapshot(role: str, city: Any, signed_in: Any, auth_store: Any) -> None:
    from datetime import date

    from ioc.metrics import engine

    client, _ = signed_in(role)
    districts, wards = {"of": ({city.own}, set()), "wo": (set(), {city.own_ward}), "pr": (set(), set())}.get(
        role, (None, None)
    )
    schools = {city.own_school} if role == "pr" else set()
    first, last = engine.readable_versions(auth_store)
    for then in (date(2024, 9, 1), date(2025, 7, 1), date(2026, 12, 1)):
        # a principal's school is theirs under any hierarchy: it never leaves their access
        expected = 200 if districts is None or not lost_schools(auth_store, districts, wards, then) else 403
        url = f"/api/v1/kpis/attendance_rate?by=school&hierarchy_date={then.isoformat()}"
        response = client.get(url)
        assert response.status_code == expected, f"{role} {url}"
        if schools and expected == 200:
            assert {r["key"] for r in response.get_json()["rows"]} <= schools, f"{role} {url}"
    for version in (first, last):
        response = client.get(f"/api/v1/kpis/attendance_rate?by=school&snapshot={version}")
        assert response.status_code in ((200,) if districts is None or version == last else (200, 403))
        if response.status_code == 200 and districts is not None:  # nothing outside their units today
            from ioc.metrics import dimensions

            readable = {
                s.school_id
                for s in dimensions.versions(auth_store)
                if s.district_code in districts or s.ward_code in wards or s.school_id in schools
            }
            assert {r["key"] for r in response.get_json()["rows"]} <= readable, f"{role} snapshot={version}"


@pytest.mark.parametrize(
    "given", [("control_room",), ("connectivity",), ("control_room", "connectivity")], ids="+".join
)
def test_kiosk_screens_on_the_router_and_the_refresh_callback(
    given: tuple[str, ...], auth_app: Any, db: Any
) -> None:
    from ioc.auth import tokens

    from .test_leaks import refresh_body

    name = f"wall-matrix-{'-'.join(given)}"
    secret, _ = tokens.create(db, name, "kiosk", list(given), days=1)
    client = auth_app.server.test_client()
    client.get(f"/screen/{given[0]}?kiosk=1&device={secret}")
    csrf = client.get_cookie("_csrf_token").value
    for screen in ("control_room", "connectivity"):
        allowed = screen in given
        for path in (
            "/" if screen == "control_room" else f"/screen/{screen}",
            f"/screen/{given[0]}?name={screen}",
        ):
            pathname, _, query = path.partition("?")
            response = client.post(
                "/_dash-update-component",
                json=page_body(pathname, "?kiosk=1" + (f"&{query}" if query else "")),
                headers={"X-CSRFToken": csrf},
            )
            if query:  # ?name= never replaces the path's screen
                assert response.status_code == 200 and drawn_marker(response, "screen") == given[0], path
                continue
            assert response.status_code == (200 if allowed else 403), f"{given} router {path}"
            if allowed:
                assert drawn_marker(response, "screen") == screen
        refreshed = client.post(
            "/_dash-update-component",
            json=refresh_body({"name": screen, "playlist": list(given)}),
            headers={"X-CSRFToken": csrf},
        )
        assert refreshed.status_code == (200 if allowed else 403), f"{given} refresh {screen}"
        if not allowed:
            last = audit.entries(db, event="refused", limit=1)[0]
            assert last.actor == f"kiosk:{name}" and screen in last.detail
