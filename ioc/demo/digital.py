"""Monthly digital-readiness snapshots that improve through the year, unevenly across the city.

Each school starts from a level that depends on how urban its ward is and gains a share every
month at its own pace (urban schools faster) up to its own ceiling. Smart classrooms arrive in batches (a project
equips several rooms at once), electronic transcripts switch on in a given month and stay on.
Every value stays inside the contract: smart_classrooms <= classrooms, teachers_trained <=
teachers, lms_active_students <= students (of the school's smallest version), cashless 0..1.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from ioc.demo.random import stream
from ioc.demo.schools import City, bounds

# Month 0 of every school's trajectory: the city's programme after the 2025 reorganisation.
EPOCH = date(2025, 7, 1)


def months(today: date, first_day: date | None = None, minimum: int = 2) -> list[date]:
    """The 1st of every month from ``first_day``'s month to ``today``'s (oldest first).

    The snapshots cover the period the rest of the demo covers, and there are always at least
    ``minimum`` of them, so a trend and a change since the previous snapshot exist.
    """
    first_day = first_day or today
    out: list[date] = []
    year, month = today.year, today.month
    while len(out) < minimum or date(year, month, 1) >= date(first_day.year, first_day.month, 1):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _months_since_epoch(day: date) -> int:
    return (day.year - EPOCH.year) * 12 + day.month - EPOCH.month


def generate(city: City, as_of: date, seed: int) -> pd.DataFrame:
    """The snapshot of every open school on ``as_of``."""
    schools = city.schools
    n = len(schools)
    rng = stream(seed, "digital-schools")
    urban = schools["urbanity"].to_numpy()
    preschool = (schools["level"] == "preschool").to_numpy()
    private = (schools["ownership"] == "private").to_numpy()
    start = np.clip(0.05 + 0.25 * urban + 0.10 * private + rng.normal(0, 0.06, (6, n)), 0.0, 0.9)
    speed = (0.008 + 0.018 * urban) * rng.lognormal(0, 0.35, (6, n))  # share gained per month
    ceiling = np.clip(rng.normal(0.9, 0.07, (6, n)), 0.5, 1.0)
    transcript_month = np.round(rng.exponential(4 + 14 * (1 - urban)) - 6).astype(int)
    device_ratio = np.where(preschool, 0.25, 1.0)  # few devices for three-year-olds
    lms_ratio = np.where(preschool, 0.1, 1.0)

    m = _months_since_epoch(as_of)
    progress = np.minimum(np.maximum(start, ceiling), start + speed * max(m, 0))
    limits = bounds(city).reindex(schools["school_id"])
    students = limits["students"].to_numpy()
    teachers = limits["teachers"].to_numpy()
    classrooms = limits["classrooms"].to_numpy()

    table = city.version_on(as_of).table
    listed = set(table.loc[table["active"], "school_id"])
    keep = schools["school_id"].isin(listed).to_numpy()

    def count(share: np.ndarray, total: np.ndarray) -> np.ndarray:
        return np.minimum(total, np.floor(np.clip(share, 0, 1) * total)).astype(np.int64)

    # Smart classrooms come in batches (a project equips a few rooms at once).
    batch = 4
    smart = np.minimum(classrooms, (count(progress[1], classrooms) // batch) * batch)
    frame = pd.DataFrame(
        {
            "as_of": as_of,
            "school_id": schools["school_id"].to_numpy(),
            "student_devices": count(progress[0] * device_ratio, students),
            "teacher_devices": count(np.clip(progress[0] + 0.35, 0, 1), teachers),
            "smart_classrooms": smart,
            "teachers_trained": count(progress[2], teachers),
            "lms_active_students": count(progress[3] * lms_ratio, students),
            "e_transcript": m >= transcript_month,
            "cashless_share": np.round(np.clip(progress[4], 0, 1), 3),
        }
    )
    return frame[keep].reset_index(drop=True)
