"""The demo looks like the city: mixes, calendar effects, floods, gaps, improvement, speeds."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ioc import geography
from ioc.demo import attendance, calendar, connectivity, digital, schools

TODAY = date(2026, 11, 25)
SEED = 2026


@pytest.fixture(scope="module")
def city() -> schools.City:
    return schools.generate(3500, SEED, date(2025, 11, 26), TODAY)


@pytest.fixture(scope="module")
def year(city: schools.City) -> pd.DataFrame:
    """A full year of attendance for a 700-school city (one row per school day)."""
    small = schools.generate(700, SEED, date(2025, 11, 26), TODAY)
    days = calendar.school_days(date(2025, 11, 26), TODAY)
    rows = list(attendance.generate(small, days, SEED, TODAY))
    frame = pd.DataFrame(
        {
            "day": np.concatenate([np.full(len(r.school_id), r.day) for r in rows]),
            "school_id": np.concatenate([r.school_id for r in rows]),
            "enrolled": np.concatenate([r.enrolled for r in rows]),
            "present": np.concatenate([r.present for r in rows]),
            "excused": np.concatenate([r.absent_excused for r in rows]),
        }
    )
    frame.attrs["city"] = small
    frame.attrs["days"] = days
    return frame


def rate(frame: pd.DataFrame) -> float:
    return frame["present"].sum() / frame["enrolled"].sum()


def test_level_mix_and_ownership(city: schools.City) -> None:
    share = city.schools["level"].value_counts(normalize=True)
    assert 0.36 < share["preschool"] < 0.44
    assert 0.23 < share["primary"] < 0.31
    assert 0.15 < share["lower_secondary"] < 0.21
    assert 0.05 < share["upper_secondary"] < 0.09
    private = city.schools.groupby("level")["ownership"].apply(lambda s: (s == "private").mean())
    assert private["preschool"] > 3 * private["primary"]
    assert private["continuing"] == 0


def test_sizes_teachers_and_classrooms_are_proportional(city: schools.City) -> None:
    table = city.versions[-1].table
    medians = table.groupby("level")["students"].median()
    assert medians["preschool"] < medians["primary"] < 2500
    assert (table["teachers"] >= 2).all() and (table["classrooms"] >= 1).all()
    per_teacher = (table["students"] / table["teachers"]).groupby(table["level"]).median()
    assert 8 < per_teacher["preschool"] < 18 and 15 < per_teacher["primary"] < 32


def test_every_unit_has_schools_and_names_are_unique_and_vietnamese(city: schools.City) -> None:
    assert city.schools["ward_code"].nunique() == 168
    assert city.schools["school_name"].is_unique
    prefixes = ("Trường Mầm non ", "Trường Tiểu học", "Trường THCS ", "Trường THPT ", "Trung tâm Giáo dục")
    assert city.schools["school_name"].str.startswith(prefixes).all()
    assert city.schools["school_id"].str.fullmatch(r"79\d{6}").all()


def test_schools_sit_near_their_former_district(city: schools.City) -> None:
    for code, group in city.schools.groupby("district_code"):
        district = geography.district(code)
        km = np.hypot(
            (group["latitude"] - district.latitude) * 111.32,
            (group["longitude"] - district.longitude) * 111.32 * np.cos(np.radians(district.latitude)),
        )
        assert km.median() < 1.5 * district.radius_km + 1, code


def test_versions_open_close_and_keep_inactive_schools(city: schools.City) -> None:
    first, last = city.versions[0].table, city.versions[-1].table
    assert [v.effective for v in city.versions] == [
        date(2024, 9, 1),
        date(2025, 7, 1),
        date(2025, 9, 1),
        date(2026, 9, 1),
    ]
    assert len(last) > len(first)  # schools opened this school year
    assert (~last["active"]).sum() > (~first["active"]).sum()  # and some closed
    assert (~first["active"]).sum() > 0  # listed but inactive all along


def test_attendance_only_on_school_days(year: pd.DataFrame) -> None:
    days = set(year["day"])
    assert all(calendar.is_school_day(d) for d in days)
    assert date(2026, 2, 17) not in days and date(2026, 4, 30) not in days


def test_city_attendance_is_realistic(year: pd.DataFrame) -> None:
    assert 0.94 < rate(year) < 0.97


def test_mondays_and_fridays_are_lower(year: pd.DataFrame) -> None:
    by_weekday = year.groupby(year["day"].map(lambda d: d.weekday())).apply(rate)
    assert by_weekday[0] < by_weekday[2] and by_weekday[4] < by_weekday[2]


def test_flu_season_dips_after_tet(year: pd.DataFrame) -> None:
    month = year["day"].map(lambda d: (d.year, d.month))
    by_month = year.groupby(month).apply(rate)
    assert by_month[(2026, 3)] < by_month[(2026, 4)] - 0.01
    assert by_month[(2026, 3)] < by_month[(2025, 12)] - 0.01


def test_floods_hit_low_lying_wards(year: pd.DataFrame) -> None:
    city = year.attrs["city"]
    floods = attendance.floods(city, SEED, range(2025, 2027))
    in_window = [f for f in floods.values() if f.day in set(year["day"])]
    assert in_window
    ward = dict(zip(city.schools["school_id"], city.schools["ward_code"], strict=True))
    for flood in in_window:
        assert all(geography.unit(u).district_code in attendance.LOW_LYING_DISTRICTS for u in flood.units)
        day = year[year["day"] == flood.day]
        hit = day["school_id"].map(ward).isin(flood.units)
        assert rate(day[hit]) < rate(day[~hit]) - 0.08


def test_some_schools_miss_days_and_some_stopped_reporting(year: pd.DataFrame) -> None:
    city = year.attrs["city"]
    open_days = year.groupby("school_id").size()
    assert open_days.max() == len(year.attrs["days"])
    assert (open_days < 0.9 * len(year.attrs["days"])).sum() >= 3  # unreliable reporters
    today_ids = set(year.loc[year["day"] == TODAY, "school_id"])
    open_today = set(city.version_on(TODAY).table.query("active")["school_id"])
    assert 0 < len(open_today - today_ids) < 0.1 * len(open_today)


def test_excused_absences_given_by_most_schools(year: pd.DataFrame) -> None:
    given = year.groupby("school_id")["excused"].min() >= 0
    assert 0.75 < given.mean() < 0.95


def test_digital_readiness_improves_faster_in_urban_wards(city: schools.City) -> None:
    months = digital.months(TODAY, date(2025, 11, 26))
    assert len(months) == 13 and months[0] == date(2025, 11, 1)
    assert digital.months(TODAY) == [date(2026, 10, 1), date(2026, 11, 1)]
    first = digital.generate(city, months[0], SEED).set_index("school_id")
    last = digital.generate(city, months[-1], SEED).set_index("school_id")
    both = first.index.intersection(last.index)
    gain = (last.loc[both, "teachers_trained"] - first.loc[both, "teachers_trained"]).clip(lower=0)
    assert (last.loc[both, "teachers_trained"] >= first.loc[both, "teachers_trained"]).all()
    assert last["e_transcript"].mean() > first["e_transcript"].mean()
    urban = city.schools.set_index("school_id").loc[both, "urbanity"] >= 0.95
    teachers = city.versions[-1].table.set_index("school_id").loc[both, "teachers"]
    relative = gain / teachers
    assert relative[urban].mean() > relative[~urban].mean()


def test_urban_lines_are_faster_and_some_schools_have_no_probe(city: schools.City) -> None:
    lines = connectivity.lines(city, SEED)
    table = connectivity.generate(city, lines, TODAY, SEED, connectivity.SLOTS - 1, "local").to_pandas()
    assert table["school_id"].nunique() < city.versions[-1].table["active"].sum()
    assert 10 <= (~lines.probed).sum() <= 70
    urbanity = table["school_id"].map(city.schools.set_index("school_id")["urbanity"])
    median = table.groupby(urbanity >= 0.95)["download_mbps"].median()
    assert 50 < median[True] < 300 and median[False] < median[True] / 2
    per_school = table.groupby("school_id")["download_mbps"].median()
    assert (per_school < 20).sum() > 50  # outer communes below the 20 Mbps threshold
    offline = ~table["online"]
    assert 0.001 < offline.mean() < 0.03
    assert table.loc[offline, "download_mbps"].isna().all()
    assert len(table) == table["school_id"].nunique() * connectivity.SLOTS
