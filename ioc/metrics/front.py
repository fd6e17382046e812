"""The metrics layer's one front door: :class:`Metrics` answers every question for one caller.

Pages, panels, the API, exports, the warmer and the CLI ask here -- KPI answers, summaries,
dimension lists, a school's views, the store's snapshots, data health -- and nowhere else. The
caller's :class:`ioc.access.AccessScope` is an argument, never read from ambient state: the web
layer builds one ``Metrics`` per request from the signed-in principal (ioc.frontdoor), the warmer
one per officer scope, the CLI one for everything. Every answer is restricted by it (the SQL
filter of ioc.access) and every cache key made here carries it (ioc.metrics.cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, TypeVar

from ioc.access import EVERYTHING, AccessScope, Place
from ioc.metrics import cache, dimensions, engine, health, summary, views
from ioc.metrics.compare import Comparison, compare_periods
from ioc.metrics.errors import QueryError
from ioc.metrics.query import KpiQuery, KpiResult, Scope
from ioc.store import Store

T = TypeVar("T")
CITY = Scope()


class OutsideAccess(QueryError):
    """The question names a unit the caller may not read (the web layer answers it as a refusal)."""

    def __init__(self, param: str, value: str) -> None:
        super().__init__(param, f"{param} {value!r} is outside what you may see")


@dataclass(frozen=True)
class Metrics:
    """Every question of one caller (``access``) about ``store``. ``cached``: answers go through
    the KPI cache (the web app, the warmer); the CLI computes directly."""

    store: Store
    access: AccessScope = EVERYTHING
    cached: bool = True

    # -- KPI answers ----------------------------------------------------------------------------
    def answer(self, q: KpiQuery) -> KpiResult:
        """``q``'s answer over the schools the caller may read."""
        if not self.cached:
            return engine.compute(self.store, q, access=self.access)
        return cache.cached_compute(self.store, q, self.access)

    def result(
        self,
        kpi: str,
        by: str = "all",
        *,
        scope: Scope = CITY,
        date_from: date | None = None,
        date_to: date | None = None,
        snapshot: int | None = None,
        hierarchy_date: date | None = None,
    ) -> KpiResult:
        return self.answer(
            KpiQuery(
                kpi=kpi,
                by=by,
                date_from=date_from,
                date_to=date_to,
                scope=scope,
                snapshot=snapshot,
                hierarchy_date=hierarchy_date,
            )
        )

    def compare(self, q: KpiQuery, current: KpiResult | None = None) -> Comparison:
        """``q``'s answer (``current`` when already known) beside its previous period, row by row
        (ioc.metrics.compare); both answers over the schools the caller may read."""
        return compare_periods(self.store, q, current if current is not None else self.answer(q), self.answer)

    def summary(
        self,
        kpi: str,
        *,
        scope: Scope = CITY,
        date_to: date | None = None,
        snapshot: int | None = None,
        series_days: int = 30,
        hierarchy_date: date | None = None,
    ) -> summary.KpiSummary:
        """The KPI at a glance (ioc.metrics.summary) over the schools the caller may read."""
        if not self.cached:
            return summary.summarize(
                self.store,
                kpi,
                scope,
                date_to,
                snapshot,
                series_days,
                hierarchy_date,
                compute=self.answer,
            )
        return cache.cached_summarize(
            self.store, kpi, scope, date_to, snapshot, series_days, hierarchy_date, self.access
        )

    # -- the hierarchy --------------------------------------------------------------------------
    def resolve(self, scope: Scope) -> Scope:
        """``scope`` with its filters turned into keys (QueryError naming an unknown one). Says
        nothing about access: what a unit is called is not the unit's data."""
        return engine.resolved_scope(self.store, scope, None, None, self.store.data_version())

    def locate(self, kind: str, value: str) -> Place | None:
        """Where district/ward/school ``value`` (a code or a name) lies in today's hierarchy; None
        when the city has no such unit. A ward lies in the district of its first school."""
        version = self.store.data_version()
        try:
            resolved = engine.resolved_scope(self.store, Scope(**{kind: value}), None, None, version)
        except (QueryError, TypeError):
            return None
        if kind == "district":
            return Place(district=resolved.district)
        schools = engine.school_versions(self.store, None, None, version)
        if kind == "ward":
            districts = [s.district_code for s in schools if s.ward_code == resolved.ward]
            return Place(min(districts), resolved.ward) if districts else None
        found = next((s for s in schools if s.school_id == resolved.school), None)
        return dimensions.place(found) if found else None

    def allows(self, kind: str, value: str) -> bool:
        """Whether the caller may read the whole district/ward/school ``value`` (unknown: no)."""
        if not self.access.restricted:
            return True
        place = self.locate(kind, value)
        return place is not None and self.access.allows(place)

    def allows_screen(self, name: object) -> bool:
        """Whether the caller may draw wall screen ``name`` (a kiosk device: its screens only)."""
        return self.access.allows_screen(name)

    def screens(self, names: list[str]) -> list[str]:
        """Of ``names`` (a playlist), the screens the caller may draw, in order."""
        return [n for n in names if self.access.allows_screen(n)]

    def moved_away(self, hierarchy_date: date | None, snapshot: int | None) -> int:
        """How many schools the caller's units held under the hierarchy of ``hierarchy_date`` (at
        data version ``snapshot``) that the caller may not read today (0 for an unrestricted
        caller, or for today's hierarchy)."""
        if not self.access.restricted or (hierarchy_date is None and snapshot is None):
            return 0
        version = self.store.data_version()
        today = engine.places(self.store, version)
        asked = engine.school_versions(
            self.store, hierarchy_date, snapshot, snapshot if snapshot is not None else version
        )
        return sum(
            1
            for s in asked
            if self.access.allows(dimensions.place(s))
            and not self.access.allows(today.get(s.school_id, Place()))
        )

    def districts(self) -> list[dimensions.Unit]:
        """The districts the caller may read whole."""
        return self._view(
            "units", ("district",), lambda: dimensions.districts(self.store, access=self.access)
        )

    def wards(self, district: str | None = None) -> list[dimensions.Unit]:
        """The wards (of ``district``) the caller may read whole."""
        return self._view(
            "wards-of",
            (district,),
            lambda: dimensions.wards(self.store, district, access=self.access),
        )

    def schools(self, scope: Scope = CITY) -> list[dimensions.SchoolInfo]:
        """The active schools of ``scope`` the caller may read."""
        return self._view(
            "schools", (scope,), lambda: dimensions.schools(self.store, scope, access=self.access)
        )

    # -- one school -----------------------------------------------------------------------------
    def _school_id(self, school_id: str) -> str:
        if not self.allows("school", school_id):
            raise OutsideAccess("school", school_id)
        return school_id

    def school(self, school_id: str, *, newest_probe: bool = True) -> dimensions.SchoolProfile | None:
        """A school's profile; None when the city has no such school or the caller may not read it
        (the same answer: a refusal would tell a stranger that the school exists). Without
        ``newest_probe`` its ``latest_probe`` is None: a page that does not show it does not read
        it (a probe read from the lake after every probe load, 70-100 ms of a school's first visit)."""
        if not school_id or not self.allows("school", school_id):
            return None
        # keyed apart: a probe load (every 5 minutes) changes only the newest probe
        profile = self._view(
            "school",
            (school_id,),
            lambda: views.school_profile(self.store, school_id, newest=self._newest()),
            tables=("attendance", "digital"),
            shared=True,
        )
        if profile is None or not newest_probe:
            return profile
        probe = self._view(
            "school.probe",
            (school_id,),
            lambda: views.latest_probe(self.store, school_id),
            tables=("connectivity",),
            shared=True,
        )
        return replace(profile, latest_probe=probe)

    def _newest(self) -> views.Newest | None:
        """Every school's newest attendance row and digital snapshot, made once per version of
        those tables (what a school's first visit read with two queries of its own); None
        uncached (the CLI asks for one school)."""
        if not self.cached:
            return None
        return self._view(
            "newest", (), lambda: views.newest_rows(self.store), tables=("attendance", "digital"), shared=True
        )

    def attendance_calendar(
        self, school_id: str, date_to: date | None = None, days: int = 120, snapshot: int | None = None
    ) -> list[tuple[date, float | None]]:
        sid = self._school_id(school_id)
        if date_to is None and snapshot is None and self.cached:
            # the school's newest days: cut from every school's calendar, made once per attendance
            # version (one query, not one per school's first visit)
            calendars = self._view(
                "calendars",
                (days,),
                lambda: views.attendance_calendars(self.store, days),
                tables=("attendance",),
                shared=True,
            )
            return calendars.calendar(sid)
        return self._view(
            "calendar",
            (sid, date_to, days, snapshot),
            lambda: views.attendance_calendar(self.store, sid, date_to, days, snapshot=snapshot),
            tables=("attendance",),
            shared=True,
        )

    def connectivity_timeline(
        self, school_id: str, days: int = 14, until: datetime | None = None, snapshot: int | None = None
    ) -> list[views.ProbeHour]:
        sid = self._school_id(school_id)
        return self._view(
            "timeline",
            (sid, days, until, snapshot),
            lambda: views.connectivity_timeline(self.store, sid, days, until, snapshot=snapshot),
            tables=("connectivity",),
            shared=True,
        )

    @staticmethod
    def outages(timeline: list[views.ProbeHour]) -> list[tuple[datetime, datetime]]:
        """Spans of hours in which every probe of a school was offline (views.outages)."""
        return views.outages(timeline)

    @staticmethod
    def bandwidth_threshold() -> float:
        """The download speed (Mbps) a probe must reach to count as covered."""
        return views.bandwidth_threshold()

    def note_opened(self, kind: str, code: str) -> None:
        """Someone opened the ``kind`` page of ``code``: the warmer draws it after the next load."""
        cache.note_opened(self.store, kind, code)

    # -- the store's versions -------------------------------------------------------------------
    def data_version(self) -> int:
        return self.store.data_version()

    def snapshots(self, limit: int = 50) -> list[views.Snapshot]:
        """The store's data versions, newest first (the "as of" picker); the same for everybody."""
        return self._view("snapshots", (limit,), lambda: views.snapshots(self.store, limit), shared=True)

    def readable_versions(self) -> tuple[int, int]:
        """(first, last): the data versions a ``snapshot`` may name (engine.readable_versions)."""
        return engine.readable_versions(self.store)

    def snapshot_time(self, version: int) -> datetime | None:
        return views.snapshot_time(self.store, version)

    # -- data health ----------------------------------------------------------------------------
    def health(self, name: str, *args: Any, at: datetime | None = None, **kwargs: Any) -> Any:
        """ioc.metrics.health's ``name`` (freshness, freshness_by_district, not_reporting, runs,
        run_counts, rejections, sources, job_runs) for this caller, cached until the data changes; ``at``
        (e.g. the current minute) is part of the key, and the clock of the views whose flags move
        with it (freshness: stale or not)."""
        if name not in HEALTH_VIEWS:
            raise QueryError("view", f"unknown data-health view {name!r}")
        if name == "not_reporting":
            part = self._not_reporting_in(at, *args, **kwargs)
            if part is not None:
                return part
        function: Callable[..., Any] = getattr(health, name)
        if at is not None and name in CLOCKED_VIEWS:
            kwargs["now"] = at
        return self._view(
            "health." + name,
            (at, args, tuple(sorted(kwargs.items()))),
            lambda: function(self.store, *args, access=self.access, **kwargs),
            tables=HEALTH_TABLES.get(name),
        )

    def _not_reporting_in(
        self, at: datetime | None, day: date | None = None, scope: Scope | None = None, **rest: Any
    ) -> list[dict[str, Any]] | None:
        """The schools of ``scope`` that did not report on ``day``, cut from the city's list of that
        day (one query per attendance version for every school, ward and district page, instead of
        one each, which scanned every attendance row); None when it must be asked as is (no day or
        unit given, uncached). Exact: the list filters the same schools (their version at ``day``,
        active, the caller's) by the same columns; a caller who may read every school of the scope
        gets it from everybody's list (ioc.metrics.cache.widest_access)."""
        if rest or day is None or scope is None or not scope.items() or not self.cached:
            return None
        version = self.store.data_version()
        resolved = engine.resolved_scope(self.store, scope, day, None, version)  # QueryError as health's
        access = cache.widest_access(self.store, scope, day, None, self.access)
        city = cache.cached_view(
            self.store,
            "health.not_reporting",
            (at, (day,), ()),
            lambda: health.not_reporting(self.store, day, access=access),
            access=access,
            tables=HEALTH_TABLES["not_reporting"],
        )
        wanted = [(NOT_REPORTING_COLUMNS[name], value) for name, value in resolved.items()]
        return [row for row in city if all(row[column] == value for column, value in wanted)]

    def scheduler_status(self) -> dict[str, Any]:
        """Which process runs the scheduled jobs (no school data: the same for everybody)."""
        return health.scheduler_status(self.store)

    # -- the cache ------------------------------------------------------------------------------
    def _view(
        self,
        kind: str,
        parts: tuple[Any, ...],
        make: Callable[[], T],
        *,
        tables: tuple[str, ...] | None = None,
        shared: bool = False,
    ) -> T:
        """``make()`` cached under this caller's access (``shared``: under everybody's, for a view
        that is the same for every caller allowed to ask it)."""
        if not self.cached:
            return make()
        access = EVERYTHING if shared else self.access
        return cache.cached_view(self.store, kind, parts, make, access=access, tables=tables)


HEALTH_VIEWS = frozenset(
    {
        "freshness",
        "freshness_by_district",
        "not_reporting",
        "runs",
        "run_counts",
        "rejections",
        "sources",
        "job_runs",
    }
)

CLOCKED_VIEWS = frozenset({"freshness", "freshness_by_district"})

# The tables a data-health view reads, where they are few (``schools`` always counts): keyed by
# them, a probe load every 5 minutes leaves the schools that did not report cached (the wall's
# list, every school page) instead of computing them again for each unit. Other views: any change.
HEALTH_TABLES: dict[str, tuple[str, ...]] = {"not_reporting": ("attendance",)}

# the column of a not_reporting row holding each scope filter's key
NOT_REPORTING_COLUMNS = {
    "district": "district_code",
    "ward": "ward_code",
    "school": "school_id",
    "level": "level",
    "ownership": "ownership",
}

DEFAULT_CADENCES = health.DEFAULT_CADENCES  # how often each dataset is expected (the data-health page)

__all__ = ["CITY", "DEFAULT_CADENCES", "HEALTH_VIEWS", "Metrics", "OutsideAccess"]
