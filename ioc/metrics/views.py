"""Read-only views the app's pages need beyond KPIs: a school's profile, attendance calendar and
connectivity timeline, the store's snapshots for "as of", and the time of a snapshot.

Owned by the app engineer; like the rest of ioc/metrics it never imports Dash. Every query takes
bound parameters and reads the live catalog or a time-travel catalog from engine.catalog_for.
"""

# ruff: noqa: S608 -- SQL text here holds only catalog names from engine.catalog_for; values are bound
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ioc import settings
from ioc.metrics import dimensions, engine, hot
from ioc.metrics.engine import catalog_for
from ioc.store import CATALOG_NAME

if TYPE_CHECKING:
    from ioc.store import Store


@dataclass(frozen=True)
class Snapshot:
    version: int
    time: datetime
    changes: str


@dataclass(frozen=True)
class ProbeHour:
    hour: datetime  # local time, start of the hour
    median_download: float | None
    offline_share: float  # 0..1 of the hour's probes that were offline
    probes: int


def snapshots(store: Store, limit: int = 200) -> list[Snapshot]:
    """The store's data versions, newest first (for the "as of" picker)."""
    rows = store.execute(
        "SELECT snapshot_id, snapshot_time, changes::VARCHAR FROM lake.snapshots() ORDER BY snapshot_id DESC LIMIT $n",
        {"n": limit},
    ).rows
    return [Snapshot(int(v), t, str(c or "")) for v, t, c in rows]


def snapshot_at(store: Store, moment: datetime) -> int | None:
    """The data version the store had at ``moment`` (the last commit at or before it)."""
    value = store.execute(
        "SELECT max(snapshot_id) FROM lake.snapshots() WHERE snapshot_time <= $t", {"t": moment}
    ).scalar()
    return None if value is None else int(value)


def snapshot_time(store: Store, version: int) -> datetime | None:
    return store.execute(
        "SELECT snapshot_time FROM lake.snapshots() WHERE snapshot_id = $v", {"v": version}
    ).scalar()


def _tables(store: Store, catalog: str, *names: str) -> dict[str, str]:
    """Where to read each of ``names``: this process's in-memory copy at the data version when the
    live catalog is read and the copy is current (ioc.metrics.hot: no catalog round trips, which
    were most of a first school page's profile and calendar), else the catalog's table."""
    copies = hot.sources(store, names, store.data_version()) if catalog == CATALOG_NAME else {}
    return {name: copies.get(name, f"{catalog}.{name}") for name in names}


def attendance_calendar(
    store: Store, school_id: str, date_to: date | None = None, days: int = 120, snapshot: int | None = None
) -> list[tuple[date, float | None]]:
    """(date, present/enrolled) for each attendance row of the school in the ``days`` before ``date_to``."""
    attendance = _tables(store, catalog_for(store, snapshot), "attendance")["attendance"]
    end = (
        date_to
        or store.execute(
            f"SELECT max(date) FROM {attendance} WHERE school_id = $id", {"id": school_id}
        ).scalar()
    )
    if end is None:
        return []
    rows = store.execute(
        f"""SELECT date, CASE WHEN enrolled > 0 THEN present::DOUBLE / enrolled END
        FROM {attendance} WHERE school_id = $id AND date > $start AND date <= $end ORDER BY date""",
        {"id": school_id, "start": end - timedelta(days=days), "end": end},
    ).rows
    return _day_rates(rows)


def _day_rates(rows: Iterable[tuple[date, Any]]) -> list[tuple[date, float | None]]:
    return [(d, None if r is None else float(r)) for d, r in rows]


@dataclass(frozen=True)
class Calendars:
    """The attendance calendar of every school at once (``calendar(school_id)`` is
    attendance_calendar's answer for it, without a date), kept as the Arrow columns the SQL
    returned (rows sorted by school; ``spans`` says where each school's lie): 224,977 rows on
    the full demo, 3.7 MB, instead of a query per school on its first visit."""

    table: Any  # pyarrow.Table: school_id, date, rate
    spans: dict[str, tuple[int, int]]

    def calendar(self, school_id: str) -> list[tuple[date, float | None]]:
        span = self.spans.get(school_id)
        if span is None:
            return []
        part = self.table.slice(*span)
        return _day_rates(zip(part.column("date").to_pylist(), part.column("rate").to_pylist(), strict=True))


def attendance_calendars(store: Store, days: int = 120) -> Calendars:
    """Every school's attendance_calendar (the ``days`` before its own newest row) in one query."""
    attendance = _tables(store, CATALOG_NAME, "attendance")["attendance"]
    table = store.arrow(
        f"""WITH ends AS (SELECT school_id, max(date) AS e FROM {attendance} GROUP BY school_id)
        SELECT a.school_id, a.date, CASE WHEN a.enrolled > 0 THEN a.present::DOUBLE / a.enrolled END AS rate
        FROM {attendance} a JOIN ends n ON n.school_id = a.school_id
        WHERE a.date > n.e - CAST($days AS INTEGER) AND a.date <= n.e
        ORDER BY a.school_id, a.date""",
        {"days": days},
    )
    # heavy: pyarrow only when the calendars are made (as in engine)
    import pyarrow.compute as pc

    spans = engine.runs(table.column("school_id").to_pylist())
    table = table.combine_chunks()
    table = table.set_column(0, "school_id", pc.dictionary_encode(table.column("school_id")))
    return Calendars(table, spans)


def connectivity_timeline(
    store: Store, school_id: str, days: int = 14, until: datetime | None = None, snapshot: int | None = None
) -> list[ProbeHour]:
    """Per local hour over the last ``days``: median download, share of probes offline, probe count."""
    cat = catalog_for(store, snapshot)
    end = until or last_probe_at(store, school_id, catalog=cat)
    if end is None:
        return []
    rows = store.execute(
        f"""SELECT date_trunc('hour', measured_at::TIMESTAMP) AS hour,
               median(download_mbps) FILTER (WHERE online),
               avg(CASE WHEN online THEN 0.0 ELSE 1.0 END), count(*)
        FROM {cat}.connectivity
        WHERE school_id = $id AND measured_at > $start AND measured_at <= $end
        GROUP BY 1 ORDER BY 1""",
        {"id": school_id, "start": end - timedelta(days=days), "end": end},
    ).rows
    return [ProbeHour(h, None if m is None else float(m), float(o), int(n)) for h, m, o, n in rows]


def outages(timeline: list[ProbeHour]) -> list[tuple[datetime, datetime]]:
    """Spans of consecutive hours in which every probe was offline (start, end exclusive)."""
    spans: list[tuple[datetime, datetime]] = []
    for hour in timeline:
        if hour.offline_share >= 1.0:
            end = hour.hour + timedelta(hours=1)
            if spans and spans[-1][1] == hour.hour:
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((hour.hour, end))
    return spans


def school(store: Store, school_id: str, *, catalog: str | None = None) -> dimensions.SchoolProfile | None:
    """A school's every version, its newest attendance row, digital snapshot and probe."""
    profile = school_profile(store, school_id, catalog=catalog)
    if profile is None:
        return None
    return replace(profile, latest_probe=latest_probe(store, school_id, catalog=catalog))


@dataclass(frozen=True)
class Newest:
    """Every school's newest attendance row and digital snapshot (school_id -> row), as a school
    profile shows them: two queries per attendance or digital version, not two per school."""

    attendance: dict[str, dict[str, Any]]
    digital: dict[str, dict[str, Any]]


NEWEST_ORDER = {"attendance": "date", "digital": "as_of"}


def newest_rows(store: Store) -> Newest:
    """The newest row of each school in attendance and in digital (the live catalog's)."""
    tables = _tables(store, CATALOG_NAME, *NEWEST_ORDER)

    def newest(table: str) -> dict[str, dict[str, Any]]:
        rows = store.execute(
            f"""SELECT * EXCLUDE (run_id) FROM {tables[table]}
            QUALIFY row_number() OVER (PARTITION BY school_id ORDER BY {NEWEST_ORDER[table]} DESC) = 1"""
        ).dicts()
        return {row["school_id"]: row for row in rows}

    return Newest(attendance=newest("attendance"), digital=newest("digital"))


def school_profile(
    store: Store, school_id: str, *, catalog: str | None = None, newest: Newest | None = None
) -> dimensions.SchoolProfile | None:
    """A school's every version, its newest attendance row and digital snapshot, without its
    newest probe (``latest_probe``): what a probe load does not change. ``newest``: every
    school's newest rows (newest_rows) when the caller has them."""
    tables = _tables(store, catalog or CATALOG_NAME, "schools", "attendance", "digital")
    history = store.execute(
        f"""SELECT school_id, school_name, level, ownership, coalesce(ward_code, ward_name), ward_name,
               coalesce(district_code, district_name), district_name, latitude, longitude,
               students, teachers, classrooms, active, valid_from
        FROM {tables["schools"]} WHERE school_id = $id ORDER BY valid_from""",
        {"id": school_id},
    ).rows
    if not history:
        return None
    versions = tuple(dimensions.SchoolInfo(*row) for row in history)

    def latest(table: str) -> dict[str, Any] | None:
        if newest is not None:
            return getattr(newest, table).get(school_id)
        return store.execute(
            f"SELECT * EXCLUDE (run_id) FROM {tables[table]} WHERE school_id = $id "
            f"ORDER BY {NEWEST_ORDER[table]} DESC LIMIT 1",
            {"id": school_id},
        ).first()

    return dimensions.SchoolProfile(
        info=versions[-1],
        history=versions,
        latest_attendance=latest("attendance"),
        latest_digital=latest("digital"),
        latest_probe=None,
    )


def latest_probe(store: Store, school_id: str, *, catalog: str | None = None) -> dict[str, Any] | None:
    """The school's newest probe (None: never probed): its time from the rollup, then that one
    probe (the probe files are sorted by school, so this reads one row group)."""
    last = last_probe_at(store, school_id, catalog=catalog)
    if last is None:
        return None
    return store.execute(
        f"SELECT * EXCLUDE (run_id) FROM {catalog or CATALOG_NAME}.connectivity "
        "WHERE school_id = $id AND measured_at = $at LIMIT 1",
        {"id": school_id, "at": last},
    ).first()


def last_probe_at(store: Store, school_id: str, *, catalog: str | None = None) -> Any:
    """When the school's newest probe was measured (None: never). From the daily rollup's
    ``last_at`` when the rollup is there (a few thousand rows a day, kept with the probes in one
    transaction), else from the raw probes (millions of rows, not ordered by school)."""
    cat = catalog or CATALOG_NAME
    version = store.data_version()
    if cat == "lake" and engine.rollup_ready(store, cat, version):
        table, column = _tables(store, cat, "connectivity_daily")["connectivity_daily"], "last_at"
    else:
        table, column = f"{cat}.connectivity", "measured_at"
    return store.execute(
        f"SELECT max({column}) FROM {table} WHERE school_id = $id", {"id": school_id}
    ).scalar()


def bandwidth_threshold() -> float:
    return float(settings.get("bandwidth_threshold_mbps"))
