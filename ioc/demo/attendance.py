"""Daily attendance of every open school on every school day.

Each school has its own usual rate (preschools and continuing-education centres lower, rural
schools slightly lower). On top of it a day brings:

- a weekday effect (Mondays and Fridays a little lower),
- the days around Tết (families leave early and come back late),
- a flu season after Tết (a dip of a few points, deeper in preschools),
- flooding: a few days each rainy season (September to November) when high tides and rain flood
  low-lying wards; their schools lose many pupils and some do not report at all,
- reporting gaps: a few unreliable schools miss days, every school very occasionally forgets,
  and a few schools stopped reporting in the last days (what "not reporting today" is for).

Most schools also split absences into excused and unexcused; the others leave both empty.
Every row satisfies present + absent_excused + absent_unexcused = enrolled.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from ioc.demo import calendar
from ioc.demo.random import stream
from ioc.demo.schools import City, enrolment

BASE_RATE = {
    "preschool": 0.935,
    "primary": 0.968,
    "lower_secondary": 0.962,
    "upper_secondary": 0.958,
    "continuing": 0.905,
    "multi_level": 0.965,
}
WEEKDAY_EFFECT = (-0.007, 0.002, 0.003, 0.002, -0.005)  # Monday .. Friday
LOW_LYING_DISTRICTS = (
    "776",
    "786",
    "785",
    "787",
    "769",
    "778",
)  # Quận 8, Nhà Bè, Bình Chánh, Cần Giờ, Thủ Đức, Quận 7
FLOODS_PER_SEASON = 3


@dataclass(frozen=True)
class Flood:
    day: date
    units: frozenset[str]  # current unit codes under water that day


@dataclass(frozen=True)
class DayRows:
    """The attendance rows of one school day (arrays of equal length)."""

    day: date
    school_id: np.ndarray
    enrolled: np.ndarray
    present: np.ndarray
    absent_excused: np.ndarray  # -1 where the school does not split absences
    absent_unexcused: np.ndarray


def floods(city: City, seed: int, years: range) -> dict[date, Flood]:
    """The flooding days of each rainy season in ``years`` and the units they hit."""
    low_units = sorted(
        set(city.schools.loc[city.schools["district_code"].isin(LOW_LYING_DISTRICTS), "ward_code"])
    )
    out: dict[date, Flood] = {}
    if not low_units:
        return out
    for year in years:
        rng = stream(seed, "floods", year)
        season = calendar.school_days(date(year, 9, 15), date(year, 11, 30))
        if not season:
            continue
        picked = rng.choice(len(season), size=min(FLOODS_PER_SEASON, len(season)), replace=False)
        for i in sorted(picked):
            share = rng.uniform(0.4, 0.9)
            hit = [u for u in low_units if rng.uniform() < share] or [
                low_units[int(rng.integers(len(low_units)))]
            ]
            out[season[i]] = Flood(season[i], frozenset(hit))
    return out


def _season_effect(day: date, levels: np.ndarray) -> np.ndarray:
    """Tết travel and the flu season that follows it."""
    tet = calendar.tet(day.year)
    first_off, last_off = calendar.tet_break(day.year)
    effect = np.zeros(len(levels))
    if timedelta(0) < first_off - day <= timedelta(days=4):
        effect -= 0.018
    if timedelta(0) < day - last_off <= timedelta(days=3):
        effect -= 0.012
    # Flu peaks about four weeks after Tết, when pupils are back from their home provinces.
    peak = tet + timedelta(days=28)
    dip = 0.028 * np.exp(-(((day - peak).days / 12.0) ** 2))
    effect -= dip * np.where(levels == "preschool", 1.6, 1.0)
    return effect


def generate(city: City, days: list[date], seed: int, today: date) -> Iterator[DayRows]:
    """The attendance rows of each day in ``days`` (school days, oldest first)."""
    schools = city.schools
    n = len(schools)
    rng = stream(seed, "attendance-schools")
    levels = schools["level"].to_numpy()
    urban = schools["urbanity"].to_numpy()
    base = np.array([BASE_RATE[lv] for lv in levels]) - 0.008 * (1 - urban) + rng.normal(0, 0.01, n)
    splits = rng.uniform(size=n) < 0.85
    excused_share = rng.beta(6, 3, n)
    unreliable = rng.uniform(size=n) < 0.03
    few = max(1, round(n * 0.003)) if n >= 50 else 0
    stopped = np.zeros(n, dtype=bool)
    stopped[rng.choice(n, size=few, replace=False)] = True
    stopped_days = rng.integers(1, 4, n)  # how many of the last school days they missed
    ward = schools["ward_code"].to_numpy()
    ids = schools["school_id"].to_numpy()

    years = (
        range(calendar.school_year_of(days[0]), calendar.school_year_of(days[-1]) + 1) if days else range(0)
    )
    flood_days = floods(city, seed, years)
    recent = calendar.last_school_days(today, 4)

    for day in days:
        students, open_ = enrolment(city, day)
        day_rng = stream(seed, "attendance-day", day.toordinal())
        rate = base + WEEKDAY_EFFECT[day.weekday()] + _season_effect(day, levels)
        rate += day_rng.normal(0, 0.004)  # the whole city's day-to-day wobble
        rate += day_rng.normal(0, 0.006, n)
        reports = open_ & (students > 0)
        reports &= day_rng.uniform(size=n) >= np.where(unreliable, 0.15, 0.002)
        flood = flood_days.get(day)
        if flood is not None:
            hit = np.isin(ward, list(flood.units))
            rate = np.where(hit, rate - day_rng.uniform(0.12, 0.40, n), rate)
            reports &= ~(hit & (day_rng.uniform(size=n) < 0.2))
        if day in recent:
            reports &= ~(stopped & (len(recent) - recent.index(day) <= stopped_days))
        rate = np.clip(rate, 0.3, 0.998)
        present = day_rng.binomial(students, rate)
        absent = students - present
        excused_p = np.clip(excused_share + (0.1 if flood is not None else 0.0), 0, 1)
        excused = day_rng.binomial(absent, excused_p)
        unexcused = absent - excused
        excused = np.where(splits, excused, -1)
        unexcused = np.where(splits, unexcused, -1)
        keep = np.flatnonzero(reports)
        yield DayRows(day, ids[keep], students[keep], present[keep], excused[keep], unexcused[keep])
