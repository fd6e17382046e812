"""Alerts, their findings, silences and action log in the app database (ioc.auth.db.AuthDb).

Why there and not in the DuckLake store: web workers write here (acknowledge, assign, comment,
resolve) while the store has one writer, ingestion; and the app database is shared by every node
already (SQLite on one machine, PostgreSQL for several). The tables are created here, on first use,
in both dialects; SQL is written once in SQLite's dialect (the PostgreSQL backend translates it).

Tables:
- ``alert_findings``: what each rule found on each school day it was evaluated (rule, level, unit, day).
- ``alert_days``: the school days each rule was evaluated on (a finding's absence means something).
- ``alerts``: the episodes derived from the findings (ioc/alerts/lifecycle.py), one row per
  rule, unit and start, with their owner, acknowledgement and resolution.
- ``alert_actions``: every acknowledgement, assignment, comment and resolution: who, when, what.
- ``alert_silences``: known closures and planned outages; alerts they cover are recorded but not
  announced.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from ioc.alerts.detect import Finding
from ioc.alerts.lifecycle import Episode
from ioc.alerts.rules import Rule
from ioc.auth.db import AuthDb, Row

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    kind TEXT NOT NULL,
    kpi TEXT,
    level TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_name TEXT NOT NULL,
    district TEXT,                       -- the district code the unit lies in (who may see it)
    ward TEXT,
    start_day TEXT NOT NULL,             -- YYYY-MM-DD
    end_day TEXT,                        -- NULL while open
    fired_day TEXT,                      -- NULL while pending
    last_day TEXT NOT NULL,              -- the latest school day the condition held
    state TEXT NOT NULL,                 -- 'pending' | 'firing' | 'resolved'
    severity TEXT NOT NULL,
    value REAL,
    expected REAL,
    message_vi TEXT NOT NULL,
    message_en TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    silenced INTEGER NOT NULL DEFAULT 0,
    acknowledged_by TEXT,
    acknowledged_at REAL,
    owner TEXT,
    resolved_by TEXT,                    -- resolved by hand: who, when, why
    resolved_at REAL,
    resolved_reason TEXT,
    announced TEXT,                      -- the last transition handed to delivery
    announced_day TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (rule, level, unit, start_day)
);
CREATE INDEX IF NOT EXISTS alerts_days ON alerts(start_day, end_day);
CREATE TABLE IF NOT EXISTS alert_findings (
    rule TEXT NOT NULL,
    level TEXT NOT NULL,
    unit TEXT NOT NULL,
    day TEXT NOT NULL,
    unit_name TEXT NOT NULL,
    district TEXT,
    ward TEXT,
    value REAL,
    expected REAL,
    message_vi TEXT NOT NULL,
    message_en TEXT NOT NULL,
    details TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (rule, level, unit, day)
);
CREATE INDEX IF NOT EXISTS alert_findings_day ON alert_findings(rule, day);
CREATE TABLE IF NOT EXISTS alert_days (
    rule TEXT NOT NULL,
    day TEXT NOT NULL,
    evaluated_at REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,  -- the data version of what the rule read
    PRIMARY KEY (rule, day)
);
CREATE TABLE IF NOT EXISTS alert_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,                -- 'ack' | 'assign' | 'comment' | 'resolve'
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alert_actions_alert ON alert_actions(alert_id, at);
CREATE TABLE IF NOT EXISTS alert_silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT,                           -- NULL: every rule
    unit TEXT,                           -- NULL: every unit (of the district, if given)
    district TEXT,
    first_day TEXT NOT NULL,
    last_day TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

ACTIONS = ("ack", "assign", "comment", "resolve")
# the actions that need a text (what it is), and the longest text an action keeps; the API's schema
# (ioc.alerts.output.openapi_paths) and the check (ioc.alerts.actions.perform) both read these
NEEDS_TEXT = {"assign": "the person it is assigned to", "comment": "the comment", "resolve": "the reason"}
MAX_TEXT = 2000
_READY: weakref.WeakSet[AuthDb] = weakref.WeakSet()  # databases whose alert tables exist


def ensure(db: AuthDb) -> AuthDb:
    """Create the alert tables of ``db`` if missing (once per process and database)."""
    if db in _READY:
        return db
    script = SCHEMA
    if db.kind == "postgresql":
        script = script.replace(" REAL", " DOUBLE PRECISION").replace(
            "id INTEGER PRIMARY KEY AUTOINCREMENT", "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        )
    with db.connect() as con:
        if db.kind == "postgresql":
            con.execute("SELECT pg_advisory_xact_lock(hashtext('ioc_auth alerts schema'))")
        for statement in filter(None, (s.strip() for s in script.split(";"))):
            con.execute(statement)
    _READY.add(db)
    return db


# -- findings and evaluated days ----------------------------------------------------------------------


def save_findings(db: AuthDb, rule: Rule, days: list[date], findings: list[Finding], version: int) -> None:
    """Replace what ``rule`` found on ``days`` by ``findings``; mark the days evaluated."""
    now = time.time()
    with db.connect() as con:
        for day in days:
            con.execute("DELETE FROM alert_findings WHERE rule = ? AND day = ?", (rule.id, day.isoformat()))
            con.execute(
                "INSERT INTO alert_days (rule, day, evaluated_at, version) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (rule, day) DO UPDATE SET evaluated_at = excluded.evaluated_at, version = excluded.version",
                (rule.id, day.isoformat(), now, version),
            )
        for f in findings:
            con.execute(
                "INSERT INTO alert_findings (rule, level, unit, day, unit_name, district, ward, value, expected, "
                "message_vi, message_en, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.id,
                    f.level,
                    f.unit,
                    f.day.isoformat(),
                    f.unit_name,
                    f.district,
                    f.ward,
                    f.value,
                    f.expected,
                    f.messages.get("vi", ""),
                    f.messages.get("en", ""),
                    json.dumps(f.details),
                ),
            )


def evaluated_days(db: AuthDb, rule_id: str) -> list[date]:
    rows = db.query("SELECT day FROM alert_days WHERE rule = ? ORDER BY day", (rule_id,))
    return [date.fromisoformat(r[0]) for r in rows]


def evaluated_version(db: AuthDb, rule_id: str, day: date) -> int | None:
    rows = db.query("SELECT version FROM alert_days WHERE rule = ? AND day = ?", (rule_id, day.isoformat()))
    return int(rows[0][0]) if rows else None


def _finding(row: Row) -> Finding:
    return Finding(
        rule=row["rule"],
        level=row["level"],
        unit=row["unit"],
        unit_name=row["unit_name"],
        district=row["district"],
        ward=row["ward"],
        day=date.fromisoformat(row["day"]),
        value=row["value"],
        expected=row["expected"],
        messages={"vi": row["message_vi"], "en": row["message_en"]},
        details=json.loads(row["details"] or "{}"),
    )


def findings_of(db: AuthDb, rule_id: str, first: date, last: date) -> dict[tuple[str, str], list[Finding]]:
    """The findings of ``rule_id`` on units that had one in [first, last], with all their findings."""
    rows = db.query(
        """SELECT * FROM alert_findings f WHERE rule = ? AND EXISTS (
               SELECT 1 FROM alert_findings g WHERE g.rule = f.rule AND g.level = f.level AND g.unit = f.unit
                 AND g.day BETWEEN ? AND ?)
           ORDER BY level, unit, day""",
        (rule_id, first.isoformat(), last.isoformat()),
    )
    out: dict[tuple[str, str], list[Finding]] = {}
    for row in rows:
        out.setdefault((row["level"], row["unit"]), []).append(_finding(row))
    return out


# -- alerts ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """An alert whose announced state differs from its state: what delivery should be told."""

    alert_id: int
    transition: str  # 'firing' | 'repeat' | 'resolved'


def open_units(db: AuthDb, rule_id: str) -> set[tuple[str, str]]:
    rows = db.query("SELECT level, unit FROM alerts WHERE rule = ? AND end_day IS NULL", (rule_id,))
    return {(r[0], r[1]) for r in rows}


def _silenced(silences: list[Row], rule: str, unit: str, district: str | None, start: date) -> bool:
    day = start.isoformat()
    for s in silences:
        if (
            s["first_day"] <= day <= s["last_day"]
            and s["rule"] in (None, rule)
            and s["unit"] in (None, unit)
            and (s["district"] in (None, district))
        ):
            return True
    return False


def sync(db: AuthDb, rule: Rule, units: dict[tuple[str, str], list[Episode]], evaluated: list[date]) -> None:
    """Make the alerts of ``rule`` on these units what their episodes say (insert, update, withdraw).

    An alert resolved by hand stays resolved; an alert whose episode vanished (the data changed)
    is removed when nobody acted on it, else resolved with the reason 'withdrawn'."""
    now = time.time()
    silences = db.query("SELECT * FROM alert_silences")
    with db.connect() as con:
        for (level, unit), eps in units.items():
            existing = {
                r["start_day"]: r
                for r in con.execute(
                    "SELECT * FROM alerts WHERE rule = ? AND level = ? AND unit = ?", (rule.id, level, unit)
                ).fetchall()
            }
            keep = set()
            for ep in eps:
                f = ep.last
                start = ep.start.isoformat()
                keep.add(start)
                values = {
                    "unit_name": f.unit_name,
                    "district": f.district,
                    "ward": f.ward,
                    "end_day": ep.end.isoformat() if ep.end else None,
                    "fired_day": ep.fired.isoformat() if ep.fired else None,
                    "last_day": f.day.isoformat(),
                    "state": ep.state,
                    "value": f.value,
                    "expected": f.expected,
                    "message_vi": f.messages.get("vi", ""),
                    "message_en": f.messages.get("en", ""),
                    "details": json.dumps(
                        f.details | {"days": ep.days} if "days" not in f.details else f.details
                    ),
                    "silenced": int(_silenced(silences, rule.id, unit, f.district, ep.start)),
                }
                row = existing.get(start)
                if row is None:
                    names, marks = ", ".join(values), ", ".join("?" for _ in values)
                    con.execute(
                        f"INSERT INTO alerts (rule, kind, kpi, level, unit, severity, start_day, created_at, updated_at, {names}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, {marks})",  # noqa: S608 - names from this module
                        (
                            rule.id,
                            rule.kind,
                            rule.kpi,
                            level,
                            unit,
                            rule.severity,
                            start,
                            now,
                            now,
                            *values.values(),
                        ),
                    )
                    continue
                if row["resolved_by"]:  # resolved by hand: keeps its end and state
                    values.pop("end_day"), values.pop("state")
                sets = ", ".join(f"{k} = ?" for k in values)
                con.execute(
                    f"UPDATE alerts SET {sets}, updated_at = ? WHERE id = ?",  # noqa: S608 - names from this module
                    (*values.values(), now, row["id"]),
                )
            for start, row in existing.items():
                if (
                    start in keep
                    or row["state"] == "resolved"
                    and row["end_day"]
                    and row["end_day"] < evaluated[0].isoformat()
                ):
                    continue
                acted = con.execute(
                    "SELECT count(*) FROM alert_actions WHERE alert_id = ?", (row["id"],)
                ).fetchone()
                if acted and acted[0]:
                    con.execute(
                        "UPDATE alerts SET state = 'resolved', end_day = coalesce(end_day, last_day), "
                        "resolved_reason = coalesce(resolved_reason, 'withdrawn: the data changed'), updated_at = ? "
                        "WHERE id = ?",
                        (now, row["id"]),
                    )
                else:
                    con.execute("DELETE FROM alerts WHERE id = ?", (row["id"],))


def changes(db: AuthDb, rule: Rule, latest: date, evaluated: list[date]) -> list[Change]:
    """The announcements due for ``rule`` as of school day ``latest``: a firing alert never
    announced, a still-firing one announced ``rule.repeat`` school days ago or more, and the end of
    one that was announced. Silenced alerts and alerts of the past (ended before they were ever
    announced, as in a backfill) are not announced."""
    out: list[Change] = []
    rows = db.query(
        "SELECT id, state, announced, announced_day, silenced, resolved_by FROM alerts "
        "WHERE rule = ? AND state != 'pending' AND (announced IS NULL OR announced != 'resolved')",
        (rule.id,),
    )
    for r in rows:
        if r["silenced"]:
            continue
        if r["state"] == "firing" and r["announced"] is None:
            out.append(Change(r["id"], "firing"))
        elif r["state"] == "firing" and rule.repeat and r["announced_day"]:
            since = sum(1 for d in evaluated if date.fromisoformat(r["announced_day"]) < d <= latest)
            if since >= rule.repeat:
                out.append(Change(r["id"], "repeat"))
        elif r["state"] == "resolved" and r["announced"] in ("firing", "repeat"):
            out.append(Change(r["id"], "resolved"))
    return out


def mark_announced(db: AuthDb, done: Iterable[Change], latest: date) -> None:
    with db.connect() as con:
        for change in done:
            con.execute(
                "UPDATE alerts SET announced = ?, announced_day = ? WHERE id = ?",
                (change.transition, latest.isoformat(), change.alert_id),
            )


def mark_past_as_announced(db: AuthDb, rule_id: str) -> None:
    """Alerts that ended without ever being announced (a backfill) are never announced later."""
    with db.connect() as con:
        con.execute(
            "UPDATE alerts SET announced = 'resolved' WHERE rule = ? AND state = 'resolved' AND announced IS NULL",
            (rule_id,),
        )


def get(db: AuthDb, alert_id: int) -> Row | None:
    rows = db.query("SELECT * FROM alerts WHERE id = ?", (alert_id,))
    return rows[0] if rows else None


def select(db: AuthDb, date_from: date | None, date_to: date | None, status: str) -> list[Row]:
    """Alerts (not pending) overlapping [date_from, date_to], newest first; status open|resolved|all."""
    where = ["state != 'pending'"]
    params: list[Any] = []
    if date_to is not None:
        where.append("start_day <= ?")
        params.append(date_to.isoformat())
    if date_from is not None:
        where.append("(end_day IS NULL OR end_day >= ?)")
        params.append(date_from.isoformat())
    if status == "open":
        where.append("end_day IS NULL")
    elif status == "resolved":
        where.append("end_day IS NOT NULL")
    return db.query(
        "SELECT * FROM alerts WHERE " + " AND ".join(where) + " ORDER BY start_day DESC, id DESC",  # noqa: S608
        params,
    )


def actions(db: AuthDb, alert_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    ids = list(alert_ids)
    out: dict[int, list[dict[str, Any]]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        marks = ", ".join("?" for _ in chunk)
        for r in db.query(
            f"SELECT * FROM alert_actions WHERE alert_id IN ({marks}) ORDER BY at, id",  # noqa: S608 - marks only
            chunk,
        ):
            out.setdefault(int(r["alert_id"]), []).append(
                {"at": r["at"], "actor": r["actor"], "action": r["action"], "detail": r["detail"]}
            )
    return out


def act(db: AuthDb, alert_id: int, action: str, actor: str, detail: str, day: date | None = None) -> None:
    """Record ``action`` on the alert (and its effect: acknowledged, owner, resolved by hand)."""
    now = time.time()
    with db.connect() as con:
        con.execute(
            "INSERT INTO alert_actions (alert_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
            (alert_id, now, actor, action, detail),
        )
        if action == "ack":
            con.execute(
                "UPDATE alerts SET acknowledged_by = coalesce(acknowledged_by, ?), "
                "acknowledged_at = coalesce(acknowledged_at, ?), updated_at = ? WHERE id = ?",
                (actor, now, now, alert_id),
            )
        elif action == "assign":
            con.execute("UPDATE alerts SET owner = ?, updated_at = ? WHERE id = ?", (detail, now, alert_id))
        elif action == "resolve":
            con.execute(
                "UPDATE alerts SET state = 'resolved', end_day = coalesce(end_day, ?), resolved_by = ?, "
                "resolved_at = ?, resolved_reason = ?, updated_at = ? WHERE id = ?",
                (day.isoformat() if day else None, actor, now, detail, now, alert_id),
            )


def add_silence(
    db: AuthDb,
    *,
    rule: str | None,
    unit: str | None,
    district: str | None,
    first: date,
    last: date,
    reason: str,
    actor: str,
) -> int:
    with db.connect() as con:
        con.execute(
            "INSERT INTO alert_silences (rule, unit, district, first_day, last_day, reason, created_by, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rule, unit, district, first.isoformat(), last.isoformat(), reason, actor, time.time()),
        )
        row = con.execute("SELECT max(id) FROM alert_silences").fetchone()
    return int(row[0]) if row else 0
