"""Hostile input: SQL injection in every filter parameter, a school named like an HTML tag, and
school names that a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from .conftest import FORMULA_NAME, XSS_NAME

# the metrics layer's scoping does not depend on where accounts live: SQLite only
AUTH_BACKENDS = ("sqlite",)

ATTACKS = (
    "760' OR '1'='1",
    "1; DROP TABLE schools; --",
    "x') UNION SELECT school_id, school_name FROM schools --",
    "$district",
)
API_PARAMS = (
    "district",
    "ward",
    "level",
    "ownership",
    "school",
    "by",
    "from",
    "to",
    "hierarchy_date",
    "snapshot",
    "format",
)
EXPORT_PARAMS = ("kpi", "district", "ward", "level", "ownership", "by", "from", "to", "asof", "chart")


def _fingerprint(store: Any) -> tuple[Any, ...]:
    counts = tuple(
        store.execute(f"SELECT count(*) FROM {table}").scalar()  # noqa: S608 - fixed table names
        for table in ("schools", "attendance", "digital", "connectivity", "ingest_runs")
    )
    return (store.data_version(), *counts)


@pytest.mark.parametrize("param", API_PARAMS)
def test_sql_injection_in_api_parameters_is_a_400_and_changes_nothing(
    param: str, signed_in: Any, auth_store: Any
) -> None:
    client, _ = signed_in("ad")
    before = _fingerprint(auth_store)
    for attack in ATTACKS:
        response = client.get("/api/v1/kpis/attendance_rate", query_string={param: attack})
        assert response.status_code == 400, (param, attack, response.get_data(as_text=True))
        assert response.get_json()["param"] == param
    assert _fingerprint(auth_store) == before


@pytest.mark.parametrize("param", EXPORT_PARAMS)
def test_sql_injection_in_export_parameters_is_a_400_and_changes_nothing(
    param: str, signed_in: Any, auth_store: Any
) -> None:
    client, _ = signed_in("an")
    before = _fingerprint(auth_store)
    for attack in ATTACKS:
        args = {"kpi": "attendance_rate", param: attack}
        response = client.get("/export/csv", query_string=args)
        assert response.status_code == 400, (param, attack, response.get_data(as_text=True))
    assert _fingerprint(auth_store) == before


def test_sql_injection_from_a_district_officer_is_refused(signed_in: Any, auth_store: Any) -> None:
    client, _ = signed_in("of")
    before = _fingerprint(auth_store)
    for attack in ATTACKS:
        for param in ("district", "ward", "school"):
            assert client.get("/api/v1/kpis/attendance_rate", query_string={param: attack}).status_code == 403
    assert _fingerprint(auth_store) == before


def test_school_named_like_html_is_sent_as_text(signed_in: Any, city: Any) -> None:
    """Dash sends layouts as JSON that React renders as text; the HTML pages escape it."""
    client, csrf = signed_in("ad")
    from .test_matrix import page_body

    response = client.post(
        "/_dash-update-component", json=page_body(f"/school/{city.own_school}"), headers={"X-CSRFToken": csrf}
    )
    assert response.status_code == 200
    assert XSS_NAME in json.dumps(response.get_json(), ensure_ascii=False)  # a string prop, not markup
    assert "dangerously_allow_html" not in response.get_data(as_text=True)
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert "<img src=x" not in audit_page


def test_csv_exports_neutralise_formulas(signed_in: Any, city: Any) -> None:
    client, _ = signed_in("an")
    export = client.get(f"/export/csv?kpi=attendance_rate&by=school&district={city.own}")
    assert export.status_code == 200
    labels = [
        row["label"] for row in csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff")))
    ]
    assert "'" + FORMULA_NAME in labels and FORMULA_NAME not in labels
    assert XSS_NAME in labels
