"""A KPI answer beside the period before it (explore's comparison, its table and exports).

- Grouped by unit (district, ward, school, level, ownership, or none): each unit against the same
  unit over the same length of time immediately before the period; a single school day of a daily
  KPI against the previous school day (ioc.metrics.summary.previous_period, as the tiles compare).
- Grouped by time (date, week, month): each period against the one before it: a school day against
  the previous school day (days nobody reported are days off), a week against the week before, a
  month against the month before. The last school year is not used: a store holds one school year
  (docs/app.md, "Comparison with the previous period").

The previous rows are answers of the same front door (the same cache, access and numbers as the API
and ``ioc kpi`` for that period); the change is ``value - previous value``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ioc.metrics.query import TIME_BY, KpiQuery, KpiResult, KpiRow
from ioc.metrics.registry import Kpi, get_kpi
from ioc.metrics.summary import previous_period

if TYPE_CHECKING:
    from ioc.store import Store

# what a change means for the KPI's direction
BETTER, WORSE, SAME, UNKNOWN = "better", "worse", "same", "unknown"


@dataclass(frozen=True)
class Change:
    """One row's previous period: its row there (None when the unit or period has none), the
    change of the value, and whether that change is good for the KPI (BETTER, WORSE, SAME: it
    rounds to zero at the KPI's decimals, UNKNOWN: a value is missing)."""

    previous: KpiRow | None
    change: float | None
    sense: str
    previous_key: str | None = None  # the previous period's key (time groupings)


@dataclass(frozen=True)
class Comparison:
    """``current``'s rows (same order) each with its :class:`Change`; ``date_from``/``date_to``:
    the previous period as a whole (for time groupings: from the first row's previous period to the
    last row's)."""

    current: KpiResult
    date_from: date | None
    date_to: date | None
    changes: tuple[Change, ...]


def sense(kpi: Kpi, change: float | None) -> str:
    """Whether ``change`` is good news for ``kpi`` (its direction); SAME when it rounds to zero at
    the decimals the KPI is shown with (a '±0,0' is never red)."""
    if change is None:
        return UNKNOWN
    scale = 100 if kpi.unit == "ratio" else 1
    shown = 0 if kpi.unit == "count" else kpi.decimals
    if round(abs(change) * scale, shown) == 0:
        return SAME
    return BETTER if (change > 0) == (kpi.direction == "higher") else WORSE


def _change(kpi: Kpi, row: KpiRow, previous: KpiRow | None, key: str | None = None) -> Change:
    if previous is None or not previous.schools_reporting:
        previous_value = None
    else:
        previous_value = previous.value
    delta = row.value - previous_value if row.value is not None and previous_value is not None else None
    return Change(previous, delta, sense(kpi, delta), key)


def bucket_start(by: str, day: date) -> date:
    """The first day of the week (Monday) or month holding ``day``; the day itself for dates."""
    if by == "week":
        return day - timedelta(days=day.weekday())
    if by == "month":
        return day.replace(day=1)
    return day


def key_start(by: str, key: str) -> date:
    """The first day of a time row's period from its key ('2026-11-23', '2026-W48', '2026-11')."""
    if by == "week":
        return datetime.strptime(key + "-1", "%G-W%V-%u").date()
    if by == "month":
        return date.fromisoformat(key + "-01")
    return date.fromisoformat(key)


def bucket_before(by: str, start: date) -> date:
    """The first day of the week or month before the one starting at ``start``."""
    if by == "week":
        return start - timedelta(days=7)
    return (start - timedelta(days=1)).replace(day=1)


def period_keys(by: str, first: str, last: str) -> list[str]:
    """Every week or month key from ``first`` to ``last``, those without data included (a chart
    draws them as gaps, not as a line across the summer)."""
    keys, start, end = [], key_start(by, first), key_start(by, last)
    while start <= end:
        keys.append(_key(by, start))
        start = start + timedelta(days=7) if by == "week" else (start + timedelta(days=32)).replace(day=1)
    return keys


def _key(by: str, start: date) -> str:
    return start.strftime({"week": "%G-W%V", "month": "%Y-%m"}.get(by, "%Y-%m-%d"))


def compare_periods(
    store: Store, q: KpiQuery, current: KpiResult, answer: Callable[[KpiQuery], KpiResult]
) -> Comparison:
    """``current`` (the answer to ``q``) with each row's previous period, answered by ``answer``."""
    kpi = get_kpi(q.kpi)
    if current.date_from is None or current.date_to is None:
        return Comparison(current, None, None, tuple(Change(None, None, UNKNOWN) for _ in current.rows))
    if q.by not in TIME_BY:
        p_from, p_to = previous_period(store, kpi, current.date_from, current.date_to, q.scope, q.snapshot)
        before = answer(replace(q, date_from=p_from, date_to=p_to))
        by_key = {r.key: r for r in before.rows}
        changes = tuple(_change(kpi, r, by_key.get(r.key)) for r in current.rows)
        return Comparison(current, p_from, p_to, changes)
    return _compare_in_time(store, kpi, q, current, answer)


def _compare_in_time(
    store: Store, kpi: Kpi, q: KpiQuery, current: KpiResult, answer: Callable[[KpiQuery], KpiResult]
) -> Comparison:
    assert current.date_from is not None and current.date_to is not None  # noqa: S101 - checked by compare
    first = bucket_start(q.by, current.date_from)
    if q.by == "date":
        # the school day before the period (a daily KPI skips days off; a window KPI the day before)
        p_from, _ = previous_period(store, kpi, first, first, q.scope, q.snapshot)
        p_to = first - timedelta(days=1)
        if p_from > p_to:
            p_from = p_to
    else:
        p_from, p_to = bucket_before(q.by, first), first - timedelta(days=1)
    before = answer(replace(q, date_from=p_from, date_to=p_to))
    rows = {r.key: r for r in before.rows} | {r.key: r for r in current.rows}
    changes: list[Change] = []
    if q.by == "date":
        # the previous row with data: a day nobody in the scope reported is not compared with
        days = sorted(k for k, r in rows.items() if r.schools_reporting)
        for r in current.rows:
            at = bisect.bisect_left(days, r.key)
            key = days[at - 1] if at else None
            changes.append(_change(kpi, r, rows.get(key) if key else None, key))
        ends = [date.fromisoformat(c.previous_key) for c in changes if c.previous_key]
        p_end = max(ends, default=p_to)
    else:
        for r in current.rows:
            key = _key(q.by, bucket_before(q.by, key_start(q.by, r.key)))
            changes.append(_change(kpi, r, rows.get(key), key))
        p_end = key_start(q.by, current.rows[-1].key) - timedelta(days=1) if current.rows else p_to
    return Comparison(current, p_from, max(p_end, p_to), tuple(changes))
