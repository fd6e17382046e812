"""One answer for ``ioc alerts list`` and ``GET /api/v1/alerts``: parameters, scoping, JSON and CSV.

JSON: ``{"alerts": [{"id", "rule", "kind", "kpi", "level", "unit", "unit_name", "start", "end",
"severity", "status", "value", "expected", "message", ...}]}`` (SPEC section 5); ``status`` is
``open`` or ``resolved``; the fields after ``message`` (state, acknowledgement, owner, district,
ward, silenced, details, actions) are extras a client may ignore.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from ioc.alerts import records
from ioc.auth.access import AccessScope
from ioc.auth.db import AuthDb, Row
from ioc.metrics.errors import QueryError
from ioc.metrics.params import parse_date

STATUSES = ("open", "resolved", "all")
FORMATS = ("json", "csv")
PARAMS = ("from", "to", "status", "format", "lang")
FIELDS = (
    "id",
    "rule",
    "kind",
    "kpi",
    "level",
    "unit",
    "unit_name",
    "start",
    "end",
    "severity",
    "status",
    "value",
    "expected",
    "message",
)


@dataclass(frozen=True)
class ListQuery:
    date_from: date | None = None
    date_to: date | None = None
    status: str = "all"
    format: str = "json"
    lang: str = "vi"


def parse(params: Mapping[str, str | None]) -> ListQuery:
    """A ListQuery from string parameters; a bad or unknown one is a QueryError naming it."""
    unknown = sorted(set(params) - set(PARAMS))
    if unknown:
        raise QueryError(unknown[0], f"unknown parameter; known: {', '.join(PARAMS)}")
    status = params.get("status") or "all"
    if status not in STATUSES:
        raise QueryError("status", f"{status!r} is not one of {', '.join(STATUSES)}")
    fmt = params.get("format") or "json"
    if fmt not in FORMATS:
        raise QueryError("format", f"{fmt!r} is not one of {', '.join(FORMATS)}")
    lang = params.get("lang") or "vi"
    if lang not in ("vi", "en"):
        raise QueryError("lang", f"{lang!r} is not one of vi, en")
    first, last = parse_date("from", params.get("from")), parse_date("to", params.get("to"))
    if first and last and first > last:
        raise QueryError("from", f"{first} is after --to {last}")
    return ListQuery(first, last, status, fmt, lang)


def visible(row: Row, access: AccessScope | None) -> bool:
    """Whether ``access`` may see the alert: its district (or ward, or for a school's alert the
    school: a principal's); city alerts need the whole city."""
    if access is None:
        return True
    school = row["unit"] if row["level"] == "school" else None
    return access.allows_school(school, row["ward"], row["district"])


def alert_json(row: Row, lang: str, actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    def when(stamp: float | None) -> str | None:
        return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds") if stamp else None

    out = {
        "id": int(row["id"]),
        "rule": row["rule"],
        "kind": row["kind"],
        "kpi": row["kpi"],
        "level": row["level"],
        "unit": row["unit"],
        "unit_name": row["unit_name"],
        "start": row["start_day"],
        "end": row["end_day"],
        "severity": row["severity"],
        "status": "open" if row["end_day"] is None else "resolved",
        "value": row["value"],
        "expected": row["expected"],
        "message": row["message_en"] if lang == "en" else row["message_vi"],
        "state": row["state"],
        "district": row["district"],
        "ward": row["ward"],
        "silenced": bool(row["silenced"]),
        "acknowledged_by": row["acknowledged_by"],
        "acknowledged_at": when(row["acknowledged_at"]),
        "owner": row["owner"],
        "resolved_by": row["resolved_by"],
        "resolved_reason": row["resolved_reason"],
        "details": json.loads(row["details"] or "{}"),
    }
    if actions is not None:
        out["actions"] = [a | {"at": when(a["at"])} for a in actions]
    return out


def answer(db: AuthDb, query: ListQuery, access: AccessScope | None) -> dict[str, Any]:
    rows = [
        r
        for r in records.select(records.ensure(db), query.date_from, query.date_to, query.status)
        if visible(r, access)
    ]
    logs = records.actions(db, (int(r["id"]) for r in rows))
    return {"alerts": [alert_json(r, query.lang, logs.get(int(r["id"]), [])) for r in rows]}


def ordered(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For people (the wall and the alerts page): new alerts first (open, nobody acknowledged or took
    them), then the ones someone took, then resolved ones; silenced ones after the others of their
    group; newest first, critical before warning before info on the same day."""
    weight = {"critical": 0, "warning": 1, "info": 2}

    def group(a: dict[str, Any]) -> int:
        return 2 if a["status"] == "resolved" else (1 if a["acknowledged_by"] or a["owner"] else 0)

    alerts = sorted(alerts, key=lambda a: (weight.get(a["severity"], 3), -a["id"]))
    alerts = sorted(alerts, key=lambda a: a["start"], reverse=True)
    return sorted(alerts, key=lambda a: (group(a), a["silenced"]))


def to_csv(payload: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    extra = ("state", "acknowledged_by", "owner")
    writer.writerow(FIELDS + extra)
    for alert in payload["alerts"]:
        writer.writerow(["" if alert[k] is None else alert[k] for k in FIELDS + extra])
    return buffer.getvalue()


# -- the OpenAPI description of GET /api/v1/alerts and the actions (merged into ioc.api's document) --

OPENAPI_SCHEMAS: dict[str, Any] = {
    "Alert": {
        "type": "object",
        "required": list(FIELDS),
        "properties": {
            "id": {"type": "integer"},
            "rule": {"type": "string"},
            "kind": {"type": "string", "enum": ["threshold", "anomaly", "missing_report", "outage"]},
            "kpi": {"type": "string", "nullable": True},
            "level": {"type": "string", "enum": ["city", "district", "ward", "school"]},
            "unit": {
                "type": "string",
                "description": "district or ward code, school_id, or 'all' for the city",
            },
            "unit_name": {"type": "string"},
            "start": {"type": "string", "format": "date"},
            "end": {"type": "string", "format": "date", "nullable": True, "description": "null while open"},
            "severity": {"type": "string", "enum": ["critical", "warning", "info"]},
            "status": {"type": "string", "enum": ["open", "resolved"]},
            "value": {"type": "number", "nullable": True},
            "expected": {"type": "number", "nullable": True},
            "message": {"type": "string"},
            "state": {"type": "string", "enum": ["firing", "resolved"]},
            "acknowledged_by": {"type": "string", "nullable": True},
            "owner": {"type": "string", "nullable": True},
            "actions": {"type": "array", "items": {"type": "object"}},
        },
    },
    "AlertList": {
        "type": "object",
        "required": ["alerts"],
        "properties": {"alerts": {"type": "array", "items": {"$ref": "#/components/schemas/Alert"}}},
    },
}


# a text the actions keep: no control character but tab and newline (ioc.alerts.actions.perform)
TEXT_CHAR = "[^\\u0000-\\u0008\\u000b-\\u001f]"


def action_path(action: str, error: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI path item of one action on an alert: its body's ``text`` is required (and must
    hold more than white space) exactly when the action needs one (records.NEEDS_TEXT)."""
    needs = action in records.NEEDS_TEXT
    text: dict[str, Any] = {
        "type": "string",
        "maxLength": records.MAX_TEXT,
        "pattern": f"^{TEXT_CHAR}*[^\\s\\u0000-\\u001f]{TEXT_CHAR}*$" if needs else f"^{TEXT_CHAR}*$",
        "description": records.NEEDS_TEXT.get(action, "an optional note"),
    }
    body = {"type": "object", "properties": {"text": text}, **({"required": ["text"]} if needs else {})}
    return {
        "post": {
            "summary": {
                "ack": "Acknowledge an alert",
                "assign": "Assign an alert to someone (text: who)",
                "comment": "Comment on an alert (text: the comment)",
                "resolve": "Resolve an alert by hand (text: the reason)",
            }[action]
            + " (signed-in people; recorded and audited)",
            "operationId": f"{action}Alert",
            "parameters": [
                {
                    "name": "alert_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                }
            ],
            "requestBody": {
                "required": needs,
                "content": {
                    "application/json": {"schema": body},
                    "application/x-www-form-urlencoded": {"schema": body},
                },
            },
            "responses": {
                "200": {
                    "description": "the alert after the action",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"alert": {"$ref": "#/components/schemas/Alert"}},
                            }
                        }
                    },
                },
                "400": error,
                "403": error,
                "404": error,
                "409": error,
            },
        }
    }


def openapi_paths(date_param: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}

    return {
        "/api/v1/alerts": {
            "get": {
                "summary": "The alerts the caller may see (same parameters and JSON as `ioc alerts list`)",
                "operationId": "listAlerts",
                "parameters": [
                    query("from", date_param, "alerts still open on or after this day"),
                    query("to", date_param, "alerts started on or before this day"),
                    query(
                        "status",
                        {"type": "string", "enum": list(STATUSES), "default": "all"},
                        "open, resolved or all",
                    ),
                    query(
                        "format", {"type": "string", "enum": list(FORMATS), "default": "json"}, "json or csv"
                    ),
                    query(
                        "lang",
                        {"type": "string", "enum": ["vi", "en"], "default": "vi"},
                        "language of the messages",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "the alerts, newest first",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/AlertList"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "400": error,
                    "403": error,
                },
            }
        },
        **{f"/api/v1/alerts/{{alert_id}}/{action}": action_path(action, error) for action in records.ACTIONS},
    }
