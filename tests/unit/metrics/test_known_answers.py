"""Every KPI on the seed store (tests/fixtures/metrics/seed), with the answers worked out by hand.

Active schools: S1, S2, S3, S4 (S5 is inactive and must never count). With the latest hierarchy
S1, S2, S3 are in district 760 and S4 in 778; before 2026-11-19 S3 was in 778.
"""

from __future__ import annotations

from datetime import date

import pytest

from ioc.metrics.engine import compute
from ioc.metrics.query import KpiQuery, Scope

NOV = lambda day: date(2026, 11, day)  # noqa: E731


def rows(store, kpi, **kw):
    result = compute(store, KpiQuery(kpi, **kw))
    return {r.key: r for r in result.rows}


def check(row, value, numerator, denominator, reporting):
    assert row.value == (None if value is None else pytest.approx(value))
    assert row.numerator == (None if numerator is None else pytest.approx(numerator))
    assert row.denominator == pytest.approx(denominator)
    assert row.schools_reporting == reporting


# -- attendance_rate -----------------------------------------------------------------------------
def test_attendance_rate_one_day_uses_the_resent_row(seed):
    # 2026-11-19: S1 re-sent 97/100 (replaces 95), S3 40/50, S4 380/400 -> 517 / 550
    r = rows(seed, "attendance_rate", date_from=NOV(19), date_to=NOV(19))["all"]
    check(r, 517 / 550, 517, 550, 3)


def test_attendance_rate_excludes_inactive_school(seed):
    # 2026-11-18: S1 90/100, S2 180/200, S3 50/50 = 320/350; S5 (inactive, 100/300) left out
    check(rows(seed, "attendance_rate", date_from=NOV(18), date_to=NOV(18))["all"], 320 / 350, 320, 350, 3)


def test_attendance_rate_by_district_latest_and_past_hierarchy(seed):
    # 18..20: S1 90+97+80=267/300, S2 180+150=330/400, S3 50+40=90/100, S4 380/400
    latest = rows(seed, "attendance_rate", by="district", date_from=NOV(18), date_to=NOV(20))
    check(latest["760"], (267 + 330 + 90) / 800, 687, 800, 3)  # S3 moved to 760
    check(latest["778"], 380 / 400, 380, 400, 1)
    assert latest["760"].label == "Quận 1"
    past = rows(
        seed, "attendance_rate", by="district", date_from=NOV(18), date_to=NOV(20), hierarchy_date=NOV(1)
    )
    check(past["760"], 597 / 700, 597, 700, 2)
    check(past["778"], 470 / 500, 470, 500, 2)
    # before any version: the earliest version is used
    early = rows(
        seed,
        "attendance_rate",
        by="district",
        date_from=NOV(18),
        date_to=NOV(20),
        hierarchy_date=date(2026, 1, 1),
    )
    assert early["778"].numerator == 470


def test_attendance_rate_default_period_is_latest_date(seed):
    result = compute(seed, KpiQuery("attendance_rate"))
    assert (result.date_from, result.date_to) == (NOV(20), NOV(20))
    # 2026-11-20: S1 80/100, S2 150/200
    check(result.rows[0], 230 / 300, 230, 300, 2)
    assert result.rows[0].key == "all"


def test_attendance_rate_by_date_week_month_and_school(seed):
    by_date = rows(seed, "attendance_rate", by="date", date_from=NOV(16), date_to=NOV(22))
    assert list(by_date) == ["2026-11-18", "2026-11-19", "2026-11-20"]  # weekend and Mon/Tue have no rows
    assert by_date["2026-11-18"].value == pytest.approx(320 / 350)
    week = rows(seed, "attendance_rate", by="week", date_from=NOV(16), date_to=NOV(22))
    check(week["2026-W47"], 1067 / 1200, 1067, 1200, 4)
    month = rows(seed, "attendance_rate", by="month", date_from=NOV(1), date_to=NOV(30))
    assert month["2026-11"].value == pytest.approx(1067 / 1200)
    school = rows(seed, "attendance_rate", by="school", date_from=NOV(18), date_to=NOV(20))
    assert set(school) == {"S1", "S2", "S3", "S4"}  # S5 inactive: no row
    check(school["S2"], 330 / 400, 330, 400, 1)


def test_attendance_rate_zero_denominator_is_null(seed):
    # no attendance on a Saturday: value null, not 0 and not an error
    check(rows(seed, "attendance_rate", date_from=NOV(21), date_to=NOV(21))["all"], None, 0, 0, 0)
    # a filter with no school reporting that day (S4 in 778 did not report on the 20th)
    r = rows(seed, "attendance_rate", date_from=NOV(20), date_to=NOV(20), scope=Scope(district="778"))["all"]
    assert r.value is None and r.status == "no_data"


# -- unexcused_absence_rate --------------------------------------------------------------------
def test_unexcused_only_rows_where_given(seed):
    # rows with absent_unexcused: 18: S1 4/100, S3 0/50 (S2 empty); 19: S1 1/100 (re-sent), S3 5/50,
    # S4 10/400; 20: a file without the column -> (4+0+1+5+10) / (100+50+100+50+400) = 20/700
    check(
        rows(seed, "unexcused_absence_rate", date_from=NOV(18), date_to=NOV(20))["all"], 20 / 700, 20, 700, 3
    )


def test_unexcused_missing_columns_give_null(seed):
    check(rows(seed, "unexcused_absence_rate", date_from=NOV(20), date_to=NOV(20))["all"], None, 0, 0, 0)


# -- reporting_rate ------------------------------------------------------------------------------
def test_reporting_rate(seed):
    # school days 18, 19, 20 (the 21st is no school day); 4 active schools -> 12 school-days;
    # reported: 18: S1 S2 S3, 19: S1 S3 S4, 20: S1 S2 -> 8 (S5's row is not counted)
    check(rows(seed, "reporting_rate", date_from=NOV(16), date_to=NOV(22))["all"], 8 / 12, 8, 12, 4)


def test_reporting_rate_by_date_and_district(seed):
    by_date = rows(seed, "reporting_rate", by="date", date_from=NOV(18), date_to=NOV(21))
    assert list(by_date) == ["2026-11-18", "2026-11-19", "2026-11-20"]
    check(by_date["2026-11-20"], 2 / 4, 2, 4, 2)
    by_district = rows(seed, "reporting_rate", by="district", date_from=NOV(18), date_to=NOV(20))
    # 760 (S1 3 days, S2 2, S3 2) = 7 / (3 x 3); 778 (S4 1) = 1 / (3 x 1)
    check(by_district["760"], 7 / 9, 7, 9, 3)
    check(by_district["778"], 1 / 3, 1, 3, 1)


def test_reporting_rate_school_day_is_citywide(seed):
    # on the 20th only 760 schools reported, but it is a school day for 778 too: 0/1, not null
    r = rows(seed, "reporting_rate", date_from=NOV(20), date_to=NOV(20), scope=Scope(district="Quận 7"))[
        "all"
    ]
    check(r, 0.0, 0, 1, 0)


# -- bandwidth_coverage ------------------------------------------------------------------------
def test_bandwidth_coverage(seed):
    # window 14..20 (local). S1: 4 probes, all fast (the offline one re-sent as 22 Mbps) -> covered;
    # S2: 20, 20, 10, offline -> 2 of 4 fast = half -> covered; S3: offline (2026-11-13T17:30Z =
    # 14th 00:30 local, inside), 50, offline -> 1 of 3 -> not; its 2026-11-20T17:30Z probe is the
    # 21st locally, outside. S4 has no probe -> not covered. 2 of 4 active schools.
    result = compute(seed, KpiQuery("bandwidth_coverage", date_to=NOV(20)))
    assert (result.date_from, result.date_to) == (NOV(14), NOV(20))
    check(result.rows[0], 0.5, 2, 4, 3)


def test_bandwidth_coverage_by_district_and_default_window(seed):
    by_district = rows(seed, "bandwidth_coverage", by="district", date_to=NOV(20))
    check(by_district["760"], 2 / 3, 2, 3, 3)
    check(by_district["778"], 0.0, 0, 1, 0)  # S4 without a probe: 0 %, not null
    # default: the latest local date with probes is the 21st (the UTC probe) -> window 15..21:
    # S3 now has offline (19th) + 100 Mbps (21st) = 1 of 2 fast -> covered; S1, S2 covered -> 3/4
    result = compute(seed, KpiQuery("bandwidth_coverage"))
    assert (result.date_from, result.date_to) == (NOV(15), NOV(21))
    check(result.rows[0], 3 / 4, 3, 4, 3)


def test_bandwidth_coverage_daily_series(seed):
    series = rows(seed, "bandwidth_coverage", by="date", date_from=NOV(17), date_to=NOV(20))
    # 17th: no probes -> 0/4; 18th: S3 (50) -> 1/4; 19th: S2 (2 of 4 fast) -> 1/4; 20th: S1 -> 1/4
    assert [r.value for r in series.values()] == [0.0, 0.25, 0.25, 0.25]


# -- uptime ------------------------------------------------------------------------------------
def test_uptime(seed):
    # 14..20: online S1 4 (after the re-send) + S2 3 + S3 1 = 8 of 4 + 4 + 3 = 11 probes; S5 excluded
    check(rows(seed, "uptime", date_to=NOV(20))["all"], 8 / 11, 8, 11, 3)
    # S4 alone has no probe: null
    assert rows(seed, "uptime", date_to=NOV(20), scope=Scope(school="S4"))["all"].value is None


# -- digital_readiness ------------------------------------------------------------------------
def test_digital_readiness(seed):
    # to = 20th: snapshots S1 (11-01; the 11-25 one is after `to`), S2 (10-01), S3 (11-01); S4 none.
    # S1: devices 50/100=.5, smart 5/10=.5, trained 10/10=1, lms 80/100=.8, e-transcript 1,
    #     cashless .6, covered 1 -> 5.4/7
    # S2: 300/200 clipped to 1, 2/8=.25, 5/20=.25, 0, 0, .2, covered 1 -> 2.7/7
    # S3: 10/50=.2, 0/5=0, 5/5=1, 25/50=.5, 1, 1.0, not covered 0 -> 3.7/7
    # mean of 100 x index = 100 x (5.4 + 2.7 + 3.7) / 7 / 3
    r = rows(seed, "digital_readiness", date_to=NOV(20))["all"]
    check(r, 100 * 11.8 / 21, 100 * 11.8 / 7, 3, 3)


def test_digital_before_any_snapshot_is_null(seed):
    for kpi in ("digital_readiness", "e_transcript_adoption", "smart_classroom_share"):
        check(rows(seed, kpi, date_to=date(2026, 9, 30))["all"], None, 0, 0, 0)


def test_digital_snapshot_after_period_end_is_used_later(seed):
    # to = 25th: S1 uses its 11-25 snapshot: 1, 1, 1, 1, 1, 1, covered in 19..25 (1) -> 7/7;
    # S2 unchanged but window 19..25 still holds its 19th probes -> covered -> 2.7/7;
    # S3: probes 19th offline + 21st 100 Mbps -> 1 of 2 -> covered -> 4.7/7
    r = rows(seed, "digital_readiness", date_to=NOV(25))["all"]
    assert r.value == pytest.approx(100 * (7 + 2.7 + 4.7) / 21)


def test_snapshot_ratios(seed):
    # S1 true, S2 false, S3 "có" (true) -> 2/3
    check(rows(seed, "e_transcript_adoption", date_to=NOV(20))["all"], 2 / 3, 2, 3, 3)
    # (.6 + .2 + 1.0) / 3
    check(rows(seed, "cashless_share", date_to=NOV(20))["all"], 0.6, 1.8, 3, 3)
    # (5 + 2 + 0) / (10 + 8 + 5)
    check(rows(seed, "smart_classroom_share", date_to=NOV(20))["all"], 7 / 23, 7, 23, 3)
    # (10 + 5 + 5) / (10 + 20 + 5)
    check(rows(seed, "teachers_trained_share", date_to=NOV(20))["all"], 20 / 35, 20, 35, 3)


# -- the other connectivity KPIs ---------------------------------------------------------------
def test_median_download(seed):
    # online probes with a speed in 14..20: S1 25 25 22 25, S2 20 20 10, S3 50 -> sorted
    # 10 20 20 22 25 25 25 50 -> (22 + 25) / 2
    r = rows(seed, "median_download_mbps", date_to=NOV(20))["all"]
    assert r.value == pytest.approx(23.5) and r.denominator == 8


def test_mbps_per_student(seed):
    # mean speeds: S1 97/4 = 24.25 (100 students), S2 50/3 (200), S3 50 (50) -> sum / 350
    total = 24.25 + 50 / 3 + 50
    check(rows(seed, "mbps_per_student", date_to=NOV(20))["all"], total / 350, total, 350, 3)


def test_schools_offline_now(seed):
    # "now" = the newest probe up to the end of the 20th: S1 08:15 (S5 is inactive but its probe at
    # 08:05 is older anyway); in (07:15, 08:15] only S1 was online -> S2, S3, S4 offline: 3 of 4
    r = rows(seed, "schools_offline_now", date_to=NOV(20))["all"]
    check(r, 3, 3, 4, 1)
    assert r.as_of.hour == 8 and r.as_of.minute == 15


# -- chronic_absence_risk ---------------------------------------------------------------------
def test_chronic_absence_risk(seed):
    # over the school days 18..20: S1 267/300 = .89 < .9 at risk; S2 330/400 = .825 at risk;
    # S3 90/100 = .90 is not below; S4 380/400 = .95 -> 2 of 4
    check(rows(seed, "chronic_absence_risk", date_to=NOV(20))["all"], 0.5, 2, 4, 4)


def test_schools_offline_now_daily_series(seed):
    # each day's "now" is that day's newest probe: 18th S3 10:00 (online: S3 only); 19th S3 10:00
    # (in (09:00, 10:00] S2 was online at 09:05 and 09:10); 20th S1 08:15 (S1 online); 21st S3 00:30
    # (the UTC probe, online) -> 3 of 4 offline every day
    series = rows(seed, "schools_offline_now", by="date", date_from=NOV(18), date_to=NOV(21))
    assert [(k, r.value, r.denominator) for k, r in series.items()] == [
        ("2026-11-18", 3, 4),
        ("2026-11-19", 3, 4),
        ("2026-11-20", 3, 4),
        ("2026-11-21", 3, 4),
    ]
    assert [(r.as_of.day, r.as_of.hour, r.as_of.minute) for r in series.values()] == [
        (18, 10, 0),
        (19, 10, 0),
        (20, 8, 15),
        (21, 0, 30),
    ]
    assert [r.schools_reporting for r in series.values()] == [1, 1, 1, 1]


def test_median_download_daily_series(seed):
    # 18th: S3 50; 19th: S2 20 20 10; 20th: S1 25 25 22 25 (S5 inactive); 21st local: S3's UTC probe 100
    series = rows(seed, "median_download_mbps", by="date", date_from=NOV(18), date_to=NOV(21))
    assert [(k, r.value, r.denominator) for k, r in series.items()] == [
        ("2026-11-18", 50, 1),
        ("2026-11-19", 20, 3),
        ("2026-11-20", 25, 4),
        ("2026-11-21", 100, 1),
    ]
    week = rows(seed, "median_download_mbps", by="week", date_from=NOV(14), date_to=NOV(22))
    # W46 (14-15th): no online probe; W47 (16-22nd): 10 20 20 22 25 25 25 50 100 -> 25
    assert [(k, r.value) for k, r in week.items()] == [("2026-W47", 25)]
