"""What a KPI question is (:class:`KpiQuery`) and what its answer looks like (:class:`KpiResult`).

:func:`compute` answers a query uncached: it resolves the scope and the period, generates the
KPI's SQL from its registry declaration (ioc/metrics/formulas.py) and runs it inside DuckDB with
bound parameters. Cached answers: ioc/metrics/cache.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ioc.metrics.errors import QueryError

if TYPE_CHECKING:
    pass

BY = ("all", "district", "ward", "school", "level", "ownership", "date", "week", "month")
TIME_BY = ("date", "week", "month")
FILTERS = ("district", "ward", "level", "ownership", "school")

__all__ = ["BY", "FILTERS", "TIME_BY", "KpiQuery", "KpiResult", "KpiRow", "QueryError", "Scope"]


@dataclass(frozen=True)
class Scope:
    """Filters choosing the schools; each takes a code or a name (resolved by dimensions.resolve_scope)."""

    district: str | None = None
    ward: str | None = None
    level: str | None = None
    ownership: str | None = None
    school: str | None = None

    def items(self) -> tuple[tuple[str, str], ...]:
        return tuple((name, value) for name in FILTERS if (value := getattr(self, name)) is not None)

    def key(self) -> str:
        return "&".join(f"{k}={v}" for k, v in self.items()) or "city"


@dataclass(frozen=True)
class KpiQuery:
    kpi: str
    by: str = "all"
    date_from: date | None = None
    date_to: date | None = None
    scope: Scope = field(default_factory=Scope)
    hierarchy_date: date | None = None
    snapshot: int | None = None  # store data version for "as it was at 9:00" (time travel)


@dataclass(frozen=True)
class KpiRow:
    key: str
    label: str
    value: float | None
    numerator: float | None
    denominator: float | None
    schools_reporting: int
    as_of: datetime | None
    status: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "schools_reporting": self.schools_reporting,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "status": self.status,
        }


@dataclass(frozen=True)
class KpiResult:
    kpi: str
    unit: str
    date_from: date | None
    date_to: date | None
    by: str
    rows: tuple[KpiRow, ...]
    data_version: int

    def to_json(self) -> dict[str, Any]:
        """SPEC section 4's shape (plus as_of, status and data_version)."""
        return {
            "kpi": self.kpi,
            "unit": self.unit,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "by": self.by,
            "rows": [row.to_json() for row in self.rows],
            "data_version": self.data_version,
        }
