"""Alerts under the access rules, signed in, on SQLite and PostgreSQL: an officer lists and acts on
their district's alerts only; a state-changing request needs the session's CSRF token; API
tokens and kiosks may not act; every action and refusal is in the audit log."""

from __future__ import annotations

import time
from typing import Any

import pytest


@pytest.fixture
def two_alerts(db: Any, city: Any) -> dict[str, int]:
    """An open alert in the officer's district and one in another district."""
    from ioc.alerts import records

    records.ensure(db)
    ids = {}
    now = time.time()
    with db.connect() as con:
        for name, district, ward in (
            ("own", city.own, city.own_ward),
            ("other", city.other, city.other_ward),
        ):
            con.execute("DELETE FROM alerts WHERE rule = 'test_rule' AND unit = ?", (ward,))
            con.execute(
                "INSERT INTO alerts (rule, kind, kpi, level, unit, unit_name, district, ward, start_day, fired_day, "
                "last_day, state, severity, value, expected, message_vi, message_en, created_at, updated_at) "
                "VALUES ('test_rule', 'anomaly', 'attendance_rate', 'ward', ?, ?, ?, ?, '2026-11-30', '2026-11-30', "
                "'2026-11-30', 'firing', 'critical', 0.64, 0.95, ?, ?, ?, ?)",
                (ward, f"ward {name}", district, ward, f"{name}: 64 %", f"{name}: 64 %", now, now),
            )
        for name, ward in (("own", city.own_ward), ("other", city.other_ward)):
            row = con.execute(
                "SELECT id FROM alerts WHERE rule = 'test_rule' AND unit = ?", (ward,)
            ).fetchone()
            assert row is not None
            ids[name] = int(row[0])
    return ids


def test_an_officer_lists_and_acts_on_their_districts_alerts_only(signed_in, two_alerts, db):
    from ioc.auth import audit

    client, csrf = signed_in("of")
    listed = client.get("/api/v1/alerts?status=open").get_json()["alerts"]
    ids = {a["id"] for a in listed}
    assert two_alerts["own"] in ids and two_alerts["other"] not in ids
    assert client.get("/api/v1/alerts?format=csv").status_code == 403  # exports are for analysts
    headers = {"X-CSRFToken": csrf}
    assert client.post(f"/api/v1/alerts/{two_alerts['own']}/ack", json={}).status_code == 403  # no CSRF
    done = client.post(
        f"/api/v1/alerts/{two_alerts['own']}/comment", json={"text": "Đã gọi phường"}, headers=headers
    )
    assert done.status_code == 200 and done.get_json()["alert"]["id"] == two_alerts["own"]
    refused = client.post(f"/api/v1/alerts/{two_alerts['other']}/ack", json={}, headers=headers)
    assert refused.status_code == 403
    entries = [e for e in audit.entries(db, event="alert") if e.actor == "user:of"]
    assert {(e.outcome, e.target) for e in entries} >= {
        ("ok", f"alert:{two_alerts['own']}"),
        ("denied", f"alert:{two_alerts['other']}"),
    }
    # leadership sees both
    everyone, _ = signed_in("le")
    seen = {a["id"] for a in everyone.get("/api/v1/alerts").get_json()["alerts"]}
    assert {two_alerts["own"], two_alerts["other"]} <= seen


def test_api_tokens_read_but_do_not_act(auth_app, db, two_alerts):
    from ioc.auth import tokens

    secret = tokens.create(db, f"alerts-reader-{int(time.time() * 1000)}", "api", ("read",))[0]
    client = auth_app.server.test_client()
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/alerts", headers=headers).status_code == 200
    assert client.post(f"/api/v1/alerts/{two_alerts['own']}/ack", json={}, headers=headers).status_code == 403


def test_a_principal_sees_and_acts_on_their_schools_alerts_only(signed_in, two_alerts, db, city):
    """A school's alert is its principal's; the ward's and other schools' alerts are not."""
    from ioc.alerts import records

    now = time.time()
    school_ids = {}
    with db.connect() as con:
        for name, school in (("mine", city.own_school), ("neighbour", f"{city.own_school}-next")):
            con.execute("DELETE FROM alerts WHERE rule = 'test_school' AND unit = ?", (school,))
            con.execute(
                "INSERT INTO alerts (rule, kind, kpi, level, unit, unit_name, district, ward, start_day, fired_day, "
                "last_day, state, severity, value, expected, message_vi, message_en, created_at, updated_at) "
                "VALUES ('test_school', 'missing_report', 'reporting_rate', 'school', ?, ?, ?, ?, '2026-11-30', "
                "'2026-11-30', '2026-11-30', 'firing', 'warning', 0, 1, 'x', 'x', ?, ?)",
                (school, name, city.own, city.own_ward, now, now),
            )
            row = con.execute(
                "SELECT id FROM alerts WHERE rule = 'test_school' AND unit = ?", (school,)
            ).fetchone()
            school_ids[name] = int(row[0])
    assert records.get(db, school_ids["mine"]) is not None
    client, csrf = signed_in("pr")
    seen = {a["id"] for a in client.get("/api/v1/alerts?status=all").get_json()["alerts"]}
    assert school_ids["mine"] in seen
    assert not seen & {school_ids["neighbour"], two_alerts["own"], two_alerts["other"]}
    headers = {"X-CSRFToken": csrf}
    mine = client.post(
        f"/api/v1/alerts/{school_ids['mine']}/comment", json={"text": "đã gọi"}, headers=headers
    )
    assert mine.status_code == 200
    ward = client.post(f"/api/v1/alerts/{two_alerts['own']}/ack", json={}, headers=headers)
    assert ward.status_code == 403
