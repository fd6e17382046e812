"""The school calendar as configuration: on which dates, and when in the day, schools are open.

Declared in ``ioc/calendar.toml`` (the default for Viet Nam) or the file named by the
``calendar_file`` setting, parsed into a frozen :class:`SchoolCalendar` and validated when first
used: a bad file stops with a message naming the file, the entry and the rule.

The calendar says when schools are *expected* to open. The data says when they did: a date on
which no school of the city reported attendance is a day off whatever the calendar says (the data
health page, ``reporting_rate`` and the alerts all follow that rule; docs/alerts.md).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from ioc import settings

DEFAULT_FILE = Path(__file__).with_name("calendar.toml")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class CalendarError(ValueError):
    """A calendar file that cannot be used: names the file, the entry and why."""


@dataclass(frozen=True)
class Closure:
    first: date
    last: date
    name: dict[str, str]
    districts: frozenset[str] = frozenset()  # empty with empty wards: the whole city
    wards: frozenset[str] = frozenset()

    @property
    def citywide(self) -> bool:
        return not self.districts and not self.wards

    def covers(self, day: date, district: str | None = None, ward: str | None = None) -> bool:
        if not self.first <= day <= self.last:
            return False
        return self.citywide or (district in self.districts) or (ward in self.wards)


@dataclass(frozen=True)
class SchoolCalendar:
    weekdays: frozenset[int]  # 0 = Monday
    hours: tuple[time, time]
    opens: tuple[int, int]  # (month, day)
    ends: tuple[int, int]
    tet: Mapping[int, date]
    tet_before: int
    tet_after: int
    holidays: Mapping[tuple[int, int], dict[str, str]]
    closures: tuple[Closure, ...] = ()  # city-wide days off and per-district/ward closures
    extra_days: Mapping[date, dict[str, str]] = field(default_factory=dict)  # make-up school days
    source: str = ""

    def day_off(
        self, day: date, district: str | None = None, ward: str | None = None
    ) -> dict[str, str] | None:
        """Why schools (of ``district``/``ward``, else the city) are closed on ``day``; None when open.

        A weekend is {"vi": "Cuối tuần", "en": "Weekend"}; a date outside the years whose Tết is
        configured is judged by the weekday, holidays and school year only."""
        for closure in self.closures:
            if closure.covers(day, district, ward):
                return closure.name
        if day in self.extra_days:
            return None
        if day.weekday() not in self.weekdays:
            return {"vi": "Cuối tuần", "en": "Weekend"}
        name = self.holidays.get((day.month, day.day))
        if name:
            return name
        new_year = self.tet.get(day.year)
        if new_year and new_year - timedelta(days=self.tet_before) <= day <= new_year + timedelta(
            days=self.tet_after
        ):
            return {"vi": "Tết Nguyên Đán", "en": "Tết (lunar new year)"}
        year = day.year if (day.month, day.day) >= self.opens else day.year - 1
        if not date(year, *self.opens) <= day <= date(year + 1, *self.ends):
            return {"vi": "Nghỉ hè", "en": "Summer holiday"}
        return None

    def is_school_day(self, day: date, district: str | None = None, ward: str | None = None) -> bool:
        return self.day_off(day, district, ward) is None

    def school_days(self, first: date, last: date) -> list[date]:
        """The city's calendar school days in [first, last]."""
        return [
            first + timedelta(days=i)
            for i in range((last - first).days + 1)
            if self.is_school_day(first + timedelta(days=i))
        ]

    def closures_on(self, day: date) -> list[Closure]:
        """The district or ward closures in force on ``day`` (not the city-wide days off)."""
        return [c for c in self.closures if not c.citywide and c.first <= day <= c.last]


def _date(value: Any, where: str) -> date:
    try:
        return value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a date as YYYY-MM-DD") from None


def _month_day(value: Any, where: str) -> tuple[int, int]:
    try:
        month, day = (int(p) for p in str(value).split("-"))
        date(2024, month, day)  # a leap year: 02-29 is allowed
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not a month-day as MM-DD") from None
    return month, day


def _name(value: Any, where: str) -> dict[str, str]:
    if isinstance(value, str) and value.strip():
        return {"vi": value, "en": value}
    if isinstance(value, Mapping) and isinstance(value.get("vi"), str) and value["vi"].strip():
        return {"vi": value["vi"], "en": str(value.get("en") or value["vi"])}
    raise CalendarError(f"{where}: name must be a text or {{ vi = ..., en = ... }}")


def _codes(value: Any, where: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise CalendarError(f"{where}: expected a list of codes")
    return frozenset(str(v).strip() for v in value)


def _hours(value: Any, where: str) -> tuple[time, time]:
    try:
        start, end = (time.fromisoformat(p.strip()) for p in str(value).split("-"))
    except ValueError:
        raise CalendarError(f"{where}: {value!r} is not hours as HH:MM-HH:MM") from None
    if start >= end:
        raise CalendarError(f"{where}: {value!r} ends before it starts")
    return start, end


KNOWN_KEYS = {"school_weekdays", "school_hours", "year", "tet", "holiday", "day_off", "closure", "school_day"}


def parse(raw: Mapping[str, Any], source: str) -> SchoolCalendar:
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise CalendarError(
            f"{source}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    days = raw.get("school_weekdays", list(WEEKDAYS[:5]))
    if not isinstance(days, list) or not days or any(d not in WEEKDAYS for d in days):
        raise CalendarError(f"{source}: school_weekdays must list days among {', '.join(WEEKDAYS)}")
    year = raw.get("year") or {}
    tet = raw.get("tet") or {}
    tet_dates: dict[int, date] = {}
    for i, text in enumerate(tet.get("dates") or []):
        day = _date(text, f"{source}: tet.dates[{i}]")
        if day.year in tet_dates:
            raise CalendarError(f"{source}: tet.dates gives {day.year} twice")
        tet_dates[day.year] = day
    holidays = {}
    for i, entry in enumerate(raw.get("holiday") or []):
        where = f"{source}: holiday[{i}]"
        holidays[_month_day(entry.get("date"), where)] = _name(entry.get("name"), where)
    closures = []
    for table, citywide in (("day_off", True), ("closure", False)):
        for i, entry in enumerate(raw.get(table) or []):
            where = f"{source}: {table}[{i}]"
            first = _date(entry.get("from"), where + ".from")
            last = _date(entry.get("to", entry.get("from")), where + ".to")
            if last < first:
                raise CalendarError(f"{where}: 'to' {last} is before 'from' {first}")
            districts, wards = _codes(entry.get("districts"), where), _codes(entry.get("wards"), where)
            if citywide and (districts or wards):
                raise CalendarError(
                    f"{where}: a city-wide day off names no districts or wards (use [[closure]])"
                )
            if not citywide and not (districts or wards):
                raise CalendarError(
                    f"{where}: a closure names its districts or wards (use [[day_off]] for the city)"
                )
            closures.append(Closure(first, last, _name(entry.get("name"), where), districts, wards))
    extra = {}
    for i, entry in enumerate(raw.get("school_day") or []):
        where = f"{source}: school_day[{i}]"
        extra[_date(entry.get("date"), where)] = _name(entry.get("name"), where)
    for key, value in (("days_before", tet.get("days_before", 4)), ("days_after", tet.get("days_after", 6))):
        if not isinstance(value, int) or not 0 <= value <= 30:
            raise CalendarError(f"{source}: tet.{key} must be a whole number of days from 0 to 30")
    return SchoolCalendar(
        weekdays=frozenset(WEEKDAYS.index(d) for d in days),
        hours=_hours(raw.get("school_hours", "07:00-17:00"), f"{source}: school_hours"),
        opens=_month_day(year.get("opens", "09-05"), f"{source}: year.opens"),
        ends=_month_day(year.get("ends", "05-31"), f"{source}: year.ends"),
        tet=tet_dates,
        tet_before=int(tet.get("days_before", 4)),
        tet_after=int(tet.get("days_after", 6)),
        holidays=holidays,
        closures=tuple(closures),
        extra_days=extra,
        source=source,
    )


def load(path: str | Path | None = None) -> SchoolCalendar:
    """The calendar of ``path`` (default: the ``calendar_file`` setting, else the built-in one)."""
    path = Path(path or settings.get("calendar_file") or DEFAULT_FILE)
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except OSError as error:
        raise CalendarError(f"calendar file {path}: cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise CalendarError(f"calendar file {path}: not valid TOML: {error}") from None
    return parse(raw, str(path))


@lru_cache(maxsize=4)
def _cached(path: str) -> SchoolCalendar:
    return load(path or None)


def current() -> SchoolCalendar:
    """The calendar in force (read once per file per process)."""
    return _cached(str(settings.get("calendar_file") or ""))
