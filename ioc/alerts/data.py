"""What the alert rules read from the store: school days, the hierarchy, attendance and probes.

Every query binds its values; table names are fixed. Frames come back as pandas objects for the
detectors (ioc/alerts/detect.py), which never touch the store themselves.
"""

from __future__ import annotations

# ruff: noqa: S608 -- fixed table names; every value is bound
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from ioc.calendar import SchoolCalendar

if TYPE_CHECKING:
    from ioc.store import Store

SLOT_MINUTES = 5  # probes arrive every 5 minutes: an outage is counted in 5-minute slots

# each school in its version valid at $day (else its earliest), with the first day it is known
HIERARCHY_SQL = """
SELECT school_id, school_name,
       coalesce(ward_code, ward_name) AS ward, ward_name,
       coalesce(district_code, district_name) AS district, district_name,
       active, students,
       min(valid_from) OVER (PARTITION BY school_id) AS known_from
FROM schools
QUALIFY row_number() OVER (
    PARTITION BY school_id
    ORDER BY (valid_from <= $day) DESC,
             CASE WHEN valid_from <= $day THEN valid_from END DESC NULLS LAST,
             valid_from, run_id DESC) = 1
"""


def hierarchy(store: Store, day: date) -> pd.DataFrame:
    """One row per school (index school_id): names, ward, district, active, students, known_from."""
    frame = store.arrow(HIERARCHY_SQL, {"day": day}).to_pandas()
    return frame.set_index("school_id")


def attendance_days(store: Store, first: date, last: date) -> list[date]:
    """Dates in [first, last] on which any school of the city reported attendance."""
    rows = store.execute(
        "SELECT DISTINCT date FROM attendance WHERE date BETWEEN ? AND ? ORDER BY 1", [first, last]
    ).rows
    return [r[0] for r in rows]


def latest_attendance_day(store: Store) -> date | None:
    value = store.execute("SELECT max(date) FROM attendance").scalar()
    return value if isinstance(value, date) else None


def latest_probe_day(store: Store) -> date | None:
    """The newest local day with probes (from the daily rollup: no scan of the probes)."""
    value = store.execute("SELECT max(day) FROM connectivity_daily").scalar()
    return value if isinstance(value, date) else None


def newest(store: Store) -> tuple[date | None, date | None]:
    """(the newest day with attendance, the newest day with probes)."""
    return latest_attendance_day(store), latest_probe_day(store)


def school_days(
    store: Store,
    cal: SchoolCalendar,
    first: date,
    last: date,
    known: tuple[date | None, date | None] | None = None,
) -> list[date]:
    """The school days in [first, last] as SPEC section 5 defines them: the dates on which some school
    reported attendance; after the latest of them, the calendar's school days on which probes came
    in (today, before attendance is sent). A past date nobody reported on is a day off.
    ``known``: :func:`newest`, when the caller has it already."""
    days = attendance_days(store, first, last)
    latest, probes = known or newest(store)
    if probes is not None and (latest is None or probes > latest):
        start = max(first, (latest or first - timedelta(days=1)) + timedelta(days=1))
        days += [d for d in cal.school_days(start, min(last, probes))]
    return sorted(set(days))


def attendance(store: Store, first: date, last: date) -> pd.DataFrame:
    """Attendance rows in [first, last]: date, school_id, enrolled, present."""
    return store.arrow(
        "SELECT date, school_id, enrolled, present FROM attendance WHERE date BETWEEN ? AND ?", [first, last]
    ).to_pandas()


@dataclass(frozen=True)
class Downtime:
    school_id: str
    day: date
    first: pd.Timestamp  # local time of the first slot down
    last: pd.Timestamp  # local time of the last slot down
    minutes: int


def _local_bounds(day: date, hours: tuple[time, time], tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return datetime.combine(day, hours[0], zone), datetime.combine(day, hours[1], zone)


def downtimes(
    store: Store, days: list[date], hours: tuple[time, time], minutes: int, tz: str
) -> pd.DataFrame:
    """The longest stretch within school hours of each of ``days`` when a school with a probe was
    offline, where it lasted at least ``minutes``: its probes said offline, or it sent none while
    other schools' probes came in (slots nobody reported in -- the collection itself being down --
    do not count). A school "with a probe" sent one that day or in the week before.
    Columns: school_id, day, first, last (local start of the first and last 5-minute slot down),
    minutes, silent (no probe at all in the stretch, rather than probes saying offline)."""
    frames = []
    step = SLOT_MINUTES * 60
    with_probes = probe_days(store, days)
    for day in (d for d in days if d in with_probes):
        start, end = _local_bounds(day, hours, tz)
        # the day's rollup names the candidates (enough offline probes, or enough fewer probes than
        # the best-covered school): only their probes, and those of a few always-online schools
        # telling which 5-minute slots the collection was up, are read
        found = store.arrow(
            f"""WITH today AS (SELECT school_id, probes, online FROM connectivity_daily WHERE day = $day),
                top AS (SELECT max(probes) AS most FROM today),
                probed AS (SELECT DISTINCT school_id FROM connectivity_daily WHERE day BETWEEN $week AND $day),
                cand AS (
                    SELECT p.school_id FROM probed p LEFT JOIN today t USING (school_id), top
                    WHERE coalesce(t.probes, 0) - coalesce(t.online, 0) >= $need
                       OR coalesce(t.probes, 0) <= top.most - $need),
                ref AS (  -- schools online all day: when none of them reported, the collection was down
                    SELECT school_id FROM today, top
                    WHERE probes = top.most AND online = probes AND school_id NOT IN (SELECT school_id FROM cand)
                    ORDER BY school_id LIMIT 25),
                raw AS (
                    SELECT school_id, epoch(measured_at)::BIGINT // {step} AS slot, online FROM connectivity
                    WHERE measured_at >= $start AND measured_at < $end
                      AND school_id IN (SELECT school_id FROM cand UNION ALL SELECT school_id FROM ref))
                SELECT 'row' AS kind, school_id, slot, bool_or(online) AS up
                FROM raw SEMI JOIN cand USING (school_id) GROUP BY ALL
                UNION ALL SELECT 'school', school_id, NULL, NULL FROM cand
                UNION ALL SELECT DISTINCT 'live', NULL, slot, NULL FROM raw""",
            {
                "start": start,
                "end": end,
                "week": day - timedelta(days=7),
                "day": day,
                "need": -(-minutes // SLOT_MINUTES),
            },
        ).to_pandas()
        live = np.sort(found.loc[found["kind"] == "live", "slot"].to_numpy(dtype=np.int64))
        schools = pd.Index(sorted(found.loc[found["kind"] == "school", "school_id"]))
        probes = found[found["kind"] == "row"]
        if not len(schools) or not len(live):
            continue
        rows = schools.get_indexer(probes["school_id"])
        cols = np.searchsorted(live, probes["slot"].to_numpy(dtype=np.int64))
        up = np.zeros((len(schools), len(live)), dtype=bool)
        seen = np.zeros_like(up)
        up[rows, cols] = probes["up"].to_numpy(dtype=bool)
        seen[rows, cols] = True
        down = np.pad(~up, ((0, 0), (1, 1))).astype(np.int8)
        edges = np.diff(down, axis=1)
        r_start, c_start = np.nonzero(edges == 1)
        _, c_end = np.nonzero(edges == -1)  # same order: row by row, left to right
        length = c_end - c_start
        if not len(length):
            continue
        order = np.lexsort((-length, r_start))  # per school, the longest stretch first
        first_of_school = np.r_[True, r_start[order][1:] != r_start[order][:-1]]
        best = order[first_of_school]
        keep = best[length[best] * SLOT_MINUTES >= minutes]
        if not len(keep):
            continue

        def local(slots: np.ndarray) -> list[datetime]:
            return [datetime.fromtimestamp(int(s) * step, ZoneInfo(tz)).replace(tzinfo=None) for s in slots]

        frames.append(
            pd.DataFrame(
                {
                    "school_id": schools[r_start[keep]],
                    "day": day,
                    "first": local(live[c_start[keep]]),
                    "last": local(live[c_end[keep] - 1]),
                    "minutes": length[keep] * SLOT_MINUTES,
                    "silent": [
                        not seen[r, c:e].any()
                        for r, c, e in zip(r_start[keep], c_start[keep], c_end[keep], strict=True)
                    ],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["school_id", "day", "first", "last", "minutes", "silent"])
    return pd.concat(frames, ignore_index=True)


def probe_days(store: Store, days: list[date]) -> set[date]:
    """Which of ``days`` have any probe (from the daily rollup: no scan of the probes)."""
    if not days:
        return set()
    rows = store.execute(
        "SELECT DISTINCT day FROM connectivity_daily WHERE day BETWEEN ? AND ?", [min(days), max(days)]
    ).rows
    return {r[0] for r in rows} & set(days)


def probed_counts(store: Store, days: list[date]) -> pd.DataFrame:
    """(day, school_id) of the schools with a probe on each of ``days`` or in the week before."""
    if not days:
        return pd.DataFrame(columns=["day", "school_id"])
    return store.arrow(
        """SELECT DISTINCT d.day, c.school_id FROM (SELECT unnest($days::DATE[]) AS day) d
           JOIN connectivity_daily c ON c.day BETWEEN d.day - 7 AND d.day""",
        {"days": list(days)},
    ).to_pandas()
