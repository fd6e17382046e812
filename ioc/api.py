"""The HTTP JSON API: ``/api/v1/kpis``, ``/api/v1/kpis/<id>`` and ``/api/v1/openapi.json``.

The same parameters and JSON as ``ioc kpi`` (both parse with ioc.metrics.params and both answer
with KpiResult.to_json); answers come from the request's metrics front door (ioc.frontdoor), cached. Bad parameters get HTTP 400 with
``{"error": ..., "param": ...}``. The access rules of the pages apply: the app may register a
function returning the caller's access scope (a Scope whose filters bound what may be asked).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.wrappers import Response as BaseResponse

from ioc.alerts import output as alert_output
from ioc.alerts import records
from ioc.alerts.actions import ActionError, perform
from ioc.auth import web as auth_web
from ioc.auth.db import open_db
from ioc.auth.web import client_ip, current_principal, current_state_or_none
from ioc.frontdoor import current_metrics
from ioc.messages import msg
from ioc.metrics import cache
from ioc.metrics.errors import QueryError
from ioc.metrics.front import Metrics
from ioc.metrics.output import to_csv
from ioc.metrics.params import DATE_PATTERN, FORMATS, parse_query
from ioc.metrics.query import BY, FILTERS, Scope
from ioc.metrics.registry import KPIS

if TYPE_CHECKING:
    from ioc.auth.db import AuthDb
    from ioc.store import Store

api = Blueprint("api", __name__, url_prefix="/api/v1")

EXTENSION = "ioc_api"


def register_api(
    flask_server: Flask,
    store_factory: Callable[[], Store],
    access_scope: Callable[[], Scope | None] | None = None,
) -> None:
    """Serve the API from ``flask_server``; ``access_scope()`` (optional) gives the caller's allowed scope."""
    flask_server.extensions[EXTENSION] = {"store": store_factory, "access": access_scope}
    cache.init_cache(flask_server)
    if "api" not in flask_server.blueprints:
        flask_server.register_blueprint(api)


def _metrics() -> Metrics:
    """The request's metrics front door (ioc.frontdoor), over the store this API serves."""
    return current_metrics(current_app.extensions[EXTENSION]["store"]())


def _error(status: int, message: str, param: str | None) -> Response:
    response = jsonify({"error": message, "param": param})
    response.status_code = status
    return response


@api.errorhandler(QueryError)
def _bad_parameter(error: QueryError) -> Response:
    return _error(400, error.message, error.param)


def _apply_access(scope: Scope) -> tuple[Scope, Any]:
    """Narrow the requested scope to the caller's access scope; asking outside it is a 403."""
    getter = current_app.extensions[EXTENSION]["access"]
    allowed = getter() if getter else None
    if allowed is None:
        return scope, None
    changes = {}
    for name, value in allowed.items():
        asked = getattr(scope, name)
        if asked is not None and asked != value:
            raise PermissionError(name)
        changes[name] = value
    return replace(scope, **changes), allowed


@api.get("/kpis")
def list_kpis() -> Response:
    lang = request.args.get("lang")
    if lang not in (None, "vi", "en"):
        raise QueryError("lang", "one of vi, en")
    return jsonify({"kpis": [k.to_json(lang) for k in KPIS.values()]})


@api.get("/kpis/<kpi_id>")
def get_kpi_values(kpi_id: str) -> BaseResponse:
    params = {k: request.args.get(k) for k in request.args if k != "lang"}
    query, fmt = parse_query(kpi_id, params)
    try:
        scope, _allowed = _apply_access(query.scope)
    except PermissionError as denied:
        reason = msg("refusal.own_units", param=denied.args[0])
        if auth_web.current_state_or_none() is None:  # no access control on this server to audit in
            return _error(403, str(reason), denied.args[0])
        return auth_web.refuse(auth_web.current_principal(), reason, denied.args[0])
    query = replace(query, scope=scope)
    metrics = _metrics()
    param = "hierarchy_date" if query.hierarchy_date is not None else "snapshot"
    placement = auth_web.placement_refusal(metrics, query.hierarchy_date, query.snapshot, param)
    if placement:
        return auth_web.refuse(auth_web.current_principal(), placement, param)  # audited
    result = metrics.answer(query)
    if fmt == "csv":
        return Response(
            to_csv(result),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{kpi_id}.csv"'},
        )
    return jsonify(result.to_json())


@api.get("/alerts")
def list_alerts() -> Response:
    """The alerts the caller may see: the same parameters and JSON as ``ioc alerts list``."""
    query = alert_output.parse({k: request.args.get(k) for k in request.args})
    payload = alert_output.answer(alerts_db(), query, _metrics().access)
    if query.format == "csv":
        return Response(
            alert_output.to_csv(payload),
            mimetype="text/csv",
            headers={"Content-Disposition": 'attachment; filename="alerts.csv"'},
        )
    return jsonify(payload)


MAX_ID = 2**63 - 1


@api.post("/alerts/<int:alert_id>/<action>")
def act_on_alert(alert_id: int, action: str) -> Response:
    """Acknowledge, assign, comment or resolve (form or JSON field ``text``), as the signed-in user."""
    principal = current_principal()
    if principal is not None and principal.kind not in ("user", "open"):
        return _error(403, "only signed-in people act on alerts (not API tokens or kiosks)", None)
    if alert_id > MAX_ID:  # no database holds such an id (SQLite's and PostgreSQL's are 64-bit)
        return _error(404, f"no alert {alert_id}", None)
    if request.is_json and request.get_data(cache=True):  # an empty body is no body; white space is bad JSON
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, 'the JSON body must be an object, e.g. {"text": "..."}', None)
        text = body.get("text")
        if "text" in body and not isinstance(text, str):  # null too: the schema says a string
            return _error(400, "text must be a string", "text")
    else:
        text = request.form.get("text")
    try:
        perform(
            alerts_db(),
            alert_id,
            action,
            principal.label if principal else "web",
            str(text or ""),
            access=_metrics().access,
            ip=client_ip(),
        )
    except ActionError as error:
        return _error(error.status, str(error), "text" if error.status == 400 else None)
    row = records.get(alerts_db(), alert_id)
    assert row is not None
    return jsonify({"alert": alert_output.alert_json(row, request.args.get("lang") or "vi")})


def alerts_db() -> AuthDb:
    """The app database the alerts live in: the access-control one, else the store's folder's."""
    state = current_state_or_none()
    if state is not None:
        return records.ensure(state.db)
    return records.ensure(open_db(current_app.extensions[EXTENSION]["store"]().layout.root))


@api.get("/openapi.json")
def openapi() -> Response:
    metrics = _metrics()
    return jsonify(openapi_document(metrics.readable_versions()))


def openapi_document(versions: tuple[int, int] | None = None) -> dict[str, Any]:
    """The OpenAPI 3 description of this API; ``versions`` (first, last) bounds ``snapshot`` to
    the data versions the store can read now (engine.readable_versions)."""
    date_param = {
        "type": "string",
        # exactly what ioc.metrics.params.parse_date accepts (a day that exists), or empty
        "pattern": "^$|" + DATE_PATTERN,
        "description": "YYYY-MM-DD or DD/MM/YYYY, zero-padded, a day that exists (empty: the default)",
        "example": "2026-11-23",
    }
    snapshot: dict[str, Any] = {"type": "integer", "minimum": 0}
    if versions is not None:
        snapshot = {"type": "integer", "minimum": versions[0], "maximum": versions[1]}

    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    error = {
        "description": "a bad parameter",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    number = {"type": "number", "nullable": True}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Education IOC KPI API",
            "version": "1.0.0",
            "description": "KPIs of Ho Chi Minh City's schools; the same answers as `ioc kpi`.",
        },
        "paths": {
            "/api/v1/kpis": {
                "get": {
                    "summary": "The KPI definitions",
                    "operationId": "listKpis",
                    "parameters": [
                        query(
                            "lang",
                            {"type": "string", "enum": ["vi", "en"]},
                            "texts in one language (default: both)",
                        )
                    ],
                    "responses": {
                        "200": {
                            "description": "the registry",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["kpis"],
                                        "properties": {
                                            "kpis": {"type": "array", "items": {"type": "object"}}
                                        },
                                    }
                                }
                            },
                        },
                        "400": error,
                    },
                }
            },
            "/api/v1/kpis/{kpi_id}": {
                "get": {
                    "summary": "A KPI for the city or by a dimension, over a period or window",
                    "operationId": "getKpi",
                    "parameters": [
                        {
                            "name": "kpi_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": list(KPIS)},
                        },
                        query("by", {"type": "string", "enum": list(BY), "default": "all"}, "grouping"),
                        query("from", date_param, "first date of the period (default: see docs)"),
                        query(
                            "to",
                            date_param,
                            "last date; ends the window of window KPIs (default: latest data)",
                        ),
                        *(
                            query(name, {"type": "string"}, f"only this {name}: a code or a name")
                            for name in FILTERS
                        ),
                        query(
                            "hierarchy_date",
                            date_param,
                            "group schools by the hierarchy as of this date; a caller limited to some "
                            "districts gets 403 when that shows a school outside them today",
                        ),
                        query(
                            "snapshot",
                            snapshot,
                            "data version to read (time travel), between the first the store can read "
                            "and the newest (the bounds are those of when this document was fetched); "
                            "a caller limited to some districts gets 403 when that version shows a "
                            "school outside them today",
                        ),
                        query(
                            "format",
                            {"type": "string", "enum": list(FORMATS), "default": "json"},
                            "json or csv",
                        ),
                    ],
                    "responses": {
                        "200": {
                            "description": "the KPI's rows",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/KpiResult"}},
                                "text/csv": {"schema": {"type": "string"}},
                            },
                        },
                        "400": error,
                        "403": error,
                    },
                }
            },
            **alert_output.openapi_paths(date_param, error),
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "operationId": "openapi",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "param"],
                    "properties": {
                        "error": {"type": "string"},
                        "param": {"type": "string", "nullable": True},
                    },
                },
                **alert_output.OPENAPI_SCHEMAS,
                "KpiRow": {
                    "type": "object",
                    "required": ["key", "label", "value", "numerator", "denominator", "schools_reporting"],
                    "properties": {
                        "key": {"type": "string"},
                        "label": {"type": "string"},
                        "value": number,
                        "numerator": number,
                        "denominator": number,
                        "schools_reporting": {"type": "integer"},
                        "as_of": {"type": "string", "nullable": True},
                        "status": {"type": "string", "enum": ["green", "amber", "red", "no_data"]},
                    },
                },
                "KpiResult": {
                    "type": "object",
                    "required": ["kpi", "unit", "from", "to", "by", "rows"],
                    "properties": {
                        "kpi": {"type": "string"},
                        "unit": {"type": "string"},
                        "from": {"type": "string", "nullable": True},
                        "to": {"type": "string", "nullable": True},
                        "by": {"type": "string", "enum": list(BY)},
                        "rows": {"type": "array", "items": {"$ref": "#/components/schemas/KpiRow"}},
                        "data_version": {"type": "integer"},
                    },
                },
            }
        },
    }
