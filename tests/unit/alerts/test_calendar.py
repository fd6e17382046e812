"""The school calendar as configuration: Viet Nam's default, closures, make-up days, bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ioc import calendar


def test_vietnam_default():
    cal = calendar.load(calendar.DEFAULT_FILE)
    assert cal.is_school_day(date(2026, 12, 4))  # a Friday in term
    assert cal.day_off(date(2026, 12, 5))["en"] == "Weekend"
    assert cal.day_off(date(2026, 2, 17))["en"].startswith("Tết")  # lunar new year 2026
    assert cal.day_off(date(2026, 2, 13)) is not None and cal.day_off(date(2026, 2, 23)) is not None
    assert cal.is_school_day(date(2026, 2, 24))
    assert cal.day_off(date(2026, 9, 2))["vi"] == "Quốc khánh"
    assert cal.day_off(date(2026, 7, 15))["en"] == "Summer holiday"
    assert cal.day_off(date(2026, 4, 30))["en"] == "Reunification Day"
    # a year the Tết table does not reach is judged by weekdays, holidays and the school year
    assert cal.is_school_day(date(2045, 10, 3))
    assert len(cal.school_days(date(2025, 9, 1), date(2026, 8, 31))) == 181
    assert cal.hours[0].hour == 7 and cal.hours[1].hour == 17


def test_closures_days_off_and_make_up_days(tmp_path: Path):
    path = tmp_path / "calendar.toml"
    path.write_text(
        """
[[day_off]]
from = "2026-11-03"
name = { vi = "Bão", en = "Storm" }
[[closure]]
districts = ["787"]
wards = ["26734"]
from = "2026-10-20"
to = "2026-10-21"
name = "Triều cường"
[[school_day]]
date = "2026-11-07"
name = "Học bù"
""",
        encoding="utf-8",
    )
    cal = calendar.load(path)
    assert cal.day_off(date(2026, 11, 3))["en"] == "Storm"
    assert cal.is_school_day(date(2026, 10, 20))  # the city is open
    assert not cal.is_school_day(date(2026, 10, 20), district="787")
    assert not cal.is_school_day(date(2026, 10, 21), district="760", ward="26734")
    assert cal.is_school_day(date(2026, 10, 22), district="787")
    assert cal.is_school_day(date(2026, 11, 7))  # a Saturday made a school day
    assert [c.name["vi"] for c in cal.closures_on(date(2026, 10, 21))] == ["Triều cường"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("school_weekdays = ['mon', 'funday']", "school_weekdays must list days"),
        ("school_hours = '17:00-07:00'", "ends before it starts"),
        ("[[day_off]]\nfrom = '2026-13-01'\nname = 'x'", "day_off[0].from: '2026-13-01' is not a date"),
        ("[[closure]]\nfrom = '2026-10-01'\nname = 'x'", "names its districts or wards"),
        ("[[day_off]]\nfrom = '2026-10-02'\nto = '2026-10-01'\nname = 'x'", "is before 'from'"),
        ("[[holiday]]\ndate = '02-30'\nname = 'x'", "holiday[0]: '02-30' is not a month-day"),
        ("weekends = 2", "unknown key(s) weekends"),
    ],
)
def test_a_bad_calendar_is_refused_with_where_and_why(tmp_path: Path, text, message):
    path = tmp_path / "calendar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(calendar.CalendarError) as error:
        calendar.load(path)
    assert message in str(error.value) and str(path) in str(error.value)
