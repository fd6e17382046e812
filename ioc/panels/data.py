"""How panels and pages ask the metrics layer (cached) for answers; no SQL here."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from ioc.metrics.query import KpiQuery, KpiResult, Scope

CITY = Scope()  # no filter: the whole city

if TYPE_CHECKING:
    from ioc.metrics.summary import KpiSummary
    from ioc.store import Store


def result(
    store: Store,
    kpi: str,
    by: str = "all",
    *,
    scope: Scope = CITY,
    date_from: date | None = None,
    date_to: date | None = None,
    snapshot: int | None = None,
) -> KpiResult:
    from ioc.metrics.cache import cached_compute

    q = KpiQuery(kpi=kpi, by=by, date_from=date_from, date_to=date_to, scope=scope, snapshot=snapshot)
    return cached_compute(store, q)


def summary(
    store: Store,
    kpi: str,
    *,
    scope: Scope = CITY,
    date_to: date | None = None,
    snapshot: int | None = None,
    series_days: int = 30,
) -> KpiSummary:
    from ioc.metrics.cache import cached_summarize

    return cached_summarize(
        store, kpi, scope=scope, date_to=date_to, snapshot=snapshot, series_days=series_days
    )
