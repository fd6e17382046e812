"""A KPI at a glance for tiles and pages: current value, previous period, delta, target, trend."""

from __future__ import annotations

# ruff: noqa: S608 -- SQL text here holds only identifiers from the registry/code; values are bound
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from ioc.metrics import engine
from ioc.metrics.query import KpiQuery, KpiResult, KpiRow, Scope
from ioc.metrics.registry import Kpi, get_kpi
from ioc.store import quote_ident

if TYPE_CHECKING:
    from ioc.store import Store


@dataclass(frozen=True)
class KpiSummary:
    kpi: Kpi
    current: KpiRow
    previous: (
        KpiRow | None
    )  # the previous period of the same length (for a single school day: the previous school day)
    date_from: date | None
    date_to: date | None
    delta: float | None  # current.value - previous.value
    target: float | None
    status: str
    as_of: datetime | None
    series: tuple[tuple[date, float | None], ...]  # one value per day, for sparklines and trends
    data_version: int = 0


def previous_period(
    store: Store, kpi: Kpi, date_from: date, date_to: date, scope: Scope, snapshot: int | None
) -> tuple[date, date]:
    """The period of the same length immediately before [date_from, date_to]; a single school day
    of a daily KPI: the previous school day."""
    length = (date_to - date_from).days + 1
    if length == 1 and kpi.formula.kind in ("row_ratio", "reporting"):
        # a daily attendance KPI compares with the previous school day, not with a Sunday
        catalog = engine.catalog_for(store, snapshot)
        table = kpi.formula.get("table")
        column = kpi.formula.get("date_column")
        version = snapshot if snapshot is not None else store.data_version()
        before = engine.memo(store).get(
            ("school day before", catalog, version, table, column, date_from),
            lambda: store.execute(
                f"SELECT max({quote_ident(column)}) FROM {catalog}.{quote_ident(table)} WHERE {quote_ident(column)} < $d",
                {"d": date_from},
            ).scalar(),
        )
        if before is not None:
            return before, before
    return date_from - timedelta(days=length), date_from - timedelta(days=1)


def summarize(
    store: Store,
    kpi_id: str,
    scope: Scope = Scope(),  # noqa: B008 -- frozen, so a shared default is safe
    date_to: date | None = None,
    snapshot: int | None = None,
    series_days: int = 30,
    hierarchy_date: date | None = None,
    compute: Callable[[KpiQuery], KpiResult] | None = None,
) -> KpiSummary:
    """``kpi_id`` in ``scope``: its latest period, the period before it and a daily series.

    ``compute`` answers each of the three queries (default: engine.compute, uncached; the cache
    passes its own, so they are shared with other pages and cut from city-wide answers).
    """
    kpi = get_kpi(kpi_id)
    if compute is None:
        compute = functools.partial(engine.compute, store)
    current = compute(
        KpiQuery(kpi_id, "all", None, date_to, scope, hierarchy_date=hierarchy_date, snapshot=snapshot)
    )
    row = current.rows[0]
    previous_row: KpiRow | None = None
    series: tuple[tuple[date, float | None], ...] = ()
    if current.date_from is not None and current.date_to is not None:
        p_from, p_to = previous_period(store, kpi, current.date_from, current.date_to, scope, snapshot)
        previous = compute(
            KpiQuery(kpi_id, "all", p_from, p_to, scope, hierarchy_date=hierarchy_date, snapshot=snapshot),
        )
        previous_row = previous.rows[0]
        if series_days > 0:
            trend = compute(
                KpiQuery(
                    kpi_id,
                    "date",
                    current.date_to - timedelta(days=series_days - 1),
                    current.date_to,
                    scope,
                    hierarchy_date=hierarchy_date,
                    snapshot=snapshot,
                ),
            )
            # A day on which no school of the scope reported is a gap in the line, not a 0 (for
            # coverage "no probe" counts as not covered, which would draw a false collapse).
            series = tuple(
                (date.fromisoformat(r.key), r.value if r.schools_reporting else None) for r in trend.rows
            )
    delta = (
        row.value - previous_row.value
        if previous_row is not None
        and previous_row.schools_reporting
        and row.value is not None
        and previous_row.value is not None
        else None
    )
    return KpiSummary(
        kpi=kpi,
        current=row,
        previous=previous_row,
        date_from=current.date_from,
        date_to=current.date_to,
        delta=delta,
        target=kpi.target,
        status=row.status,
        as_of=row.as_of,
        series=series,
        data_version=current.data_version,
    )
