"""Staleness rules of the data-health record (pure date arithmetic)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ioc.metrics import health
from ioc.metrics.errors import QueryError

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2026, 11, 23, 9, 0, tzinfo=TZ), date(2026, 11, 20)),  # Monday before 10:00 -> Friday
        (datetime(2026, 11, 23, 10, 0, tzinfo=TZ), date(2026, 11, 23)),  # Monday 10:00 -> Monday
        (datetime(2026, 11, 25, 15, 0, tzinfo=TZ), date(2026, 11, 25)),  # Wednesday afternoon
        (datetime(2026, 11, 29, 12, 0, tzinfo=TZ), date(2026, 11, 27)),  # Sunday -> Friday
        (datetime(2026, 11, 23, 2, 30, tzinfo=ZoneInfo("UTC")), date(2026, 11, 20)),  # 09:30 local
        # the school calendar (ioc/calendar.toml): holidays, Tết and the summer are not school days
        (datetime(2026, 5, 1, 15, 0, tzinfo=TZ), date(2026, 4, 29)),  # 30/4 and 1/5 -> the day before
        (datetime(2026, 2, 20, 15, 0, tzinfo=TZ), date(2026, 2, 12)),  # in the Tết break -> before it
        (datetime(2026, 7, 15, 15, 0, tzinfo=TZ), date(2026, 5, 29)),  # summer -> the year's last day
    ],
)
def test_due_school_day(now: datetime, due: date) -> None:
    assert health.due_school_day(now) == due


def test_expected_by_each_cadence() -> None:
    now = datetime(2026, 11, 25, 15, 0, tzinfo=TZ)
    assert health.expected_by("connectivity", now) == now - timedelta(minutes=30)
    assert health.expected_by("digital", now) == date(2026, 10, 11)
    assert health.expected_by("schools", now) == (now - timedelta(days=200)).date()
    assert health.expected_by("attendance", now) == date(2026, 11, 25)


def test_stale_comparisons() -> None:
    limit = datetime(2026, 11, 25, 14, 30, tzinfo=TZ)
    assert health._is_stale(datetime(2026, 11, 25, 14, 0, tzinfo=TZ), limit)
    assert not health._is_stale(datetime(2026, 11, 25, 14, 45, tzinfo=TZ), limit)
    assert health._is_stale(None, limit)
    assert not health._is_stale(date(2026, 11, 25), date(2026, 11, 25))
    assert health._is_stale(date(2026, 11, 24), date(2026, 11, 25))


def test_stale_after_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IOC_STALE_AFTER", "connectivity=2h, digital=40d")
    known = health.cadences()
    assert known["connectivity"].max_age == timedelta(hours=2)
    assert known["digital"].max_age == timedelta(days=40)
    assert known["schools"].max_age == timedelta(days=200)
    monkeypatch.setenv("IOC_STALE_AFTER", "grades=2d")
    with pytest.raises(QueryError, match="expected DATASET=AGE"):
        health.cadences()
