"""Evaluation: every rule on school days, in date order, recorded; the changes handed to delivery.

``evaluate(store, db, date_from, date_to, notify)`` reads what each rule needs for the whole range
at once (a full year is a few seconds), records its findings per school day, derives the alerts
(ioc/alerts/lifecycle.py) and hands an :class:`~ioc.alerts.events.AlertEvent` per announced change
to ``notify`` (``ioc.notify.enqueue`` when delivery is installed; None records without telling).
Idempotent: evaluating a day again replaces its findings and gives the same alerts.

``after_load(store)`` is what the scheduler calls after a load that changed data: the latest school
day, only the rules whose data changed since they were last evaluated on it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from ioc import i18n, notify, settings
from ioc.alerts import data, detect, lifecycle, records
from ioc.alerts.events import AlertEvent
from ioc.alerts.rules import Rule
from ioc.alerts.rules import current as current_rules
from ioc.auth.db import open_db
from ioc.calendar import SchoolCalendar
from ioc.calendar import current as current_calendar
from ioc.metrics.front import Metrics
from ioc.metrics.query import KpiQuery, Scope
from ioc.metrics.registry import get_kpi
from ioc.metrics.table_versions import tables_version

if TYPE_CHECKING:
    from ioc.auth.db import AuthDb, Row
    from ioc.store import Store

log = logging.getLogger(__name__)

Notify = Callable[[list[AlertEvent]], object]
HISTORY_DAYS = 120  # calendar days of attendance read before the first evaluated day (baselines)


@dataclass
class Summary:
    days: list[date] = field(default_factory=list)
    findings: dict[str, int] = field(default_factory=dict)  # rule -> findings recorded
    events: list[AlertEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rules whose data had not changed
    timings: dict[str, float] = field(default_factory=dict)  # rule -> seconds
    seconds: float = 0.0


def default_notify(db: AuthDb) -> Notify:
    """Delivery: the events go to the outbox of ``db`` (``ioc.notify.enqueue``, no network); the
    notify job sends them, grouped per contact point."""

    def enqueue(events: list[AlertEvent]) -> object:
        return notify.enqueue(db, events)

    return enqueue


def latest_school_day(
    store: Store, cal: SchoolCalendar, known: tuple[date | None, date | None] | None = None
) -> date | None:
    known = known or data.newest(store)
    last = max(filter(None, known), default=None)
    if last is None:
        return None
    days = data.school_days(store, cal, last - timedelta(days=30), last, known)
    return days[-1] if days else None


def _kpi_values(
    store: Store, rule: Rule, units: detect.Units, days: list[date]
) -> list[tuple[date, str, float]]:
    """(day, unit, value) of the rule's KPI for each unit at the rule's level on each of ``days``,
    through the metrics layer: one question per day (by unit), or, for a daily KPI with fewer
    units than days, one per unit (by date) -- a year of a district rule is 38 questions, not 181."""
    compute = Metrics(store, cached=False).answer  # the whole city, uncached (as the CLI asks)

    kpi = get_kpi(str(rule.kpi))
    wanted = set(days)
    out: list[tuple[date, str, float]] = []
    codes = ["all"] if rule.level == "city" else sorted(set(units.schools[rule.level]))
    if kpi.window_days is None and len(codes) < len(days):
        for code in codes:
            scope = Scope() if code == "all" else Scope(**{rule.level: code})
            result = compute(KpiQuery(kpi.id, by="date", date_from=days[0], date_to=days[-1], scope=scope))
            for row in result.rows:
                day = date.fromisoformat(row.key[:10])
                if day in wanted and row.value is not None:
                    out.append((day, code, row.value))
        return out
    by = "all" if rule.level == "city" else rule.level
    for day in days:
        daily = kpi.window_days is None
        result = compute(KpiQuery(kpi.id, by=by, date_from=day if daily else None, date_to=day))
        for row in result.rows:
            # a daily KPI without data that day is not below its threshold on that day
            if row.value is None or (daily and row.as_of is not None and row.as_of.date() != day):
                continue
            out.append((day, "all" if rule.level == "city" else row.key, row.value))
    return out


def _threshold(rule: Rule, store: Store, units: detect.Units, days: list[date]) -> list[detect.Finding]:
    kpi = get_kpi(str(rule.kpi))
    wanted = ("red",) if rule.param("status") == "red" else ("red", "amber")
    goal = kpi.amber if rule.param("status") == "red" else kpi.green
    out = []
    for day, unit, value in _kpi_values(store, rule, units, days):
        status = kpi.status(value)
        if status not in wanted:
            continue
        messages = {
            lang: f"{units.name(rule.level, unit, lang)}: {kpi.name.get(lang)} "
            f"{_value(value, kpi.unit, lang, kpi.decimals)} "
            + ("< ngưỡng " if lang == "vi" else "< threshold ")
            + _value(goal, kpi.unit, lang, kpi.decimals)
            for lang in ("vi", "en")
        }
        out.append(units.finding(rule, rule.level, unit, day, value, goal, messages, {"status": status}))
    return out


def _value(value: float, unit: str, lang: str, decimals: int) -> str:
    return i18n.kpi_value(value, unit, lang, decimals)


def findings(
    rule: Rule, store: Store, cal: SchoolCalendar, units: detect.Units, days: list[date]
) -> list[detect.Finding]:
    """What ``rule`` finds on each of ``days`` (school days, oldest first)."""
    if rule.kind == "threshold":
        return _threshold(rule, store, units, days)
    if rule.kind == "outage":
        minutes = int(round(float(rule.param("hours")) * 60))
        down = data.downtimes(store, days, cal.hours, minutes, str(settings.get("timezone")))
        return detect.outages(rule, units, down, data.probed_counts(store, days), days)
    first = days[0] - timedelta(days=HISTORY_DAYS)
    rows = data.attendance(store, first, days[-1])
    if rule.kind == "anomaly":
        return detect.anomalies(rule, units, rows, days)
    history = sorted(set(data.school_days(store, cal, first, days[-1])) | set(days))
    return detect.missing_reports(rule, units, rows, history, days, cal)


_UNITS: dict[tuple[str, int, date], detect.Units] = {}  # a cache: the hierarchy per schools version and day
_UNITS_LOCK = threading.Lock()


def _units(store: Store, day: date, version: int) -> detect.Units:
    """The hierarchy as of ``day``, built once per version of the schools table (a probe load every
    five minutes does not rebuild it)."""
    key = (store.identity, tables_version(store, ("schools",), version), day)
    with _UNITS_LOCK:
        found = _UNITS.get(key)
    if found is None:
        found = detect.Units(data.hierarchy(store, day))
        with _UNITS_LOCK:
            if len(_UNITS) >= 4:
                _UNITS.pop(next(iter(_UNITS)))
            _UNITS[key] = found
    return found


def _episodes(
    db: AuthDb, rule: Rule, evaluated: list[date]
) -> dict[tuple[str, str], list[lifecycle.Episode]]:
    """The episodes of every unit of ``rule`` that has a finding or an open alert."""
    by_unit = records.findings_of(db, rule.id, date.min, date.max)
    for unit in records.open_units(db, rule.id):
        by_unit.setdefault(unit, [])
    return {unit: lifecycle.episodes(evaluated, found, rule.pending) for unit, found in by_unit.items()}


def event(row: Row, transition: str, at: datetime) -> AlertEvent:
    return AlertEvent(
        alert_id=int(row["id"]),
        transition=transition,  # type: ignore[arg-type]
        rule=row["rule"],
        kind=row["kind"],
        kpi=row["kpi"],
        level=row["level"],
        unit=row["unit"],
        unit_name=row["unit_name"],
        district=row["district"],
        start=date.fromisoformat(row["start_day"]),
        end=date.fromisoformat(row["end_day"]) if row["end_day"] else None,
        severity=row["severity"],
        value=row["value"],
        expected=row["expected"],
        at=at,
        messages={"vi": row["message_vi"], "en": row["message_en"]},
    )


def evaluate(
    store: Store,
    db: AuthDb,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    notify: Notify | None = None,
    rules: Sequence[Rule] | None = None,
    only_changed: bool = False,
) -> Summary:
    """Evaluate ``rules`` (default: all) for each school day in [date_from, date_to] (default: the
    latest school day), record the alerts and hand the announced changes to ``notify``."""
    started = time.perf_counter()
    records.ensure(db)
    cal = current_calendar()
    rules = list(rules if rules is not None else current_rules())
    summary = Summary()
    known = data.newest(store)
    latest = latest_school_day(store, cal, known)
    if latest is None:
        return summary
    if date_from is None and date_to is None:
        days = [latest]
    else:
        last = min(date_to or latest, latest)
        days = data.school_days(store, cal, date_from or last, last, known)
    summary.days = days
    if not days:
        return summary
    version = store.data_version()
    units = _units(store, days[-1], version)
    for rule in rules:
        if only_changed and not _changed(store, db, rule, days[-1], version):
            summary.skipped.append(rule.id)
            continue
        rule_started = time.perf_counter()
        found = findings(rule, store, cal, units, days)
        records.save_findings(db, rule, days, found, version)
        summary.findings[rule.id] = len(found)
        evaluated = records.evaluated_days(db, rule.id)
        records.sync(db, rule, _episodes(db, rule, evaluated), evaluated)
        current = evaluated[-1]
        due = records.changes(db, rule, current, evaluated)
        if due:
            at = datetime.now(UTC)
            for change in due:
                row = records.get(db, change.alert_id)
                if row is not None:
                    summary.events.append(event(row, change.transition, at))
        records.mark_announced(db, due, current)
        records.mark_past_as_announced(db, rule.id)
        summary.timings[rule.id] = time.perf_counter() - rule_started
    if notify is not None and summary.events:
        notify(summary.events)
    summary.seconds = time.perf_counter() - started
    return summary


def _changed(store: Store, db: AuthDb, rule: Rule, day: date, version: int) -> bool:
    """Whether the data ``rule`` reads changed since it was last evaluated on ``day``."""
    seen = records.evaluated_version(db, rule.id, day)
    if seen is None:
        return True
    return tables_version(store, rule.datasets(), version) > seen


def after_load(store: Store, data_dir: str | None = None) -> Summary | None:
    """The scheduler's hook after a load that changed data: evaluate the latest school day, the
    rules whose data changed only, and hand the changes to delivery. Never raises (a failure is
    logged; ingestion goes on)."""
    try:
        db = open_db(settings.data_dir(data_dir) if data_dir else store.layout.root)
        summary = evaluate(store, db, notify=default_notify(db), only_changed=True)
    except Exception:
        log.exception("alerts: evaluation after the load failed")
        return None
    if summary.findings:
        log.info(
            "alerts: %s evaluated on %s in %.2fs, %d change(s) announced",
            ", ".join(summary.findings),
            summary.days[-1] if summary.days else "-",
            summary.seconds,
            len(summary.events),
        )
    return summary
