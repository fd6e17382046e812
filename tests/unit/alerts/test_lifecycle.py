"""Alerts from findings: pending until the rule's pending days, firing, resolved with start and
end, a new alert after a gap (re-fire), and the same answer however often a day is evaluated."""

from __future__ import annotations

from datetime import date, timedelta

from ioc.alerts.detect import Finding
from ioc.alerts.lifecycle import episodes

DAYS = [
    date(2026, 11, 2) + timedelta(days=i)
    for i in range(12)
    if (date(2026, 11, 2) + timedelta(days=i)).weekday() < 5
]


def found(*indexes: int) -> list[Finding]:
    return [Finding("r", "school", "S1", "S1", "760", "26734", DAYS[i], 0.5, 0.9) for i in indexes]


def test_one_day_event_fires_at_once_and_resolves_the_next_day():
    (ep,) = episodes(DAYS, found(3), pending=0)
    assert (ep.start, ep.end, ep.fired, ep.state) == (DAYS[3], DAYS[3], DAYS[3], "resolved")


def test_pending_days_hold_back_one_bad_reading():
    assert episodes(DAYS, found(3), pending=2) == []  # one day, then clear: never fired
    (ep,) = episodes(DAYS, found(3, 4, 5), pending=2)
    assert (ep.start, ep.fired, ep.end) == (DAYS[3], DAYS[4], DAYS[5])
    (ep,) = episodes(DAYS, found(len(DAYS) - 1), pending=2)
    assert ep.state == "pending" and ep.end is None  # still going on: pending


def test_open_until_a_day_is_evaluated_without_the_finding_and_refires_after_a_gap():
    (ep,) = episodes(DAYS, found(6, 7, 8, 9), pending=1)
    assert ep.state == "firing" and ep.end is None and ep.days == 4
    first, second = episodes(DAYS, found(1, 2, 5), pending=1)
    assert (first.start, first.end) == (DAYS[1], DAYS[2])
    assert (second.start, second.end) == (DAYS[5], DAYS[5])


def test_days_not_evaluated_do_not_break_a_run():
    evaluated = DAYS[:4]
    (ep,) = episodes(evaluated, found(2, 3), pending=0)
    assert ep.state == "firing"  # day 3 is the last evaluated: still open
