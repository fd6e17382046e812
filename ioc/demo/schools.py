"""The demo's schools: who they are, where they are, and how they change over time.

Schools are spread over the 168 current units in proportion to how many former wards each unit
absorbed (a rough stand-in for population), with at least one school per unit when there are
enough schools. Each school also keeps the former ward it stood in before 2025-07-01, so the
schools file can be written as it was before the reorganisation (old ward, old district) and
after it (current unit, the former district that unit is grouped by): every school changes ward
that day, and the schools of the 17 units that absorbed wards of a neighbouring district change
district too.

A *version* of the schools file is written for each date the dimension changed: the start of the
2024-25 school year (before the reorganisation), 2025-07-01 (the reorganisation), and the start of
each later school year up to today (new enrolment numbers, a few schools opened and closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache

import numpy as np
import pandas as pd

from ioc import geography
from ioc.demo import calendar
from ioc.demo.names import school_names
from ioc.demo.random import stream

LEVELS = ("preschool", "primary", "lower_secondary", "upper_secondary", "continuing", "multi_level")
LEVEL_SHARE = np.array([0.40, 0.27, 0.18, 0.07, 0.03, 0.05])
PRIVATE_SHARE = {
    "preschool": 0.45,
    "primary": 0.08,
    "lower_secondary": 0.06,
    "upper_secondary": 0.20,
    "continuing": 0.0,
    "multi_level": 0.85,
}
# Median students of a public / private school, and the spread (log-normal sigma).
SIZE = {
    "preschool": (380, 140, 0.40),
    "primary": (1300, 600, 0.35),
    "lower_secondary": (1350, 650, 0.35),
    "upper_secondary": (1450, 800, 0.30),
    "continuing": (450, 450, 0.40),
    "multi_level": (1100, 1000, 0.45),
}
STUDENTS_PER_TEACHER = {
    "preschool": 13.0,
    "primary": 24.0,
    "lower_secondary": 20.0,
    "upper_secondary": 19.0,
    "continuing": 25.0,
    "multi_level": 14.0,
}
STUDENTS_PER_CLASS = {
    "preschool": 28.0,
    "primary": 40.0,
    "lower_secondary": 43.0,
    "upper_secondary": 42.0,
    "continuing": 38.0,
    "multi_level": 28.0,
}
VIETNAMESE_LEVEL = {
    "preschool": "Mầm non",
    "primary": "Tiểu học",
    "lower_secondary": "THCS",
    "upper_secondary": "THPT",
    "continuing": "GDTX",
    "multi_level": "Liên cấp",
}
VIETNAMESE_OWNERSHIP = {"public": "Công lập", "private": "Ngoài công lập"}

BASE_SCHOOL_YEAR = 2024  # sizes are drawn for this school year and grow from it
FIRST_VERSION = date(2024, 9, 1)


@dataclass(frozen=True)
class SchoolsVersion:
    """The schools file as of ``effective`` (contract columns, one row per listed school)."""

    effective: date
    table: pd.DataFrame


@dataclass(frozen=True)
class City:
    """Every demo school (``schools``: one row each, static attributes) and the file versions."""

    schools: pd.DataFrame
    versions: tuple[SchoolsVersion, ...]

    def version_on(self, day: date) -> SchoolsVersion:
        """The version in force on ``day`` (the latest with effective <= day)."""
        current = None
        for version in self.versions:
            if version.effective <= day:
                current = version
        if current is None:
            raise ValueError(f"no schools version is in force on {day}")
        return current

    @property
    def ids(self) -> np.ndarray:
        return self.schools["school_id"].to_numpy()


def urbanity(unit: geography.Unit) -> float:
    """0..1: how urban a unit is (drives size, private share, connectivity, digital progress)."""
    if unit.kind == "đặc khu":
        return 0.1
    if unit.kind == "xã":
        return 0.35
    if unit.district_name.startswith("Quận"):
        return 1.0
    if unit.district_code == "769":  # Thủ Đức
        return 0.85
    return 0.7


def version_dates(first_day: date, today: date) -> list[date]:
    """Dates a schools version takes effect, covering ``first_day`` .. ``today``."""
    start_year = min(FIRST_VERSION.year, calendar.school_year_of(first_day))
    dates = {date(year, 9, 1) for year in range(start_year, calendar.school_year_of(today) + 1)}
    dates.add(geography.REORGANISED_ON)
    return sorted(d for d in dates if d <= today)


def _place_units(n: int, rng: np.random.Generator) -> np.ndarray:
    units = geography.units()
    weights = np.array(
        [
            sum(1.0 if w.share == "full" else 0.5 for w in u.formed_from) * (1.2 if u.urban else 1.0)
            for u in units
        ]
    )
    weights = weights * rng.lognormal(0.0, 0.25, len(units))
    p = weights / weights.sum()
    if n < len(units):
        return np.sort(rng.choice(len(units), size=n, replace=False, p=p))
    extra = rng.multinomial(n - len(units), p)
    return np.repeat(np.arange(len(units)), extra + 1)


@cache
def _ward_centre(unit_code: str) -> tuple[float, float, float]:
    """An approximate centre for a unit: a fixed point inside its former district's circle."""
    unit = geography.unit(unit_code)
    district = geography.district(unit.district_code)
    rng = np.random.default_rng([7_001, int(unit_code)])
    siblings = len(district.unit_codes)
    spread = 0.0 if siblings == 1 else district.radius_km * 0.65
    angle = rng.uniform(0, 2 * np.pi)
    distance = spread * np.sqrt(rng.uniform())
    lat = district.latitude + distance * np.sin(angle) / 111.32
    lon = district.longitude + distance * np.cos(angle) / (111.32 * np.cos(np.radians(district.latitude)))
    own_radius = district.radius_km / np.sqrt(siblings)
    return float(lat), float(lon), float(own_radius)


def generate(n: int, seed: int, first_day: date, today: date) -> City:
    """``n`` schools and their versions for data from ``first_day`` to ``today``."""
    if n < 1:
        raise ValueError("the demo needs at least one school")
    rng = stream(seed, "schools")
    units = geography.units()
    unit_index = _place_units(n, rng)
    unit_of = [units[i] for i in unit_index]
    levels = np.array(LEVELS)[rng.choice(len(LEVELS), size=n, p=LEVEL_SHARE / LEVEL_SHARE.sum())]
    urban = np.array([urbanity(u) for u in unit_of])
    private_p = np.array([PRIVATE_SHARE[lv] for lv in levels]) * (0.55 + 0.6 * urban)
    private = rng.uniform(size=n) < np.clip(private_p, 0, 0.95)
    ownership = np.where(private, "private", "public")

    # Order schools by district, unit and level so ids read naturally in listings.
    order = np.lexsort(
        (
            np.array([LEVELS.index(lv) for lv in levels]),
            np.array([u.code for u in unit_of]),
            np.array([u.district_code for u in unit_of]),
        )
    )
    unit_of = [unit_of[i] for i in order]
    levels, urban, ownership = levels[order], urban[order], ownership[order]

    medians = np.array(
        [SIZE[lv][0] if own == "public" else SIZE[lv][1] for lv, own in zip(levels, ownership, strict=True)],
        dtype=float,
    )
    sigmas = np.array([SIZE[lv][2] for lv in levels])
    base_students = np.maximum(25, medians * (0.75 + 0.35 * urban) * rng.lognormal(0.0, sigmas))
    growth = rng.normal(0.01, 0.04, n)
    per_teacher = np.array([STUDENTS_PER_TEACHER[lv] for lv in levels]) * rng.lognormal(0, 0.12, n)
    per_class = np.array([STUDENTS_PER_CLASS[lv] for lv in levels]) * rng.lognormal(0, 0.10, n)

    former = []
    for unit in unit_of:
        wards = unit.formed_from
        weights = np.array([1.0 if w.share == "full" else 0.5 for w in wards])
        former.append(wards[int(rng.choice(len(wards), p=weights / weights.sum()))])

    lat = np.empty(n)
    lon = np.empty(n)
    for i, unit in enumerate(unit_of):
        clat, clon, radius = _ward_centre(unit.code)
        dlat, dlon = rng.normal(0, radius * 0.35, 2)
        lat[i] = clat + dlat / 111.32
        lon[i] = clon + dlon / (111.32 * np.cos(np.radians(clat)))

    names = school_names(levels, [u.short_name for u in unit_of], [u.district_name for u in unit_of], rng)
    frame = pd.DataFrame(
        {
            "school_id": [f"79{i + 1:06d}" for i in range(n)],
            "school_name": names,
            "level": levels,
            "ownership": ownership,
            "ward_code": [u.code for u in unit_of],
            "ward_name": [u.name for u in unit_of],
            "district_code": [u.district_code for u in unit_of],
            "district_name": [u.district_name for u in unit_of],
            "old_ward_code": [w.code for w in former],
            "old_ward_name": [w.name for w in former],
            "old_district_code": [w.district_code for w in former],
            "old_district_name": [w.district_name for w in former],
            "latitude": np.round(lat, 6),
            "longitude": np.round(lon, 6),
            "urbanity": urban,
            "base_students": base_students,
            "growth": growth,
            "per_teacher": per_teacher,
            "per_class": per_class,
        }
    )

    dates = version_dates(first_day, today)
    frame["opened"] = pd.NaT
    frame["closed"] = pd.NaT
    frame["never_active"] = False
    # A few schools open or close at the start of the latest school year after the reorganisation,
    # and a few stay listed while inactive: each leaves or enters every denominator on its date.
    change_day = dates[-1] if dates[-1] > geography.REORGANISED_ON else None
    few = max(1, round(n * 0.004)) if n >= 50 else 0
    picked = rng.choice(n, size=min(n, 3 * few), replace=False)
    if change_day is not None:
        frame.loc[picked[:few], "opened"] = pd.Timestamp(change_day)
        frame.loc[picked[few : 2 * few], "closed"] = pd.Timestamp(change_day)
    frame.loc[picked[2 * few : 3 * few], "never_active"] = True

    versions = tuple(SchoolsVersion(d, _version_table(frame, d)) for d in dates)
    return City(frame, versions)


def _version_table(frame: pd.DataFrame, effective: date) -> pd.DataFrame:
    stamp = pd.Timestamp(effective)
    listed = frame[frame["opened"].isna() | (frame["opened"] <= stamp)]
    years = calendar.school_year_of(effective) - BASE_SCHOOL_YEAR
    students = np.maximum(20, np.round(listed["base_students"] * (1 + listed["growth"]) ** years)).astype(int)
    teachers = np.maximum(2, np.round(students / listed["per_teacher"])).astype(int)
    classrooms = np.maximum(1, np.round(students / listed["per_class"])).astype(int)
    closed = listed["closed"].notna() & (listed["closed"] <= stamp)
    before = effective < geography.REORGANISED_ON
    prefix = "old_" if before else ""
    return pd.DataFrame(
        {
            "school_id": listed["school_id"],
            "school_name": listed["school_name"],
            "level": listed["level"],
            "ownership": listed["ownership"],
            "ward_code": listed[prefix + "ward_code"],
            "ward_name": listed[prefix + "ward_name"],
            "district_code": listed[prefix + "district_code"],
            "district_name": listed[prefix + "district_name"],
            "latitude": listed["latitude"],
            "longitude": listed["longitude"],
            "students": students,
            "teachers": teachers,
            "classrooms": classrooms,
            "active": ~(closed | listed["never_active"]),
        }
    ).reset_index(drop=True)


def enrolment(city: City, day: date) -> tuple[np.ndarray, np.ndarray]:
    """Per school of ``city.schools`` (same order): students on ``day`` and whether it is open."""
    table = city.version_on(day).table
    index = pd.Index(city.schools["school_id"])
    positions = index.get_indexer(table["school_id"])
    students = np.zeros(len(index), dtype=np.int64)
    open_ = np.zeros(len(index), dtype=bool)
    students[positions] = table["students"].to_numpy()
    open_[positions] = table["active"].to_numpy()
    return students, open_


def bounds(city: City) -> pd.DataFrame:
    """Smallest students/teachers/classrooms each school has in any version.

    Digital snapshots stay within these, so they respect the contract whichever version of the
    school a loader compares them with.
    """
    tables = pd.concat([v.table for v in city.versions])
    return tables.groupby("school_id")[["students", "teachers", "classrooms"]].min()
