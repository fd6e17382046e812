"""The school calendar of Ho Chi Minh City, as the demo uses it.

A school year opens on 5 September and ends on 31 May. Schools are closed on Saturdays and
Sundays, over the summer, on New Year's Day (1/1), for the Tết break (from four days before the
lunar new year to six days after), on Reunification Day and Labour Day (30/4, 1/5) and on National
Day (2/9). Tết moves with the lunar calendar, so its dates are a table; the calendar refuses a
date outside the years the table covers rather than guessing.
"""

from __future__ import annotations

from datetime import date, timedelta

# First day of the lunar new year (Tết Nguyên Đán), from the Vietnamese lunar calendar.
TET: dict[int, date] = {
    2019: date(2019, 2, 5),
    2020: date(2020, 1, 25),
    2021: date(2021, 2, 12),
    2022: date(2022, 2, 1),
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
    2031: date(2031, 1, 23),
    2032: date(2032, 2, 11),
    2033: date(2033, 1, 31),
    2034: date(2034, 2, 19),
    2035: date(2035, 2, 8),
    2036: date(2036, 1, 28),
    2037: date(2037, 2, 15),
    2038: date(2038, 2, 4),
    2039: date(2039, 1, 24),
    2040: date(2040, 2, 12),
}
TET_BEFORE = 4  # days off before the lunar new year
TET_AFTER = 6  # days off after it

YEAR_OPENS = (9, 5)  # khai giảng
YEAR_ENDS = (5, 31)

# Fixed-date public holidays (month, day) -> name.
FIXED_HOLIDAYS: dict[tuple[int, int], str] = {
    (1, 1): "Tết Dương lịch",
    (4, 30): "Ngày Giải phóng miền Nam",
    (5, 1): "Quốc tế Lao động",
    (9, 2): "Quốc khánh",
}


class CalendarError(ValueError):
    """A date the calendar cannot place (outside the years whose Tết it knows)."""


def supported(day: date) -> bool:
    return min(TET) <= day.year <= max(TET)


def tet(year: int) -> date:
    """The lunar new year's day that falls in ``year``."""
    try:
        return TET[year]
    except KeyError:
        raise CalendarError(
            f"the demo calendar knows Tết for {min(TET)}–{max(TET)} only, not {year}"
        ) from None


def school_year_of(day: date) -> int:
    """The year a school year opened in: 2025 for any day from 1 Sept 2025 to 31 Aug 2026."""
    return day.year if day.month >= 9 else day.year - 1


def school_year_start(year: int) -> date:
    return date(year, *YEAR_OPENS)


def school_year_end(year: int) -> date:
    return date(year + 1, *YEAR_ENDS)


def holiday(day: date) -> str | None:
    """The name of the holiday or break that closes schools on ``day``, if any (weekends aside)."""
    if not supported(day):
        raise CalendarError(f"the demo calendar covers {min(TET)}–{max(TET)}; {day} is outside it")
    name = FIXED_HOLIDAYS.get((day.month, day.day))
    if name:
        return name
    new_year = tet(day.year)
    if new_year - timedelta(days=TET_BEFORE) <= day <= new_year + timedelta(days=TET_AFTER):
        return "Tết Nguyên Đán"
    year = school_year_of(day)
    if not (school_year_start(year) <= day <= school_year_end(year)):
        return "Nghỉ hè"
    return None


def is_school_day(day: date) -> bool:
    return day.weekday() < 5 and holiday(day) is None


def school_days(first: date, last: date) -> list[date]:
    """Every school day in [first, last]."""
    days = []
    day = first
    while day <= last:
        if is_school_day(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def last_school_days(today: date, count: int) -> list[date]:
    """The last ``count`` school days up to and including ``today`` (oldest first)."""
    days: list[date] = []
    day = today
    while len(days) < count:
        if not supported(day):
            break
        if is_school_day(day):
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def tet_break(year: int) -> tuple[date, date]:
    """First and last day of the Tết break in ``year``."""
    new_year = tet(year)
    return new_year - timedelta(days=TET_BEFORE), new_year + timedelta(days=TET_AFTER)
