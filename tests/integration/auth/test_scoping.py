"""District scoping applied in the metrics layer's queries: whatever a district officer asks, the
answer covers only their districts/wards; cached answers never cross between scopes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ioc.access import EVERYTHING, AccessScope
from ioc.metrics import dimensions
from ioc.metrics.front import Metrics
from ioc.metrics.query import Scope

from .test_matrix import page_body

# the metrics layer's scoping does not depend on where accounts live: SQLite only
AUTH_BACKENDS = ("sqlite",)


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
    from ioc.metrics.query import KpiQuery

    q = KpiQuery("attendance_rate", "district")
    everything = Metrics(auth_store, EVERYTHING).answer(q)
    own_door = Metrics(auth_store, AccessScope.limited([city.own]))
    own, own_summary = own_door.answer(q), own_door.summary("attendance_rate")
    other_door = Metrics(auth_store, AccessScope.limited([city.other]))
    other, other_summary = other_door.answer(q), other_door.summary("attendance_rate")
    assert [r.key for r in own.rows] == [city.own] and [r.key for r in other.rows] == [city.other]
    assert len(everything.rows) > 2
    assert own_summary.current.denominator != other_summary.current.denominator
    assert Metrics(auth_store, AccessScope.limited([])).answer(q).rows == ()


def test_dimension_lists_follow_the_access_scope(auth_store: Any, city: Any) -> None:
    officer = Metrics(auth_store, AccessScope.limited([city.own]))
    assert [d.code for d in officer.districts()] == [city.own]
    assert {w.parent_code for w in officer.wards()} == {city.own}
    assert {s.district_code for s in officer.schools()} == {city.own}
    assert len(Metrics(auth_store).districts()) > 2


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


def _grid_rows(payload: Any, grid_id: str) -> list[dict[str, Any]]:
    """rowData of the AG Grid with id ``grid_id`` anywhere in a Dash callback answer."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict) and props.get("id") == grid_id:
                return props.get("rowData")
            for value in node.values():
                found = walk(value)
                if found is not None:
                    return found
        elif isinstance(node, list):
            for item in node:
                found = walk(item)
                if found is not None:
                    return found
        return None

    rows = walk(payload)
    assert rows is not None, f"no grid {grid_id}"
    return list(rows)


def test_data_health_queries_are_scoped_to_the_callers_districts(auth_store: Any, city: Any) -> None:
    officer = Metrics(auth_store, AccessScope.limited([city.own]), cached=False)
    ward_officer = Metrics(auth_store, AccessScope.limited((), [city.own_ward]), cached=False)
    everyone = Metrics(auth_store, EVERYTHING, cached=False)
    everything = {r["district_code"] for r in everyone.health("freshness_by_district", "attendance")}
    assert {city.own, city.other} <= everything
    assert [r["district_code"] for r in officer.health("freshness_by_district", "attendance")] == [city.own]
    missing = officer.health("not_reporting")
    assert all(r["district_code"] == city.own for r in missing)
    # asking for another district by name or code gives nothing of it
    assert officer.health("not_reporting", scope=Scope(district=city.other)) == []
    # file-level records cover the whole city: none for a restricted caller
    assert officer.health("runs") == [] and officer.health("rejections") == []
    assert officer.health("sources") == [] and officer.health("job_runs") == []
    scoped = {f.dataset: f for f in officer.health("freshness")}
    assert all(f.reason is None and f.failing_sources == () for f in scoped.values())
    missing = ward_officer.health("not_reporting")
    assert all(r["ward_code"] == city.own_ward for r in missing)
    rows = ward_officer.health("freshness_by_district", "attendance")
    assert [r["district_code"] for r in rows] == [city.own]
    own_schools = sum(1 for s in dimensions.schools(auth_store) if s.ward_code == city.own_ward)
    assert rows[0]["schools"] == own_schools  # only the ward's schools are counted
    assert len(everyone.health("runs")) > 0
    # the newest data of the officer's schools is what their freshness says
    own_latest = {f.dataset: f.latest_data for f in officer.health("freshness")}
    newest = auth_store.execute(
        "SELECT max(a.date) FROM attendance a WHERE a.school_id IN "
        "(SELECT school_id FROM schools WHERE coalesce(district_code, district_name) = $d)",
        {"d": city.own},
    ).scalar()
    assert own_latest["attendance"] == newest


def test_district_officers_see_the_data_health_of_their_schools_only(
    city: Any, signed_in: Any, db: Any, auth_store: Any
) -> None:
    from ioc.auth import audit

    leader, leader_csrf = signed_in("le")  # fills the cache for the whole city first
    drawn = leader.post(
        "/_dash-update-component", json=page_body("/data-health"), headers={"X-CSRFToken": leader_csrf}
    )
    assert drawn.status_code == 200
    assert {city.own, city.other} <= {
        r["district_code"] for r in _grid_rows(drawn.get_json(), "health-by-district")
    }
    officer, csrf = signed_in("of")
    assert officer.get("/data-health").status_code == 200
    page = officer.post(
        "/_dash-update-component", json=page_body("/data-health"), headers={"X-CSRFToken": csrf}
    )
    assert page.status_code == 200
    payload = page.get_json()
    assert [r["district_code"] for r in _grid_rows(payload, "health-by-district")] == [city.own]
    text = json.dumps(payload, ensure_ascii=False)
    assert f"/school/{city.other_school}" not in text
    # not reporting: exactly the city-wide list's schools that are the officer's
    own_schools = {s.school_id for s in dimensions.schools(auth_store) if s.district_code == city.own}

    def not_reporting(answer: Any) -> set[str]:
        try:
            return {r["school_id"] for r in _grid_rows(answer, "health-not-reporting")}
        except AssertionError:  # "none" instead of a table
            return set()

    city_wide = not_reporting(drawn.get_json())
    assert city_wide - own_schools, "the demo should have schools elsewhere that did not report"
    assert not_reporting(payload) == city_wide & own_schools
    # the run log (whole files) is the leadership's, not the officer's
    assert _grid_rows(drawn.get_json(), "health-runs")
    assert "health-runs" not in text
    # and the officer is told why those cards are empty, not shown "nothing to show"
    assert text.count("City-wide records") == 3 or text.count("Hồ sơ toàn thành phố") == 3
    assert "City-wide records" not in json.dumps(drawn.get_json(), ensure_ascii=False)
    # a crafted request for another district's data health is refused and audited
    for search in (f"?district={city.other}", f"?dataset=attendance&ward={city.other_ward}"):
        crafted = officer.post(
            "/_dash-update-component", json=page_body("/data-health", search), headers={"X-CSRFToken": csrf}
        )
        assert crafted.status_code == 403, search
        last = audit.entries(db, event="refused", limit=1)[0]
        assert last.actor == "user:of" and "/_dash-update-component" in last.target
    assert officer.get(f"/data-health?district={city.other}").status_code == 403


def test_an_answer_about_a_unit_the_caller_may_wholly_read_is_shared(
    auth_store: Any, city: Any, monkeypatch: Any
) -> None:
    """Officers of a district, leadership and the warmer share one computation of a ward in that
    district; a caller who may read only part of the unit keeps an answer (and key) of its own."""
    from ioc.metrics import cache, engine
    from ioc.metrics.query import KpiQuery

    cache.clear()
    computed: list[tuple[str, str]] = []
    real = engine.compute

    def counting(store: Any, q: Any, **kw: Any) -> Any:
        computed.append((q.kpi, q.by))
        return real(store, q, **kw)

    real_panel = engine.compute_panel

    def counting_panels(store: Any, q: Any, level: str, **kw: Any) -> Any:
        computed.append((q.kpi, f"{q.by} of every {level}"))
        return real_panel(store, q, level, **kw)

    monkeypatch.setattr(engine, "compute", counting)
    monkeypatch.setattr(engine, "compute_panel", counting_panels)
    ward = Scope(ward=city.own_ward)
    by_school = KpiQuery("attendance_rate", "school", scope=ward)
    own_officer = Metrics(auth_store, AccessScope.limited([city.own]))
    officer = own_officer.summary("attendance_rate", scope=ward)
    officer_rows = own_officer.answer(by_school)
    first = len(computed)
    assert first == 4  # current, previous, trend (a panel of every ward); the by-school answer
    leadership = Metrics(auth_store, EVERYTHING)
    leader = leadership.summary("attendance_rate", scope=ward)
    leader_rows = leadership.answer(by_school)
    Metrics(auth_store, AccessScope.limited([city.own, city.other])).summary("attendance_rate", scope=ward)
    assert len(computed) == first, "the same ward was computed again for another caller"
    assert leader == officer and leader_rows.rows == officer_rows.rows

    # a ward officer may read one ward of the district: the district answer is theirs alone
    district = Scope(district=city.own)
    partial = Metrics(auth_store, AccessScope.limited([], [city.own_ward])).summary(
        "attendance_rate", scope=district
    )
    whole = leadership.summary("attendance_rate", scope=district)
    assert partial.current.denominator == leader.current.denominator
    assert whole.current.denominator > partial.current.denominator
    # and a district officer never gets another district's unit widened
    stranger = AccessScope.limited([city.other])
    assert not engine.access_covers(auth_store, ward, None, None, stranger)
    assert Metrics(auth_store, stranger).answer(by_school).rows == ()
