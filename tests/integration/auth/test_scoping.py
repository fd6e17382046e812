"""District scoping applied in the metrics layer's queries: whatever a district officer asks, the
answer covers only their districts/wards; cached answers never cross between scopes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ioc.auth.access import EVERYTHING, AccessScope, acting_as

from .test_matrix import page_body


def _rows(client: Any, url: str) -> list[dict[str, Any]]:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["rows"]


def test_an_officers_city_is_their_district(city: Any, signed_in: Any) -> None:
    officer, _ = signed_in("of")
    admin, _ = signed_in("ad")
    own = _rows(admin, f"/api/v1/kpis/attendance_rate?district={city.own}")[0]
    city_for_officer = _rows(officer, "/api/v1/kpis/attendance_rate")[0]
    for field in ("value", "numerator", "denominator", "schools_reporting"):
        assert city_for_officer[field] == own[field]
    whole_city = _rows(admin, "/api/v1/kpis/attendance_rate")[0]
    assert whole_city["denominator"] > own["denominator"]


def test_groupings_list_only_the_officers_units(city: Any, signed_in: Any, auth_store: Any) -> None:
    officer, _ = signed_in("of")
    assert [r["key"] for r in _rows(officer, "/api/v1/kpis/attendance_rate?by=district")] == [city.own]
    from ioc.metrics import dimensions

    with acting_as(None):
        own_schools = {s.school_id for s in dimensions.schools(auth_store) if s.district_code == city.own}
    for kpi in ("attendance_rate", "digital_readiness", "bandwidth_coverage"):
        keys = {r["key"] for r in _rows(officer, f"/api/v1/kpis/{kpi}?by=school")}
        assert keys and keys <= own_schools, kpi
    ward_officer, _ = signed_in("wo")
    assert [r["key"] for r in _rows(ward_officer, "/api/v1/kpis/attendance_rate?by=ward")] == [city.own_ward]


def test_cached_answers_never_cross_scopes(city: Any, signed_in: Any) -> None:
    admin, _ = signed_in("ad")
    officer, _ = signed_in("of")
    first = _rows(admin, "/api/v1/kpis/attendance_rate?by=district")  # cached for the whole city
    scoped = _rows(officer, "/api/v1/kpis/attendance_rate?by=district")  # same question, other scope
    again = _rows(admin, "/api/v1/kpis/attendance_rate?by=district")
    assert len(first) > 1 and len(scoped) == 1 and again == first


def test_cache_keys_carry_the_access_scope(auth_store: Any, city: Any) -> None:
    from ioc.metrics.cache import cached_compute, cached_summarize
    from ioc.metrics.query import KpiQuery

    q = KpiQuery("attendance_rate", "district")
    with acting_as(EVERYTHING):
        everything = cached_compute(auth_store, q)
    with acting_as(AccessScope.limited([city.own])):
        own = cached_compute(auth_store, q)
        own_summary = cached_summarize(auth_store, "attendance_rate")
    with acting_as(AccessScope.limited([city.other])):
        other = cached_compute(auth_store, q)
        other_summary = cached_summarize(auth_store, "attendance_rate")
    assert [r.key for r in own.rows] == [city.own] and [r.key for r in other.rows] == [city.other]
    assert len(everything.rows) > 2
    assert own_summary.current.denominator != other_summary.current.denominator
    with acting_as(AccessScope.limited([])):
        assert cached_compute(auth_store, q).rows == ()


def test_dimension_lists_follow_the_access_scope(auth_store: Any, city: Any) -> None:
    from ioc.metrics import dimensions

    with acting_as(AccessScope.limited([city.own])):
        assert [d.code for d in dimensions.districts(auth_store)] == [city.own]
        assert {w.parent_code for w in dimensions.wards(auth_store)} == {city.own}
        assert {s.district_code for s in dimensions.schools(auth_store)} == {city.own}
    with acting_as(None):
        assert len(dimensions.districts(auth_store)) > 2


def test_pages_drawn_for_an_officer_hold_only_their_schools(city: Any, signed_in: Any) -> None:
    officer, csrf = signed_in("of")
    for path, search in (("/explore", "?kpi=attendance_rate&by=school"), ("/", ""), ("/screen/network", "")):
        response = officer.post(
            "/_dash-update-component", json=page_body(path, search), headers={"X-CSRFToken": csrf}
        )
        assert response.status_code == 200, path
        text = json.dumps(response.get_json(), ensure_ascii=False)
        assert f"/school/{city.other_school}" not in text and f'"{city.other_school}"' not in text, path
    explore = officer.post(
        "/_dash-update-component",
        json=page_body("/explore", "?kpi=attendance_rate&by=school"),
        headers={"X-CSRFToken": csrf},
    )
    assert city.own_school in json.dumps(explore.get_json())


def test_api_csv_neutralises_formulas(signed_in: Any, city: Any) -> None:
    from .conftest import FORMULA_NAME

    analyst, _ = signed_in("an")
    text = analyst.get(f"/api/v1/kpis/attendance_rate?by=school&district={city.own}&format=csv").get_data(
        as_text=True
    )
    labels = [row["label"] for row in csv.DictReader(io.StringIO(text))]
    assert "'" + FORMULA_NAME in labels and FORMULA_NAME not in labels


def test_header_names_the_account_and_offers_sign_out(signed_in: Any) -> None:
    client, csrf = signed_in("of")
    body = {
        "output": "..app-header.children...app-header.className..",
        "outputs": [
            {"id": "app-header", "property": "children"},
            {"id": "app-header", "property": "className"},
        ],
        "inputs": [
            {"id": "app-url", "property": "pathname", "value": "/"},
            {"id": "app-url", "property": "search", "value": ""},
        ],
        "changedPropIds": ["app-url.pathname"],
        "state": [],
    }
    response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    assert "Đăng xuất (of)" in json.dumps(response.get_json(), ensure_ascii=False)
