"""Answering a KpiQuery: validate, resolve scope and period, pick raw or rollup, run the SQL.

Small per-store memos (keyed by data version, so they can never serve stale answers) keep the
fixed costs of a query low: the scope resolution, the latest dates and the rollup check each run
once per data version instead of once per query.
"""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
import functools
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

import duckdb

from ioc import rollups, settings
from ioc.access import EVERYTHING, AccessScope, Place
from ioc.metrics import dimensions, formulas, hot, table_versions
from ioc.metrics.errors import QueryError
from ioc.metrics.query import BY, TIME_BY, KpiQuery, KpiResult, KpiRow, Scope
from ioc.metrics.registry import Kpi, get_kpi
from ioc.store import CATALOG_NAME

if TYPE_CHECKING:
    from ioc.store import Store

T = TypeVar("T")
SOURCES = ("auto", "raw", "rollup")


class _Memo:
    """A small LRU per store, for values that are fixed for a given data version."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]  # type: ignore[no-any-return]
        value = make()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


_MEMOS: weakref.WeakKeyDictionary[Any, _Memo] = weakref.WeakKeyDictionary()
_MEMOS_LOCK = threading.Lock()
_ATTACH_LOCK = threading.Lock()


def memo(store: Store) -> _Memo:
    with _MEMOS_LOCK:
        m = _MEMOS.get(store)
        if m is None:
            m = _MEMOS[store] = _Memo()
        return m


def catalog_for(store: Store, snapshot: int | None) -> str:
    """The catalog to read: the live one, or a read-only attachment of it at data version ``snapshot``."""
    if snapshot is None:
        return CATALOG_NAME
    if not isinstance(snapshot, int) or snapshot < 0:
        raise QueryError("snapshot", f"must be a data version (a non-negative integer), got {snapshot!r}")
    name = f"{CATALOG_NAME}_at_{snapshot}"

    def attach() -> str:
        known = {row[0] for row in store.execute("SELECT snapshot_id FROM lake.snapshots()").rows}
        if snapshot not in known:
            raise QueryError("snapshot", f"data version {snapshot} does not exist (or has expired)")
        with _ATTACH_LOCK:  # the store's own attach: the same catalog (SQLite or PostgreSQL) and data path
            store.attach_snapshot(name, snapshot)
        tables = store.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = $db AND table_name = 'schools'",
            {"db": name},
        ).scalar()
        if not tables:
            raise QueryError("snapshot", f"data version {snapshot} is older than the store's tables")
        return name

    return memo(store).get(("attach", snapshot), attach)


def readable_versions(store: Store) -> tuple[int, int]:
    """(first, last): the data versions catalog_for reads (the API's ``snapshot``): from the commit
    that created the store's tables, or the oldest version kept when that one has expired, to the
    newest. Versions are numbered without gaps; expiring removes the oldest."""
    rows = store.execute("SELECT snapshot_id, changes FROM lake.snapshots() ORDER BY snapshot_id").rows
    created = [v for v, changes in rows if "main.schools" in ((changes or {}).get("tables_created") or ())]
    first = created[0] if created else int(rows[0][0])
    return int(first), int(rows[-1][0])


def rollup_ready(store: Store, catalog: str, version: int) -> bool:
    """The connectivity rollup exists and was built with the current bandwidth threshold."""

    def check() -> bool:
        row = store.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = $db AND table_name = 'rollup_state'",
            {"db": catalog},
        ).scalar()
        if not row:
            return False
        stored = store.execute(
            f"SELECT threshold FROM {catalog}.rollup_state WHERE rollup = $r",
            {"r": rollups.CONNECTIVITY_DAILY},
        ).scalar()
        return stored is not None and float(stored) == rollups.threshold()

    return memo(store).get(("rollup", catalog, version, rollups.threshold()), check)


def latest_date(store: Store, kpi: Kpi, catalog: str, version: int, use_rollup: bool) -> date | None:
    """The latest date with data for the KPI (the newest over the datasets it reads)."""

    def newest(dataset: str) -> date | None:
        if dataset == "connectivity" and use_rollup:
            return store.execute(f"SELECT max(day) FROM {catalog}.connectivity_daily").scalar()  # type: ignore[no-any-return]
        return dimensions.latest_date(store, dataset, catalog=catalog)

    dates = [
        memo(store).get(("latest", catalog, version, d, use_rollup), functools.partial(newest, d))
        for d in kpi.datasets
    ]
    known = [d for d in dates if d is not None]
    return max(known) if known else None


def period(kpi: Kpi, q: KpiQuery, latest: date | None) -> tuple[date | None, date | None]:
    """[from, to] of the query; window KPIs default to the window ending at `to`, others to the day `to`."""
    for name, value in (("from", q.date_from), ("to", q.date_to), ("hierarchy_date", q.hierarchy_date)):
        if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            raise QueryError(name, f"must be a date, got {value!r}")
    date_to = q.date_to or latest
    if date_to is None:
        return q.date_from, None
    if q.date_from is not None:
        date_from = q.date_from
    elif kpi.window_days:
        date_from = date_to - timedelta(days=kpi.window_days - 1)
    else:
        date_from = date_to
    if date_from > date_to:
        raise QueryError("from", f"from {date_from.isoformat()} is after to {date_to.isoformat()}")
    return date_from, date_to


def choose_source(kpi: Kpi, ready: bool, source: str) -> str:
    if kpi.formula.kind not in formulas.ROLLUP_KINDS:
        return "raw"
    if source == "rollup" and not ready:
        raise QueryError("source", "the connectivity rollup is not built with the current threshold")
    if source == "raw":
        return "raw"
    return "rollup" if ready else "raw"


def parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """Only the named parameters the SQL uses (DuckDB rejects unused ones)."""
    used = set(re.findall(r"\$([a-z_]+)", sql))
    missing = used - set(values)
    if missing:
        raise AssertionError(f"SQL uses unbound parameters {sorted(missing)}")
    return {k: v for k, v in values.items() if k in used}


def plan_sql(
    kpi: Kpi,
    by: str,
    scope: Scope,
    catalog: str = CATALOG_NAME,
    source: str = "raw",
    access: bool = False,
    tables: dict[str, str] | None = None,
    panel: str | None = None,
) -> str:
    """The SQL text for a KPI, grouping, set of filters and source (used by compute and the SQL
    snapshots); ``tables`` names tables to read from elsewhere than ``catalog`` (hot copies);
    ``panel`` a unit level for a time series of every unit at once."""
    plan = formulas.Plan(
        kpi=kpi,
        by=by,
        filters=tuple(n for n, _ in scope.items()),
        catalog=catalog,
        source=source,
        access=access,
        sources=tuple(sorted((tables or {}).items())),
        panel=panel,
    )
    return formulas.build(plan)


def _rows(kpi: Kpi, table: Any) -> tuple[KpiRow, ...]:
    """KpiRows from the result columns, column by column (a by-school answer has 50,000 rows)."""
    # heavy: pyarrow (~100 modules, 0.2 s) only when rows are read: `ioc health`, `ioc alerts list`
    # and a server's start import the engine and answer no KPI
    import pyarrow as pa
    import pyarrow.compute as pc

    def floats(name: str) -> list[float | None]:
        return pc.cast(table.column(name), pa.float64()).to_pylist()  # type: ignore[no-any-return]

    keys = table.column("key").to_pylist()
    labels = table.column("label").to_pylist()
    values = floats("value")
    numerators = floats("numerator")
    denominators = floats("denominator")
    reporting = pc.cast(table.column("schools_reporting"), pa.int64()).to_pylist()
    as_of = table.column("as_of")
    if pa.types.is_timestamp(as_of.type):
        micros = pc.cast(as_of, pa.int64()).to_pylist()
    else:
        micros = [None] * len(keys)
    # few distinct as-of times (a day, the last probe slot): convert each once
    zone = ZoneInfo(str(settings.get("timezone")))
    times: dict[int, datetime] = {}
    for micro in set(micros) - {None}:
        times[micro] = datetime.fromtimestamp(micro / 1_000_000, tz=zone)
    statuses = kpi.statuses(values)
    return tuple(
        KpiRow(
            key=str(key),
            label=str(label) if label is not None else str(key),
            value=value,
            numerator=numerator,
            denominator=denominator,
            schools_reporting=count or 0,
            as_of=times.get(micro) if micro is not None else None,
            status=status,
        )
        for key, label, value, numerator, denominator, count, micro, status in zip(
            keys, labels, values, numerators, denominators, reporting, micros, statuses, strict=False
        )
    )


# the SchoolInfo field each scope filter compares (formulas.scope_cte's columns)
SCHOOL_FIELDS = {
    "district": "district_code",
    "ward": "ward_code",
    "level": "level",
    "ownership": "ownership",
    "school": "school_id",
}


def resolved_scope(
    store: Store, scope: Scope, hierarchy_date: date | None, snapshot: int | None, version: int
) -> Scope:
    """``scope`` with its filters turned into keys (dimensions.resolve_scope), once per data version."""
    if not scope.items():
        return scope
    catalog = catalog_for(store, snapshot)
    if scope.items() == (("school", scope.school),) and scope.school in school_ids(
        store, hierarchy_date, snapshot, version
    ):
        return scope  # a school named by its id (a page's link): nothing to look up
    return memo(store).get(
        ("scope", catalog, version, scope, hierarchy_date),
        lambda: dimensions.resolve_scope(
            store,
            scope,
            hierarchy_date,
            catalog=catalog,
            schools=school_versions(store, hierarchy_date, snapshot, version),
        ),
    )


def school_versions(
    store: Store, hierarchy_date: date | None, snapshot: int | None, version: int
) -> list[dimensions.SchoolInfo]:
    """Every school in its version at ``hierarchy_date`` (dimensions.versions), once per data version."""
    catalog = catalog_for(store, snapshot)
    return memo(store).get(
        ("versions", catalog, version, hierarchy_date),
        lambda: dimensions.versions(store, hierarchy_date, catalog=catalog),
    )


def school_ids(
    store: Store, hierarchy_date: date | None, snapshot: int | None, version: int
) -> frozenset[str]:
    """The ids of school_versions (every school, inactive ones too), once per data version."""
    catalog = catalog_for(store, snapshot)
    return memo(store).get(
        ("school-ids", catalog, version, hierarchy_date),
        lambda: frozenset(s.school_id for s in school_versions(store, hierarchy_date, snapshot, version)),
    )


def access_covers(
    store: Store, scope: Scope, hierarchy_date: date | None, snapshot: int | None, access: AccessScope
) -> bool:
    """Whether ``access`` may read every school ``scope`` holds, so that its condition changes no
    answer and the unrestricted answer can be shared (ioc.metrics.cache).

    The access condition lives only in the scope of the SQL (formulas.scope_cte: active schools in
    their version at the hierarchy date, filtered, among those the access allows in today's
    hierarchy); what is city-wide by definition (school days, "now") is never restricted. So: when
    each active school matching the scope's filters is one the caller may read today, the
    restricted and the unrestricted answers are the same. A city-wide scope is never covered for a
    restricted caller; an unknown unit is not either (the computation then reports it under the
    caller's own access).
    """
    if not access.restricted:
        return True
    if access.empty or (scope.district is None and scope.ward is None and scope.school is None):
        return False
    catalog = catalog_for(store, snapshot)
    version = snapshot if snapshot is not None else store.data_version()

    def check() -> bool:
        try:
            resolved = resolved_scope(store, scope, hierarchy_date, snapshot, version)
        except QueryError:
            return False
        schools = school_versions(store, hierarchy_date, snapshot, version)
        today = places(store, store.data_version())
        wanted = [(SCHOOL_FIELDS[name], value) for name, value in resolved.items()]
        for s in schools:
            if not s.active or any(getattr(s, field) != value for field, value in wanted):
                continue
            place = today.get(s.school_id)
            if place is None or not access.allows(place):
                return False
        return True

    key = ("covers", catalog, version, store.data_version(), scope, hierarchy_date, access.key())
    return memo(store).get(key, check)


def places(store: Store, version: int) -> dict[str, Place]:
    """Where each school lies in today's hierarchy (the live catalog's latest versions): what an
    access scope is judged on (ioc.access), once per data version."""
    return memo(store).get(
        ("places", version),
        lambda: {s.school_id: dimensions.place(s) for s in school_versions(store, None, None, version)},
    )


def compute(
    store: Store, q: KpiQuery, *, source: str = "auto", access: AccessScope = EVERYTHING
) -> KpiResult:
    """``q``'s answer over the schools ``access`` allows (ioc.access's SQL filter)."""
    return _run(store, q, source, access=access)[0]


@dataclass(frozen=True)
class Panel:
    """A time series for every unit of a level at once: ``series(unit)`` is the rows ``q`` with
    ``scope={level: unit}`` would have (ioc.metrics.slices cuts them out); ``frame`` is the
    answer around them (KPI, unit, period, grouping, data version; no rows).

    The rows stay in the Arrow table the SQL returned (sorted by unit, then bucket; ``spans``
    says where each unit's rows lie) and become KpiRows only when a unit's series is cut: a panel
    of every school (3,500 schools x 30 days) is about 105,000 rows, a few MB of columns that
    pickle as buffers through Redis, but some 40 MB as Python objects in every worker.
    """

    frame: KpiResult
    table: Any  # pyarrow.Table: the SQL's columns, ``unit`` first
    spans: dict[str, tuple[int, int]]  # unit -> (first row, number of rows)

    def series(self, unit: str) -> tuple[KpiRow, ...]:
        span = self.spans.get(unit)
        if span is None:
            return ()  # a unit without facts: a series without rows, as its direct answer
        return _rows(get_kpi(self.frame.kpi), self.table.slice(*span))


def runs(units: list[Any]) -> dict[str, tuple[int, int]]:
    """Where each unit's rows lie in rows sorted by unit: unit -> (first row, number of rows)."""
    spans: dict[str, tuple[int, int]] = {}
    start = 0
    for i in range(1, len(units) + 1):
        if i == len(units) or units[i] != units[start]:
            spans[str(units[start])] = (start, i - start)
            start = i
    return spans


def panel_ready(q: KpiQuery) -> bool:
    """Whether ``q``'s KPI and grouping can be computed as a panel (a time series, PANEL_KINDS)."""
    return q.by in TIME_BY and get_kpi(q.kpi).formula.kind in formulas.PANEL_KINDS


def compute_panel(store: Store, q: KpiQuery, level: str, access: AccessScope = EVERYTHING) -> Panel:
    """``q`` (a time series over the whole of ``q.scope``) for every unit of ``level`` at once."""
    result, table = _run(store, q, "auto", panel=level, access=access, rows=False)
    spans = runs(table.column("unit").to_pylist())
    # heavy: pyarrow only when a panel is computed (as in _rows)
    import pyarrow.compute as pc

    # the unit, day and label texts repeat across rows: stored once each (a school panel of 30
    # days held 10 MB, mostly these strings)
    table = table.combine_chunks()
    for name in ("unit", "key", "label"):
        table = table.set_column(
            table.schema.get_field_index(name), name, pc.dictionary_encode(table.column(name))
        )
    return Panel(frame=result, table=table, spans=spans)


def _run(
    store: Store,
    q: KpiQuery,
    source: str,
    panel: str | None = None,
    access: AccessScope = EVERYTHING,
    rows: bool = True,
) -> tuple[KpiResult, Any]:
    """Run ``q``'s SQL: its answer (without rows unless ``rows``) and the Arrow table the rows are
    read from."""
    kpi = get_kpi(q.kpi)
    if q.by not in BY:
        raise QueryError("by", f"unknown grouping {q.by!r}; one of {', '.join(BY)}")
    if source not in SOURCES:
        raise QueryError("source", f"one of {', '.join(SOURCES)}")
    catalog = catalog_for(store, q.snapshot)
    version = q.snapshot if q.snapshot is not None else store.data_version()
    ready = "connectivity" in kpi.datasets and rollup_ready(store, catalog, version)
    chosen = choose_source(kpi, ready, source)
    latest = None if q.date_to is not None else latest_date(store, kpi, catalog, version, ready)
    date_from, date_to = period(kpi, q, latest)
    scope = resolved_scope(store, q.scope, q.hierarchy_date, q.snapshot, version)
    restricted = access.restricted
    # the small tables from this process's in-memory copies at this version (ioc.metrics.hot)
    copies = hot.sources(store, table_versions.kpi_tables(kpi), version) if q.snapshot is None else {}
    sql = plan_sql(kpi, q.by, scope, catalog, chosen, access=restricted, tables=copies, panel=panel)
    f = kpi.formula
    values: dict[str, Any] = {
        "hierarchy_date": q.hierarchy_date or dimensions.FAR_FUTURE,
        "date_from": date_from,
        "date_to": date_to,
        "threshold": rollups.threshold(),
        "school_days": f.get("school_days"),
        "below": f.get("below"),
        "minutes": f.get("minutes"),
        "coverage_days": f.get("coverage_days"),
        **dict(scope.items()),
    }
    if restricted:
        values.update(access.sql_params())
    try:
        table = store.arrow(sql, parameters(sql, values))
    except duckdb.CatalogException:
        if not copies:
            raise
        # a hot copy dropped under a query that outlived two refreshes: the lake still answers
        sql = plan_sql(kpi, q.by, scope, catalog, chosen, access=restricted, panel=panel)
        table = store.arrow(sql, parameters(sql, values))
    result = KpiResult(
        kpi=kpi.id,
        unit=kpi.unit,
        date_from=date_from,
        date_to=date_to,
        by=q.by,
        rows=_rows(kpi, table) if rows else (),
        data_version=version,
    )
    return result, table


__all__ = [
    "Panel",
    "compute",
    "compute_panel",
    "panel_ready",
    "plan_sql",
    "catalog_for",
    "period",
    "TIME_BY",
    "settings",
]
