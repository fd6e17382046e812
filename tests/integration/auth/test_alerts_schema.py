"""The alert endpoints answer what their OpenAPI document promises (schemathesis): every body the
schema accepts is acted on (200, or 409 for an alert resolved already), every body it refuses is
refused (400), and each answer matches its declared schema. Issue 12: ``POST
/api/v1/alerts/<id>/resolve`` with ``{}`` answered 400 while the schema said ``text`` was optional;
now the schema says what each action needs."""

from __future__ import annotations

import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from jsonschema import Draft4Validator
from schemathesis import GenerationMode
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation

AUTH_BACKENDS = ("sqlite",)  # the endpoints' checks do not depend on where accounts live
EXAMPLES = settings(
    max_examples=60,
    derandomize=True,  # the same cases on every run: CI never turns red on a new draw (raise to explore)
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def alert(db: Any, city: Any) -> int:
    """A firing alert of the officer's own district."""
    from ioc.alerts import records

    records.ensure(db)
    now = time.time()
    with db.connect() as con:
        con.execute("DELETE FROM alerts WHERE rule = 'schema_rule'")
        con.execute(
            "INSERT INTO alerts (rule, kind, kpi, level, unit, unit_name, district, ward, start_day, fired_day, "
            "last_day, state, severity, value, expected, message_vi, message_en, created_at, updated_at) "
            "VALUES ('schema_rule', 'anomaly', 'attendance_rate', 'ward', ?, 'w', ?, ?, '2026-11-30', "
            "'2026-11-30', '2026-11-30', 'firing', 'critical', 0.6, 0.95, 'x', 'x', ?, ?)",
            (city.own_ward, city.own, city.own_ward, now, now),
        )
        row = con.execute("SELECT id FROM alerts WHERE rule = 'schema_rule'").fetchone()
    return int(row[0])


def _operations(auth_app: Any, client: Any) -> list[Any]:
    document = client.get("/api/v1/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [r.ok() for r in schema.get_all_operations()]
    return [op for op in operations if op.method.upper() == "POST" and op.path.startswith("/api/v1/alerts/")]


def _send(client: Any, csrf: str, case: Any) -> Any:
    """``case`` sent through the Flask test client as the signed-in officer."""
    kwargs = case.as_transport_kwargs(base_url="http://localhost")
    # answers uncompressed (the validation reads the body as sent, not decoded)
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "accept-encoding"}
    headers["X-CSRFToken"] = csrf
    return client.open(
        case.formatted_path,
        method=case.method,
        headers=headers,
        query_string=kwargs.get("params"),
        data=kwargs.get("data"),
        json=kwargs.get("json"),
    )


@pytest.mark.parametrize("action", ["ack", "assign", "comment", "resolve"])
def test_the_actions_accept_exactly_what_their_schema_says(
    action: str, auth_app: Any, signed_in: Any, alert: int
) -> None:
    client, csrf = signed_in("of")
    operation = next(op for op in _operations(auth_app, client) if op.path.endswith("/" + action))

    @EXAMPLES
    @given(case=operation.as_strategy(GenerationMode.POSITIVE, path_parameters={"alert_id": alert}))
    def positive(case: Any) -> None:
        response = _send(client, csrf, case)
        assert response.status_code in (200, 409), (case.body, response.get_data(as_text=True)[:300])
        case.validate_response(response, checks=[], additional_checks=[])  # conformance to the schema

    body_schema = operation.definition.raw["requestBody"]["content"]["application/json"]["schema"]

    @EXAMPLES
    @given(case=operation.as_strategy(GenerationMode.NEGATIVE, path_parameters={"alert_id": alert}))
    def negative(case: Any) -> None:
        # JSON bodies the generator meant to break (a form cannot carry most of them faithfully):
        # the schema itself (jsonschema, as a client would check) is the oracle of what is valid
        assume(case.media_type == "application/json" and not isinstance(case.body, NotSet))
        assume(case.meta.components[ParameterLocation.BODY].mode == GenerationMode.NEGATIVE)
        valid = not isinstance(case.body, bytes) and Draft4Validator(body_schema).is_valid(case.body)
        response = _send(client, csrf, case)
        expected = (200, 409) if valid else (400,)
        assert response.status_code in expected, (case.body, response.get_data(as_text=True)[:300])

    positive()
    negative()


def test_an_empty_body_is_what_each_action_needs(signed_in: Any, alert: int) -> None:
    client, csrf = signed_in("of")
    headers = {"X-CSRFToken": csrf}
    assert client.post(f"/api/v1/alerts/{alert}/ack", json={}, headers=headers).status_code == 200
    assert client.post(f"/api/v1/alerts/{alert}/ack", headers=headers).status_code == 200
    refused = client.post(f"/api/v1/alerts/{alert}/resolve", json={}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["param"] == "text"
    document = client.get("/api/v1/openapi.json").get_json()
    resolve = document["paths"]["/api/v1/alerts/{alert_id}/resolve"]["post"]["requestBody"]
    assert resolve["required"] and resolve["content"]["application/json"]["schema"]["required"] == ["text"]
    ack = document["paths"]["/api/v1/alerts/{alert_id}/ack"]["post"]["requestBody"]
    assert not ack["required"] and "required" not in ack["content"]["application/json"]["schema"]
    for body in ([], "x", {"text": 5}, {"text": None}):
        assert client.post(f"/api/v1/alerts/{alert}/comment", json=body, headers=headers).status_code == 400
    huge = client.post(f"/api/v1/alerts/{2**70}/ack", json={}, headers=headers)
    assert huge.status_code == 404
    done = client.post(f"/api/v1/alerts/{alert}/resolve", json={"text": "đã xử lý"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["alert"]["status"] == "resolved"
