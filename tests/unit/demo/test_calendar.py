"""The demo's school calendar: which days schools are open."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ioc.demo import calendar


def test_weekends_are_off() -> None:
    assert calendar.is_school_day(date(2026, 11, 23))  # Monday
    assert not calendar.is_school_day(date(2026, 11, 21))  # Saturday
    assert not calendar.is_school_day(date(2026, 11, 22))  # Sunday


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2026, 1, 1), "Tết Dương lịch"),
        (date(2026, 4, 30), "Ngày Giải phóng miền Nam"),
        (date(2026, 5, 1), "Quốc tế Lao động"),
        (date(2025, 9, 2), "Quốc khánh"),
        (date(2026, 2, 17), "Tết Nguyên Đán"),
        (date(2026, 7, 15), "Nghỉ hè"),
        (date(2026, 9, 4), "Nghỉ hè"),
    ],
)
def test_holidays_close_schools(day: date, name: str) -> None:
    assert calendar.holiday(day) == name
    assert not calendar.is_school_day(day)


def test_tet_break_spans_four_days_before_to_six_after() -> None:
    first, last = calendar.tet_break(2026)
    assert (first, last) == (date(2026, 2, 13), date(2026, 2, 23))
    assert calendar.is_school_day(first - timedelta(days=1))  # Thursday 12 Feb
    assert calendar.is_school_day(last + timedelta(days=1))  # Tuesday 24 Feb
    assert not any(calendar.is_school_day(first + timedelta(days=i)) for i in range(11))


def test_school_year_opens_on_5_september_and_ends_31_may() -> None:
    assert calendar.is_school_day(date(2025, 9, 5))  # Friday, khai giảng
    assert not calendar.is_school_day(date(2025, 9, 4))
    assert calendar.is_school_day(date(2026, 5, 29))  # Friday
    assert not calendar.is_school_day(date(2026, 6, 1))
    assert calendar.school_year_of(date(2026, 8, 31)) == 2025
    assert calendar.school_year_of(date(2026, 9, 1)) == 2026


def test_a_school_year_has_about_35_weeks_of_school() -> None:
    days = calendar.school_days(date(2025, 9, 1), date(2026, 8, 31))
    assert 170 <= len(days) <= 185
    assert all(d.weekday() < 5 for d in days)


def test_last_school_days_counts_back_over_weekends_and_summer() -> None:
    days = calendar.last_school_days(date(2026, 11, 22), 3)  # a Sunday
    assert days == [date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    summer = calendar.last_school_days(date(2026, 7, 20), 1)
    assert summer == [date(2026, 5, 29)]


def test_tet_table_matches_known_dates() -> None:
    assert calendar.tet(2025) == date(2025, 1, 29)
    assert calendar.tet(2026) == date(2026, 2, 17)
    assert calendar.tet(2027) == date(2027, 2, 6)


def test_unknown_years_are_refused_not_guessed() -> None:
    with pytest.raises(calendar.CalendarError, match="2041"):
        calendar.holiday(date(2041, 3, 3))
