"""The previous-period comparison (ioc.metrics.compare) on the seed store, answers worked by hand.

Attendance of the seed (latest hierarchy: S1, S2, S3 in district 760, S4 in 778):
2026-11-18 S1 90/100, S2 180/200, S3 50/50; 2026-11-19 S1 97/100 (re-sent), S3 40/50, S4 380/400;
2026-11-20 S1 80/100, S2 150/200. No school reported on 2026-11-17 or before.
"""

from __future__ import annotations

from datetime import date

import pytest

from ioc.metrics import compare
from ioc.metrics.front import Metrics
from ioc.metrics.query import KpiQuery
from ioc.metrics.registry import get_kpi

NOV = lambda day: date(2026, 11, day)  # noqa: E731


def compared(store, q: KpiQuery) -> tuple[compare.Comparison, dict[str, compare.Change]]:
    result = Metrics(store, cached=False).compare(q)
    return result, {r.key: c for r, c in zip(result.current.rows, result.changes, strict=True)}


def test_one_school_day_is_compared_with_the_previous_school_day(seed) -> None:
    result, changes = compared(seed, KpiQuery("attendance_rate", "district", NOV(20), NOV(20)))
    assert (result.date_from, result.date_to) == (NOV(19), NOV(19))
    # 760 on the 19th: S1 97/100 + S3 40/50; on the 20th S1 80/100 + S2 150/200
    c760 = changes["760"]
    assert (c760.previous.numerator, c760.previous.denominator) == (137, 150)
    assert c760.change == pytest.approx(230 / 300 - 137 / 150)
    assert c760.sense == compare.WORSE
    # 778 did not report on the 20th: no change, though it had a value the day before
    assert changes["778"].previous.value == pytest.approx(380 / 400) and changes["778"].change is None
    assert changes["778"].sense == compare.UNKNOWN


def test_a_period_is_compared_with_the_same_length_before_it(seed) -> None:
    result, changes = compared(seed, KpiQuery("attendance_rate", "all", NOV(19), NOV(20)))
    assert (result.date_from, result.date_to) == (NOV(17), NOV(18))
    row = changes["all"]
    assert (row.previous.numerator, row.previous.denominator) == (320, 350)
    assert row.change == pytest.approx((517 + 230) / (550 + 300) - 320 / 350)
    # the previous column is the answer of the same question for the previous period (ioc kpi)
    direct = Metrics(seed, cached=False).result("attendance_rate", "all", date_from=NOV(17), date_to=NOV(18))
    assert row.previous == direct.rows[0]


def test_days_are_compared_with_the_school_day_before_each(seed) -> None:
    result, changes = compared(seed, KpiQuery("attendance_rate", "date", NOV(18), NOV(20)))
    assert changes["2026-11-18"].previous is None and changes["2026-11-18"].sense == compare.UNKNOWN
    assert changes["2026-11-19"].previous_key == "2026-11-18"
    assert changes["2026-11-19"].change == pytest.approx(517 / 550 - 320 / 350)
    assert changes["2026-11-20"].previous_key == "2026-11-19"
    assert changes["2026-11-20"].change == pytest.approx(230 / 300 - 517 / 550)
    assert (result.date_from, result.date_to) == (NOV(17), NOV(19))


def test_a_later_start_reaches_back_for_the_first_day(seed) -> None:
    _, changes = compared(seed, KpiQuery("attendance_rate", "date", NOV(19), NOV(20)))
    assert changes["2026-11-19"].previous_key == "2026-11-18"
    assert changes["2026-11-19"].previous.numerator == 320


def test_weeks_and_months_are_compared_with_the_one_before(seed) -> None:
    _, weeks = compared(seed, KpiQuery("attendance_rate", "week", NOV(16), NOV(22)))
    assert weeks["2026-W47"].previous_key == "2026-W46" and weeks["2026-W47"].previous is None
    _, months = compared(seed, KpiQuery("attendance_rate", "month", NOV(1), NOV(30)))
    assert months["2026-11"].previous_key == "2026-10" and months["2026-11"].change is None


@pytest.mark.parametrize(
    ("kpi", "change", "expected"),
    [
        ("attendance_rate", 0.012, compare.BETTER),
        ("attendance_rate", -0.012, compare.WORSE),
        ("attendance_rate", 0.0004, compare.SAME),  # '±0,0 điểm %': never red
        ("attendance_rate", -0.0004, compare.SAME),
        ("unexcused_absence_rate", 0.01, compare.WORSE),  # lower is better
        ("unexcused_absence_rate", -0.01, compare.BETTER),
        ("digital_readiness", 0.04, compare.SAME),  # shown with one decimal: 0.0
        ("attendance_rate", None, compare.UNKNOWN),
    ],
)
def test_a_change_is_good_or_bad_by_the_kpis_direction(kpi, change, expected) -> None:
    assert compare.sense(get_kpi(kpi), change) == expected


@pytest.mark.parametrize(
    ("by", "key", "start", "before"),
    [
        ("week", "2026-W48", date(2026, 11, 23), date(2026, 11, 16)),
        ("week", "2026-W01", date(2025, 12, 29), date(2025, 12, 22)),  # an ISO week across years
        ("month", "2026-01", date(2026, 1, 1), date(2025, 12, 1)),
        ("month", "2026-03", date(2026, 3, 1), date(2026, 2, 1)),
    ],
)
def test_period_keys_and_the_period_before(by, key, start, before) -> None:
    assert compare.key_start(by, key) == start
    assert compare.bucket_before(by, start) == before
    assert compare.bucket_start(by, start + compare.timedelta(days=3)) == start


def test_period_keys_hold_the_periods_without_data() -> None:
    assert compare.period_keys("month", "2026-05", "2026-09") == [
        "2026-05",
        "2026-06",
        "2026-07",
        "2026-08",
        "2026-09",
    ]
    assert compare.period_keys("month", "2025-12", "2026-01") == ["2025-12", "2026-01"]
    assert compare.period_keys("week", "2025-W52", "2026-W02") == ["2025-W52", "2026-W01", "2026-W02"]


def test_an_officer_compares_only_what_they_may_read(seed) -> None:
    from ioc.access import AccessScope
    from ioc.metrics.query import Scope

    officer = Metrics(seed, AccessScope.limited(districts={"778"}), cached=False)
    result = officer.compare(KpiQuery("attendance_rate", "district", NOV(19), NOV(20)))
    assert [r.key for r in result.current.rows] == ["778"]  # and the previous period of 778 only
    assert [c.previous.key for c in result.changes if c.previous] == ["778"]
    # another district's wards: nothing of theirs, in this period or the one before
    other = officer.compare(KpiQuery("attendance_rate", "ward", NOV(19), NOV(20), Scope(district="760")))
    assert all(not r.schools_reporting for r in other.current.rows)
    assert all(c.previous is None or not c.previous.schools_reporting for c in other.changes)
