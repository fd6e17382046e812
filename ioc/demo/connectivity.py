"""Connectivity probes every 5 minutes, generated a day at a time with numpy.

Each school has a line whose typical download speed depends on where it is: central wards have
fibre (mostly 50-300 Mbps), the outer communes slower lines (some under 20 Mbps, which is what
the bandwidth_coverage KPI looks for), Côn Đảo a slow island link. Speeds drop during school
hours when the whole school is online. Outages: a school's line goes down now and then for minutes
to hours, a few schools have flaky lines that drop single probes, and now and then a power cut
takes a whole former district offline for a couple of hours. Offline probes have online=false and
empty speeds and latency. A few schools have no probe at all (their probe was never installed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ioc.demo.random import stream
from ioc.demo.schools import City, enrolment

SLOTS = 288  # one probe every 5 minutes
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has no daylight saving time


@dataclass(frozen=True)
class Lines:
    """Each school's line (same order as ``city.schools``)."""

    median_down: np.ndarray
    up_ratio: np.ndarray
    latency: np.ndarray
    outage_rate: np.ndarray
    flaky: np.ndarray
    probed: np.ndarray


def lines(city: City, seed: int) -> Lines:
    schools = city.schools
    n = len(schools)
    rng = stream(seed, "connectivity-schools")
    urban = schools["urbanity"].to_numpy()
    centre = np.select([urban >= 0.95, urban >= 0.65, urban >= 0.3], [150.0, 90.0, 32.0], 12.0)
    spread = np.select([urban >= 0.65, urban >= 0.3], [0.5, 0.65], 0.4)
    median = np.clip(centre * rng.lognormal(0, spread), 3, 900)
    latency = np.select([urban >= 0.65, urban >= 0.3], [12.0, 28.0], 85.0) * rng.lognormal(0, 0.3, n)
    few = max(1, round(n * 0.01)) if n >= 50 else 0
    probed = np.ones(n, dtype=bool)
    probed[rng.choice(n, size=few, replace=False)] = False
    return Lines(
        median_down=median,
        up_ratio=rng.uniform(0.35, 1.0, n),
        latency=latency,
        outage_rate=np.where(urban >= 0.65, 0.03, 0.07),
        flaky=rng.uniform(size=n) < 0.04,
        probed=probed,
    )


def _time_of_day() -> np.ndarray:
    hours = np.arange(SLOTS) * 5 / 60
    return np.select([(hours >= 7) & (hours < 17), (hours >= 17) & (hours < 22)], [0.72, 0.9], 1.05)


def generate(city: City, lines_: Lines, day: date, seed: int, last_slot: int, style: str) -> pa.Table:
    """The probes of ``day`` (local date) up to slot ``last_slot`` (inclusive).

    ``style`` is how measured_at is written: 'local' (ISO text with +07:00), 'utc' (ISO text with
    Z) or 'native' (a Parquet timestamp with time zone).
    """
    _, open_ = enrolment(city, day)
    schools = np.flatnonzero(open_ & lines_.probed)
    rng = stream(seed, "connectivity-day", day.toordinal())
    n_all = len(city.schools)
    # Draw for every school so a school's numbers do not depend on which others are open.
    noise_down = rng.lognormal(0, 0.18, (n_all, SLOTS))[schools]
    noise_up = rng.lognormal(0, 0.2, (n_all, SLOTS))[schools]
    noise_lat = rng.lognormal(0, 0.25, (n_all, SLOTS))[schools]
    outage = rng.uniform(size=n_all)[schools] < lines_.outage_rate[schools]
    start = rng.integers(0, SLOTS, n_all)[schools]
    length = np.minimum(1 + rng.geometric(1 / 12, n_all), 72)[schools]
    flaky_drop = rng.uniform(size=(n_all, SLOTS))[schools] < 0.08
    slot = np.arange(SLOTS)
    offline = outage[:, None] & (slot >= start[:, None]) & (slot < (start + length)[:, None])
    offline |= lines_.flaky[schools][:, None] & flaky_drop
    if rng.uniform() < 0.2:  # a power cut over a whole former district
        districts = city.schools["district_code"].to_numpy()[schools]
        hit = districts == districts[int(rng.integers(len(districts)))] if len(districts) else districts
        cut_start = int(rng.integers(8 * 12, 16 * 12))
        offline |= hit[:, None] & (slot >= cut_start) & (slot < cut_start + int(rng.integers(18, 37)))

    tod = _time_of_day()
    down = lines_.median_down[schools][:, None] * tod * noise_down
    up = down * lines_.up_ratio[schools][:, None] * noise_up
    latency = lines_.latency[schools][:, None] / np.sqrt(tod) * noise_lat

    keep = slot <= last_slot
    offline = offline[:, keep]
    online = ~offline.ravel()
    slots_kept = int(keep.sum())

    def measure(values: np.ndarray) -> pa.Array:
        return pa.array(np.round(values[:, keep].ravel(), 1), mask=offline.ravel())

    ids = pa.array(city.schools["school_id"].to_numpy()[schools])
    school_col = pc.take(ids, pa.array(np.repeat(np.arange(len(schools)), slots_kept)))
    start_local = datetime(day.year, day.month, day.day, tzinfo=LOCAL)
    stamps = [start_local + timedelta(minutes=5 * s) for s in range(slots_kept)]
    slot_index = pa.array(np.tile(np.arange(slots_kept), len(schools)))
    if style == "native":
        texts = pa.array([s.astimezone(UTC) for s in stamps], pa.timestamp("s", tz="UTC"))
    elif style == "utc":
        texts = pa.array([s.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for s in stamps])
    else:
        texts = pa.array([s.isoformat() for s in stamps])
    return pa.table(
        {
            "measured_at": pc.take(texts, slot_index),
            "school_id": school_col,
            "download_mbps": measure(down),
            "upload_mbps": measure(up),
            "latency_ms": measure(latency),
            "online": pa.array(online),
        }
    )
