"""Role x route x district on the real app: pages, Dash callbacks, the JSON API and exports.

Every refusal is a 403 with an audit row naming the request."""

from __future__ import annotations

from typing import Any

import pytest

from ioc.auth import audit

ROLES = ("le", "an", "ad", "of", "wo")  # leadership, analyst, admin, officer of `own`, officer of `own_ward`


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
    broad = {"le": True, "an": True, "ad": True, "of": False, "wo": False}
    own_district = {**broad, "of": True}
    return {
        "control room": ("/", everyone),
        "explore": ("/explore", everyone),
        "own district": (f"/district/{city.own}", own_district),
        "other district": (f"/district/{city.other}", broad),
        "own ward": (f"/ward/{city.own_ward}", everyone),
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
        f"/api/v1/kpis/attendance_rate?district={city.own}": role != "wo",
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
